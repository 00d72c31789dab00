"""Loading what a run names: its plugins found, its configuration resolved (the
optimizer's full arguments, the model options that differ from their defaults), and a
dataset read as `bench train` would read it."""

import dataclasses

from bench import plugins
from bench.data import sources
from bench.data.datasets import load_data
from bench.model.building import resolve_model_args
from bench.run import optimizers


def load_named_data(dataset_name, report, **options):
    """(spec, dataset, {split: Split}) of a dataset read as `bench train` would with `options`
    (image_size, channels, on_bad_file, data_dir: the training options of those names), checked first."""
    from bench.run.config import TrainConfig
    from bench.run.options import default_data_dir

    config = TrainConfig(model="-", dataset=dataset_name, **{"data_dir": default_data_dir(), **options})
    config.check()
    spec = sources.find_dataset(dataset_name)
    dataset, held = load_data(spec, config.data_dir, report, **data_options(config))
    return spec, dataset, held


def data_options(config):
    """load_data's keywords from a TrainConfig: its image size, channels, bad-file policy and classes."""
    return {"image_size": config.image_hw(), "channels": config.channels or None, "on_bad_file": config.on_bad_file,
            "max_image_pixels": config.max_image_pixels,
            "classes": config.class_subset()}


def find_plugins(model, dataset):
    """The PluginSpecs of a model and a dataset name (both checked before anything loads)."""
    return plugins.find("model", model), sources.find_dataset(dataset)


def resolve_config(config):
    """(a new TrainConfig with the optimizer's Keras name and full arguments, the
    plugins' own names and only the model options that differ from their defaults,
    the model's PluginSpec, the dataset's PluginSpec): what names the run folder."""
    optimizer, optimizer_args = optimizers.resolve(config.optimizer, config.optimizer_args)
    model_spec, dataset_spec = find_plugins(config.model, config.dataset)
    resolved = dataclasses.replace(config, optimizer=optimizer, optimizer_args=optimizer_args,
                                   model=model_spec.name, dataset=dataset_spec.name,
                                   model_args=resolve_model_args(model_spec, config.model_args))
    return resolved, model_spec, dataset_spec
