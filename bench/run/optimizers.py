"""Keras optimizers by name, DTB's TensorFlow 1 names and arguments included."""

import difflib
import inspect
import math

import keras

from bench.errors import BenchUsageError

# TensorFlow 1's optimizer classes, as DTB's commands name them.
DTB_NAMES = {
    "adamoptimizer": "Adam",
    "momentumoptimizer": "SGD",
    "gradientdescentoptimizer": "SGD",
    "rmspropoptimizer": "RMSprop",
    "adagradoptimizer": "Adagrad",
    "adadeltaoptimizer": "Adadelta",
    "ftrloptimizer": "Ftrl",
}
# TensorFlow 1's defaults where Keras' differ: a TF 1 name brings its own (AdamOptimizer's
# epsilon is 1e-8, Keras Adam's 1e-7), so DTB's and the tutorials' commands train as they did.
TF1_DEFAULTS = {
    "adamoptimizer": {"epsilon": 1e-8},
    "rmspropoptimizer": {"epsilon": 1e-10},
    "adadeltaoptimizer": {"epsilon": 1e-8},
}
# TensorFlow 1's argument names that Keras spells differently.
DTB_ARGS = {"use_nesterov": "nesterov", "beta1": "beta_1", "beta2": "beta_2", "lr": "learning_rate"}
# Keras arguments a run may not set: bench owns naming and loss scaling.
RESERVED_ARGS = {"name", "loss_scale_factor", "kwargs"}
MAX_LEARNING_RATE = 1e3  # beyond it every step diverges: a typo, not a setting


def keras_optimizers():
    """{name: class} of every optimizer keras.optimizers offers."""
    found = {}
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (isinstance(value, type) and issubclass(value, keras.optimizers.Optimizer)
                and value is not keras.optimizers.Optimizer and "LossScale" not in name):
            found[name] = value
    return found


def resolve(name, args):
    """Canonical Keras name and full arguments (learning_rate, and a TF 1 name's own defaults,
    filled in) for an optimizer.

    Raises:
        BenchUsageError: unknown optimizer or argument.
    """
    known = keras_optimizers()
    canonical = DTB_NAMES.get(name.lower()) or next((k for k in known if k.lower() == name.lower()), None)
    if canonical is None:
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BenchUsageError(f"unknown optimizer '{name}'; {hint}choose one of {', '.join(sorted(known))}")
    parameters = inspect.signature(known[canonical].__init__).parameters
    allowed = [p for p in parameters if p != "self" and p not in RESERVED_ARGS]
    resolved = dict(TF1_DEFAULTS.get(name.lower(), {}))
    for key, value in args.items():
        key = DTB_ARGS.get(key, key)
        if key not in allowed:
            raise BenchUsageError(
                f"optimizer {canonical} has no argument '{key}'; its arguments are {', '.join(allowed)}"
            )
        _check_argument(canonical, key, value, parameters[key].default)
        resolved[key] = value
    if "learning_rate" not in resolved:
        resolved["learning_rate"] = parameters["learning_rate"].default
    rate = resolved["learning_rate"]
    if not _is_number(rate) or not 0 < rate <= MAX_LEARNING_RATE:
        raise BenchUsageError(f"learning_rate must be a number in (0, {MAX_LEARNING_RATE:g}], got {rate!r}")
    resolved["learning_rate"] = float(rate)
    return canonical, resolved


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_argument(optimizer, key, value, default):
    """BenchUsageError when an argument's value is not of the kind its Keras default is."""
    if isinstance(default, bool):
        expected, ok = "true or false", isinstance(value, bool)
    elif isinstance(default, (int, float)) or default is None:
        expected, ok = "a finite number", _is_number(value) or (default is None and value is None)
    else:
        return
    if not ok:
        raise BenchUsageError(f"optimizer {optimizer}'s {key} must be {expected}, got {value!r}")


def build(name, args, steps_per_epoch, lr_decay=False, lr_decay_epochs=25, lr_decay_factor=0.1):
    """A Keras optimizer; with lr_decay, DTB's staircase exponential decay every N epochs.

    Raises:
        BenchUsageError: Keras refused the arguments' values.
    """
    args = dict(args)
    if lr_decay:
        args["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(
            args["learning_rate"], decay_steps=steps_per_epoch * lr_decay_epochs,
            decay_rate=lr_decay_factor, staircase=True)
    try:
        return keras_optimizers()[name](**args)
    except (TypeError, ValueError) as error:
        raise BenchUsageError(f"optimizer {name} refused its arguments {args}: {error}") from error
