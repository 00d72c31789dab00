"""`bench inspect`: a model's layers, output shapes and parameter counts, without training."""

import math

import click

from bench import tf_runtime
from bench.commands.flags import JsonObject, verbose_option


@click.command("inspect")
@click.option("--model", "-m", required=True, help="Model plugin name (bench list models).")
@click.option("--dataset", "-d", required=True, help="Dataset whose image shape to use (nothing is downloaded).")
@click.option("--model-args", "--model_args", type=JsonObject(), default="{}", help="The model's options as JSON.")
@verbose_option
def inspect_command(model, dataset, model_args):
    """A model's layers, output shapes and parameter counts, without training."""
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    inspect_model(model, dataset, model_args, Reporter())


def inspect_model(model_name, dataset_name, model_args, report):
    """Print the table of layers and the totals; returns the total parameter count."""
    import tensorflow as tf
    from rich.table import Table

    from bench import loading
    from bench.architecture import leaf_layers, record_output_shapes

    model_spec, dataset_spec = loading.find_plugins(model_name, dataset_name)
    image_shape = tuple(dataset_spec.load().image_shape)
    model_args = loading.resolve_model_args(model_spec, model_args)
    model = loading.build_model(model_spec, image_shape, model_args=model_args)
    input_shape = loading.model_input_shape(type(model), image_shape)
    shapes = record_output_shapes(model, tf.zeros((1,) + input_shape))
    table = Table()
    for column in ("layer", "type", "output shape", "kernel", "bias", "params"):
        table.add_column(column, justify="right" if column in ("kernel", "bias", "params") else "left")
    for layer in leaf_layers(model):
        shape = shapes.get(id(layer))
        table.add_row(layer.path, type(layer).__name__, str(shape) if shape else "not called",
                      f"{_count(layer.weights, 'kernel'):,}", f"{_count(layer.weights, 'bias'):,}",
                      f"{_count(layer.weights):,}")
    options = ", ".join(f"{k}={v!r}" for k, v in model_args.items()) or "default options"
    resized = f", resized to {input_shape}" if input_shape != image_shape else ""
    report.info(f"{model_spec.name} ({options}) on {dataset_spec.name} images {image_shape}{resized}")
    report.table(table)
    trainable, total = _count(model.trainable_weights), _count(model.weights)
    report.info(f"total parameters: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})")
    return total


def _count(variables, kind=None):
    return sum(math.prod(v.shape) for v in variables if kind is None or v.name == kind)
