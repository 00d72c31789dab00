"""Looking inside a model: its leaf layers, what they output, and `bench inspect`."""

import math

import tensorflow as tf
from rich.table import Table

from bench import experiment


def leaf_layers(model):
    """The model's layers that hold no sub-layers, in creation order."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if not list(layer._flatten_layers(include_self=False, recursive=False))]


def first_kernel(model):
    """The model's first trainable kernel (its first layer's filters), or None."""
    return next((v for v in model.trainable_variables if v.name == "kernel"), None)


def record_layers(model, images, train_phase=False):
    """{id(layer): (layer, first input, first output)} of one eager pass of the model.

    Each leaf layer's `call` is wrapped for the duration of the call (Keras
    layers have no forward hooks); a layer called twice keeps its first call.
    """
    seen = {}
    layers = leaf_layers(model)
    for layer in layers:
        original = layer.call

        def recording(*args, _layer=layer, _original=original, **kwargs):
            output = _original(*args, **kwargs)
            seen.setdefault(id(_layer), (_layer, args[0] if args else None, tf.nest.flatten(output)[0]))
            return output

        layer.call = recording
    try:
        model.forward(images, train_phase=train_phase)
    finally:
        for layer in layers:
            del layer.call
    return seen


def record_output_shapes(model, images):
    """{id(layer): output shape without the batch dimension} of one `get` call."""
    return {key: tuple(output.shape[1:]) for key, (_, _, output) in record_layers(model, images).items()}


def _count(variables, kind=None):
    return sum(math.prod(v.shape) for v in variables if kind is None or v.name == kind)


def inspect_model(model_name, dataset_name, model_args, report):
    """Print the table of layers and the totals; returns the total parameter count."""
    model_spec, dataset_spec = experiment.find_plugins(model_name, dataset_name)
    image_shape = tuple(dataset_spec.load().image_shape)
    model_args = experiment.resolve_model_args(model_spec, model_args)
    model = experiment.build_model(model_spec, image_shape, model_args=model_args)
    input_shape = experiment.model_input_shape(type(model), image_shape)
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
