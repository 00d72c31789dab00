"""Looking inside a model: its leaf layers and what they output (for `bench inspect` and the summaries)."""


import tensorflow as tf


def leaf_layers(model):
    """The model's layers that hold no sub-layers, in creation order."""
    return [layer for layer in model._flatten_layers(include_self=False, recursive=True)
            if not list(layer._flatten_layers(include_self=False, recursive=False))]


def layer_name(layer):
    """Where a layer is held in the model (its path), or for a layer without weights, which
    Keras gives no path (pooling, reshaping), its own name."""
    return layer.path or layer.name


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
