"""Building a model plugin: its class checked, its options found (and the run's
resolved against their defaults), the model made, built and checked on a small batch."""

import difflib
import inspect

import tensorflow as tf

from bench.errors import BenchError, BenchUsageError, PluginError, describe_exception
from bench.model.autoencoder import Autoencoder


def model_class_of(model_spec):
    """The plugin's class, checked to be an Autoencoder."""
    model_class = model_spec.load()
    if not (isinstance(model_class, type) and issubclass(model_class, Autoencoder)):
        raise PluginError(f"model {model_spec.name} ({model_spec.where()}) is not a subclass of bench.Autoencoder")
    return model_class


def model_options(model_class):
    """{option: default} of a model: its __init__ keywords, and its bases' while it
    passes **kwargs on (up to Autoencoder's own `loss`)."""
    options = {}
    for cls in model_class.__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters.values()
        for parameter in parameters:
            if parameter.name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                options.setdefault(parameter.name, parameter.default)
        if cls is Autoencoder or not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    options.pop("name", None)
    return options


def resolve_model_args(model_spec, args):
    """The model options of a run: unknown names refused, values equal to the
    default dropped (so one architecture always gets one run name)."""
    options = model_options(model_class_of(model_spec))
    resolved = {}
    for key, value in args.items():
        if key not in options:
            close = difflib.get_close_matches(key, list(options), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            known = f"its options are {', '.join(options)}" if options else "it takes no options"
            raise BenchUsageError(f"model {model_spec.name} has no option '{key}'; {hint}{known}")
        default = options[key]
        if value != default and not (isinstance(default, tuple) and list(default) == value):
            resolved[key] = value
    return resolved


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
