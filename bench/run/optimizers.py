"""Keras optimizers by name, DTB's TensorFlow 1 names and arguments included.

Resolving a name and its arguments needs only the optimizers' signatures, which
are read from Keras' source with `ast` (so a sweep's parent plans its runs
without importing TensorFlow); when Keras is imported already, or its source is
not laid out as this reader expects, they come from the classes themselves.
Building an optimizer imports Keras.
"""

import ast
import difflib
import functools
import importlib.util
import inspect
import math
import sys
from pathlib import Path

from bench import tf_runtime
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


NOT_LITERAL = object()
"""The default of an argument whose default the source does not spell as a literal."""


def keras_optimizers():
    """{name: class} of every optimizer keras.optimizers offers that takes a learning rate."""
    tf_runtime.import_tensorflow()
    import keras

    found = {}
    for name in dir(keras.optimizers):
        value = getattr(keras.optimizers, name)
        if (isinstance(value, type) and issubclass(value, keras.optimizers.Optimizer)
                and value is not keras.optimizers.Optimizer and "LossScale" not in name
                and "learning_rate" in inspect.signature(value.__init__).parameters):
            found[name] = value
    return found


@functools.cache
def signatures(imported=False):
    """{optimizer name: {argument: default}} of every Keras optimizer with a learning rate
    (NOT_LITERAL: a default the source does not spell plainly); `imported`: from the
    classes, Keras imported."""
    if "keras" not in sys.modules and not imported:
        try:
            return _read_keras_source()
        except _Unreadable:
            pass
    return {name: {key: parameter.default for key, parameter in inspect.signature(cls.__init__).parameters.items()
                   if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD) and key != "self"}
            for name, cls in keras_optimizers().items()}


class _Unreadable(Exception):
    """Keras' source is not laid out as `_read_keras_source` expects."""


def _read_keras_source():
    """signatures() from the source of keras.optimizers (its generated `from keras.src.optimizers.X
    import Name` lines, then each class's __init__), without importing it."""
    spec = importlib.util.find_spec("keras")
    if spec is None or not spec.origin:
        raise _Unreadable("keras is not installed")
    root = Path(spec.origin).parent
    public = next((path for path in (root / "optimizers" / "__init__.py", root / "api" / "optimizers" / "__init__.py")
                   if path.is_file()), None)
    if public is None:
        raise _Unreadable("no keras/optimizers/__init__.py")
    found = {}
    for node in _parsed(public).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("keras.src.optimizers."):
            module = root.joinpath(*node.module.split(".")[1:]).with_suffix(".py")
            for alias in node.names:
                arguments = _init_arguments(module, alias.name)
                if "learning_rate" in arguments and "LossScale" not in alias.name:
                    found[alias.asname or alias.name] = arguments
    if "Adam" not in found or not isinstance(found["Adam"]["learning_rate"], float):
        raise _Unreadable("no Adam with a learning rate")
    return found


def _parsed(path):
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as error:
        raise _Unreadable(str(path)) from error


def _init_arguments(module, class_name):
    """{argument: default} of a class's own __init__ ({} when the module has no such class, or
    it inherits its __init__: `resolve` asks the imported classes for a name not read here)."""
    tree = _parsed(module)
    node = next((item for item in tree.body if isinstance(item, ast.ClassDef) and item.name == class_name), None)
    init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"),
                None) if node else None
    if init is None:
        return {}
    arguments = init.args
    positional = arguments.args[1:]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(arguments.kwonlyargs, arguments.kw_defaults))
    return {argument.arg: _literal(default) for argument, default in pairs}


def _literal(node):
    if node is None:
        return inspect.Parameter.empty
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return NOT_LITERAL


def resolve(name, args):
    """Canonical Keras name and full arguments (learning_rate, and a TF 1 name's own defaults,
    filled in) for an optimizer.

    Raises:
        BenchUsageError: unknown optimizer or argument.
    """
    known = signatures()
    canonical = DTB_NAMES.get(name.lower()) or next((k for k in known if k.lower() == name.lower()), None)
    if canonical not in known:  # not read from the source: the classes themselves say
        known = signatures(imported=True)
        canonical = DTB_NAMES.get(name.lower()) or next((k for k in known if k.lower() == name.lower()), None)
    if canonical is None:
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BenchUsageError(f"unknown optimizer '{name}'; {hint}choose one of {', '.join(sorted(known))}")
    defaults = known[canonical]
    allowed = [key for key in defaults if key not in RESERVED_ARGS]
    resolved = dict(TF1_DEFAULTS.get(name.lower(), {}))
    for key, value in args.items():
        key = DTB_ARGS.get(key, key)
        if key not in allowed:
            raise BenchUsageError(
                f"optimizer {canonical} has no argument '{key}'; its arguments are {', '.join(allowed)}"
            )
        _check_argument(canonical, key, value, defaults[key])
        resolved[key] = value
    if "learning_rate" not in resolved:
        resolved["learning_rate"] = defaults["learning_rate"]
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
    import keras

    args = dict(args)
    if lr_decay:
        args["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(
            args["learning_rate"], decay_steps=steps_per_epoch * lr_decay_epochs,
            decay_rate=lr_decay_factor, staircase=True)
    try:
        return keras_optimizers()[name](**args)
    except (TypeError, ValueError) as error:
        raise BenchUsageError(f"optimizer {name} refused its arguments {args}: {error}") from error
