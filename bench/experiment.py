"""Turning names into a checked dataset and model (shared by train and eval)."""

import contextlib
from pathlib import Path

import tensorflow as tf

from bench import plugins
from bench.autoencoder import Autoencoder
from bench.errors import BenchError, BenchUsageError, PluginError, describe_exception
from bench.input import SPLITS, Input, check_split


def load_data(dataset_spec, data_dir, report):
    """Load every split of a dataset plugin.

    Returns:
        (dataset, {split: (images, labels)}).
    """
    dataset_class = dataset_spec.load()
    if not (isinstance(dataset_class, type) and issubclass(dataset_class, Input)):
        raise PluginError(f"dataset {dataset_spec.name} ({dataset_spec.where()}) is not a subclass of bench.Input")
    try:
        dataset = dataset_class(Path(data_dir), report)
        splits = {}
        for split in SPLITS:
            images, labels = dataset.load(split)
            check_split(dataset, split, images, labels)
            splits[split] = (images, labels)
    except BenchError:
        raise
    except Exception as error:  # a plugin may raise anything
        raise PluginError(
            f"dataset plugin {dataset_spec.name} ({dataset_spec.where()}) raised {describe_exception(error)}"
        ) from error
    return dataset, splits


def build_model(model_spec, image_shape, l2_penalty=0.0):
    """Create a model plugin, build it, and check it on a small batch.

    Raises:
        PluginError: the plugin raised, or is not an Autoencoder.
        BenchError: its reconstruction's shape differs from its input's.
    """
    model_class = model_spec.load()
    if not (isinstance(model_class, type) and issubclass(model_class, Autoencoder)):
        raise PluginError(f"model {model_spec.name} ({model_spec.where()}) is not a subclass of bench.Autoencoder")
    where = f"model plugin {model_spec.name} ({model_spec.where()})"
    probe = tf.zeros((2,) + tuple(image_shape), tf.float32)
    try:
        model = model_class()
        if type(model).build is not Autoencoder.build:
            model.build((None,) + tuple(image_shape))
        _, reconstruction = model.get(probe, train_phase=False, l2_penalty=l2_penalty)
        model.pop_penalties()
        if tuple(reconstruction.shape) == tuple(probe.shape):
            float(model.loss(reconstruction, probe))
    except Exception as error:  # a plugin may raise anything
        raise PluginError(f"{where} raised {describe_exception(error)}") from error
    if tuple(reconstruction.shape) != tuple(probe.shape):
        raise BenchError(
            f"{where} returns reconstructions of shape {tuple(reconstruction.shape)[1:]} for images of "
            f"shape {tuple(image_shape)}; get() must return a reconstruction shaped like its input"
        )
    return model


@contextlib.contextmanager
def device_scope(device):
    """Place everything on `device` ("/cpu:0", "/gpu:1", ...), or let TensorFlow choose."""
    if not device:
        yield
        return
    known = [d.name for d in tf.config.list_logical_devices()]
    wanted = device.lower().replace("/device:", "/").lstrip("/")
    matches = [name for name in known if name.lower().replace("/device:", "/").lstrip("/").endswith(wanted)]
    if not matches:
        raise BenchUsageError(f"unknown device '{device}'; this machine has {', '.join(known)}")
    with tf.device(matches[0]):
        yield


def find_plugins(model, dataset):
    """The PluginSpecs of a model and a dataset name (both checked before anything loads)."""
    return plugins.find("model", model), plugins.find("dataset", dataset)
