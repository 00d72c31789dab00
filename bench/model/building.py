"""Building a model plugin: its class checked, the model made with its options, built
and checked on a small batch (its options: bench.model.options)."""


import tensorflow as tf

from bench.errors import BenchError, PluginError, describe_exception
from bench.model.autoencoder import Autoencoder


def model_class_of(model_spec):
    """The plugin's class, checked to be an Autoencoder."""
    model_class = model_spec.load()
    if not (isinstance(model_class, type) and issubclass(model_class, Autoencoder)):
        raise PluginError(f"model {model_spec.name} ({model_spec.where()}) is not a subclass of bench.Autoencoder")
    return model_class


def model_input_shape(model_class, image_shape):
    """The shape the model sees: the images', resized to its input_size if it has one."""
    if model_class.input_size is None:
        return tuple(image_shape)
    return tuple(model_class.input_size) + (image_shape[-1],)


def build_model(model_spec, image_shape, l2_penalty=0.0, model_args=None):
    """Create a model plugin with its options, build it, and check it on a small batch.

    Raises:
        PluginError: the plugin raised, or is not an Autoencoder.
        BenchError: its reconstruction's shape differs from its input's.
    """
    model_class = model_class_of(model_spec)
    where = f"model plugin {model_spec.name} ({model_spec.where()})"
    shape = model_input_shape(model_class, image_shape)
    probe = tf.zeros((2,) + shape, tf.float32)  # mid-grey on [-1, 1]; a [0, 1] model gets 0.5 below
    try:
        model = model_class(**(model_args or {}))
        if type(model).build is not Autoencoder.build:
            model.build((None,) + shape)
        probe = model.own_pixels(probe)
        reconstruction = model.forward(probe, l2_penalty=l2_penalty).reconstruction
        if tuple(reconstruction.shape) == tuple(probe.shape):
            float(model.forward(probe, l2_penalty=l2_penalty, targets=probe).total())
    except (Exception, SystemExit) as error:  # a plugin may raise anything
        raise PluginError(f"{where} raised {describe_exception(error)}") from error
    if tuple(reconstruction.shape) != tuple(probe.shape):
        raise BenchError(
            f"{where} returns reconstructions of shape {tuple(reconstruction.shape)[1:]} for images of "
            f"shape {shape}; get() must return a reconstruction shaped like its input (with --image-size, "
            "this model may not work at that size: choose another)"
        )
    return model
