"""`bench inspect`: a model's layers, output shapes and parameter counts, or a dataset's
splits, shape, classes and sample images, without training."""

import json
import math

import click

from bench import tf_runtime
from bench.commands.flags import verbose_option
from bench.run.option_parsing import JsonObject, data_options


@click.command("inspect")
@click.option("--model", "-m", default=None, help="Model plugin name (bench list models); without it, the dataset.")
@click.option("--dataset", "-d", default=None, help="Dataset whose image shape to use (nothing is downloaded "
              "for a model), or to show. A model without it: its options and their defaults.")
@click.option("--model-args", "--model_args", type=JsonObject(), default="{}", help="The model's options as JSON.")
@data_options
@click.option("--samples", type=click.Path(dir_okay=False), default=None,
              help="Where to write the dataset's sample grid [<dataset>_samples.png].")
@verbose_option
def inspect_command(model, dataset, model_args, samples, **data):
    """A model's layers, output shapes and parameter counts; or, without --model, a
    dataset's splits, sizes, shape and classes, and a PNG of sample images; or, without
    --dataset, a model's options and their defaults.

    \b
    Examples:
      bench inspect --model ConvAE
      bench inspect --model ConvAE --dataset Cifar10
      bench inspect --dataset folder:~/pictures/faces --image-size 64
    """
    from bench.console import Reporter
    from bench.errors import BenchUsageError

    if model is None and dataset is None:
        raise BenchUsageError("bench inspect needs --model, --dataset or both (bench list shows them)")
    if dataset is None:
        inspect_options(model, Reporter())
        return
    tf_runtime.import_tensorflow()
    if model is None:
        inspect_dataset(dataset, samples, Reporter(), **data)
    else:
        inspect_model(model, dataset, model_args, Reporter())


SAMPLES = 64


def inspect_options(model_name, report):
    """A model's description and its options with their defaults, read from its source
    (nothing is built, TensorFlow is not imported); returns {option: default}."""
    from bench import plugins
    from bench.model import options

    spec = plugins.find("model", model_name)
    defaults, choices = options.model_options_and_choices(spec)
    report.info(f"{spec.name} ({spec.where()}): {spec.description()}")
    report.info("options (--model-args, as JSON, defaults shown): " + options_text(defaults, choices))
    report.info(f"its layers and parameter counts on a dataset's images: bench inspect --model {spec.name} "
                "--dataset DATASET")
    return defaults


def options_text(defaults, choices):
    """`downsample="pool" (one of "pool", "stride"), filters=[16, 8, 8]`: each option's default as
    JSON (as --model-args takes it: lists, not tuples), and its allowed values when it declares them."""
    def one(key, value):
        allowed = f" (one of {', '.join(json.dumps(c) for c in choices[key])})" if key in choices else ""
        return f"{key}={json.dumps(value)}{allowed}"

    return ", ".join(one(key, value) for key, value in defaults.items()) or "none"


def inspect_dataset(dataset_name, samples, report, **data):
    """Load a dataset as `bench train` would (`data`: its image_size, channels, on_bad_file,
    data_dir); show its splits and write a grid of its first training images; returns {split: count}."""
    from rich.table import Table

    from bench import pictures
    from bench.data import sources
    from bench.run import loading

    spec, dataset, held = loading.load_named_data(dataset_name, report, **data)
    table = Table()
    for column in ("split", "images", "held"):
        table.add_column(column, justify="right" if column == "images" else "left")
    for split, images in held.items():
        table.add_row(split, f"{len(images):,}", images.held)
    report.info(f"{spec.name} ({spec.where()}): images of {'x'.join(map(str, dataset.image_shape))}")
    report.table(table)
    names = ", ".join(dataset.class_names) if dataset.class_names else ""
    report.info(f"{dataset.num_classes} classes" + (f": {names}" if names else "") if dataset.num_classes
                else "unlabelled")
    images = held["train"].first(SAMPLES)[0]
    scaled = images.astype("float32") / 255.0 if images.dtype == "uint8" else (images + 1.0) / 2.0
    path = samples or f"{sources.label(spec.name)}_samples.png"
    pictures.save_filters(path, scaled, f"{spec.name}: the first {len(images)} training images")
    report.info(f"samples: {path}")
    return {split: len(images) for split, images in held.items()}


def inspect_model(model_name, dataset_name, model_args, report):
    """Print the table of layers and the totals; returns the total parameter count."""
    import tensorflow as tf
    from rich.table import Table

    from bench.model import building, options
    from bench.model.architecture import layer_name, leaf_layers, record_output_shapes
    from bench.model.autoencoder import defines
    from bench.model.view import ModelView
    from bench.run import loading, planning

    model_spec, dataset_spec = planning.find_plugins(model_name, dataset_name)
    image_shape = tuple(dataset_spec.load().image_shape)
    if not image_shape:  # an image folder knows its shape once it has looked at its files
        image_shape = tuple(loading.load_named_data(dataset_name, report)[1].image_shape)
    model_args = options.resolve_model_args(model_spec, model_args)
    model = building.build_model(model_spec, image_shape, model_args=model_args)
    input_shape = building.model_input_shape(type(model), image_shape)
    shapes = record_output_shapes(model, tf.zeros((1,) + input_shape))
    table = Table()
    for column in ("layer", "type", "output shape", "kernel", "bias", "params"):
        table.add_column(column, justify="right" if column in ("kernel", "bias", "params") else "left")
    for layer in leaf_layers(model):
        shape = shapes.get(id(layer))
        table.add_row(layer_name(layer), type(layer).__name__, str(shape) if shape else "not called",
                      f"{_count(layer.weights, 'kernel'):,}", f"{_count(layer.weights, 'bias'):,}",
                      f"{_count(layer.weights):,}")
    chosen = ", ".join(f"{k}={json.dumps(v)}" for k, v in model_args.items()) or "default options"
    resized = f", resized to {input_shape}" if input_shape != image_shape else ""
    report.info(f"{model_spec.name} ({chosen}) on {dataset_spec.name} images {image_shape}{resized}")
    report.table(table)
    trainable, total = _count(model.trainable_weights), _count(model.weights)
    report.info(f"total parameters: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})")
    code_shape = tuple(ModelView(model).outputs(tf.zeros((1,) + input_shape))["code"].shape[1:])
    can = [what for method, what in (("decode", "decode (bench interpolate, export --part decoder)"),
                                     ("prior", "a prior (bench sample)")) if defines(model, method)]
    report.info(f"code: {code_shape}, {math.prod(code_shape):,} numbers per image"
                + (f"; the model has {' and '.join(can)}" if can else "; no decode(): bench interpolate and sample "
                   "do not apply"))
    defaults, choices = options.options_of_class(type(model)), options.choices_of_class(type(model))
    report.info(f"{model_spec.name}'s options (--model-args, as JSON, defaults shown): "
                + options_text(defaults, choices))
    return total


def _count(variables, kind=None):
    return sum(math.prod(v.shape) for v in variables if kind is None or v.name == kind)
