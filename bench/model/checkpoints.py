"""What a checkpoint holds, and restoring it strictly.

Every variable of a model is saved under a path that says where it lives in
the model, whatever holds it (an attribute, a list, a dict, a nested layer,
a layer made in `build`):

    weights/encoder/0/kernel      a weight (`model.weights`, the parameters)
    rng/dropouts/3/seed_generator_state   other model state (random seeds)

`best/` holds the weights of the best model and the epoch and step it was
saved at; `checkpoints/` holds the weights, the model's other state, the
optimizer and the loop state (step, epochs done, best value and epoch).

The paths come from walking the layer tree (layer attributes by name, list
items by index, dict items by key) and are checked against Keras's own list
of the model's variables, so a variable Keras knows cannot be left out.
Restoring is strict: a checkpoint that lacks a variable of the model, holds
one the model does not have, or holds it in another shape is an error that
names the variables and the file; so is a garbled or dangling index and an
unreadable (truncated) file.
"""

import re
from pathlib import Path

import keras
import tensorflow as tf

from bench.errors import BenchError

WEIGHTS = "weights"
RNG = "rng"
INDEX_FILE = "checkpoint"
VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
RESTART_HINT = "nothing was changed; restore the file from a copy, or start the run over with --restart"
SHOWN = 6  # variables named in one error message
# What reading a damaged checkpoint raises: TensorFlow's errors (data loss, out of range),
# and from the Python side of restoring, ValueError and IndexError ("Read less bytes").
READ_ERRORS = (tf.errors.OpError, ValueError, IndexError)


class CheckpointError(BenchError):
    """A checkpoint that cannot be restored as a whole: missing, damaged or of another model."""


def _snake(name):
    """A class name in snake case, as Keras names its layers (Conv2D → conv2d)."""
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _held_in_attributes(layer):
    """{id(object): attribute path} of the layers and variables that `layer`'s
    public attributes hold, directly or in lists, tuples and dicts."""
    found = {}

    def visit(value, path):
        if isinstance(value, (keras.layers.Layer, keras.Variable)):
            found.setdefault(id(value), path)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(item, f"{path}/{index}")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}/{key}")

    for name, value in vars(layer).items():
        if not name.startswith("_"):
            visit(value, name)
    return found


def _unique(path, taken):
    candidate, number = path, 1
    while candidate in taken:
        candidate, number = f"{path}_{number}", number + 1
    return candidate


def variable_paths(model):
    """{path: variable} of every variable of `model` (weights and other state),
    named by where it is held; every variable of `model.variables` exactly once."""
    paths, seen = {}, set()

    def walk(layer, prefix):
        held = _held_in_attributes(layer)
        children = list(layer._flatten_layers(include_self=False, recursive=False))
        in_children = {id(v) for child in children for v in child.variables}
        for variable in layer.variables:
            if id(variable) in in_children or id(variable) in seen:
                continue
            seen.add(id(variable))
            paths[_unique(prefix + held.get(id(variable), variable.name), paths)] = variable
        counts = {}
        for child in children:
            name = held.get(id(child))
            if name is None:  # held somewhere private: named by its class, like Keras's weight files
                base = _snake(type(child).__name__)
                counts[base] = counts.get(base, -1) + 1
                name = base if counts[base] == 0 else f"{base}_{counts[base]}"
            walk(child, f"{prefix}{name}/")

    walk(model, "")
    expected = {id(v) for v in model.variables}
    if {id(v) for v in paths.values()} != expected:  # cannot happen while Keras tracks sub-layers as it does
        raise BenchError(f"cannot name every variable of {type(model).__name__}: Keras lists "
                         f"{len(expected)}, its layers hold {len(paths)}")
    return paths


def model_groups(model):
    """({path: weight}, {path: other state variable}) of a model, for checkpoints."""
    weight_ids = {id(w) for w in model.weights}
    weights, other = {}, {}
    for path, variable in variable_paths(model).items():
        (weights if id(variable) in weight_ids else other)[path] = variable
    return weights, other


def signature(weights):
    """{path: shape as a list} of a {path: variable} group."""
    return {path: [int(d) for d in variable.shape] for path, variable in weights.items()}


def key(group, path):
    """The name of a variable of `group` inside a TensorFlow checkpoint file."""
    return f"{group}/{path.replace('.', '..').replace('/', '.S')}{VALUE_SUFFIX}"


def _path_of(checkpoint_key, group):
    local = checkpoint_key[len(group) + 1:-len(VALUE_SUFFIX)]
    return re.sub(r"\.(.)", lambda m: "/" if m.group(1) == "S" else m.group(1), local)


def _group_in_file(shapes, group):
    prefix = f"{group}/"
    return {_path_of(name, group): shape for name, shape in shapes.items()
            if name.startswith(prefix) and name.endswith(VALUE_SUFFIX) and "/.OPTIMIZER_SLOT/" not in name}


def _listed(paths):
    names = sorted(paths)
    shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
    return shown


def _read_shapes(path):
    try:
        return tf.train.load_checkpoint(str(path)).get_variable_to_shape_map()
    except READ_ERRORS as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0]}); {RESTART_HINT}") from error


def check_group(path, group, variables):
    """Raise CheckpointError unless the checkpoint at `path` holds exactly `variables`
    ({path: variable}) in `group`, in the same shapes."""
    shapes = _read_shapes(path)
    found = _group_in_file(shapes, group)
    if not found and any(name.startswith("model/") for name in shapes):
        raise CheckpointError(
            f"{path} was written by an earlier bench, whose checkpoints left out the layers some models "
            "keep in lists or build in build(); its numbers cannot be reproduced: train the run again with --restart")
    missing = set(variables) - set(found)
    unexpected = set(found) - set(variables)
    if missing or unexpected:
        parts = ([f"lacks {len(missing)} variable(s) of the model ({_listed(missing)})"] if missing else []) + \
                ([f"holds {len(unexpected)} the model does not have ({_listed(unexpected)})"] if unexpected else [])
        raise CheckpointError(f"{path} {' and '.join(parts)}: it was saved from another version of the model; "
                              "evaluate with the model file the run was trained with (--model-file), "
                              "or train again with --restart")
    reshaped = {p: (found[p], list(v.shape)) for p, v in variables.items() if list(found[p]) != list(v.shape)}
    if reshaped:
        details = ", ".join(f"{p} {tuple(saved)} there, {tuple(now)} now" for p, (saved, now) in sorted(reshaped.items()))
        raise CheckpointError(f"{path} holds variables of other shapes than the model's: {details}; "
                              "evaluate with the model file the run was trained with (--model-file), "
                              "or train again with --restart")


def latest(folder):
    """The newest checkpoint's path prefix in `folder`, or None when the folder holds none.

    Raises:
        CheckpointError: the index file is garbled, names a checkpoint that is
            not there, or is missing beside checkpoint files.
    """
    folder = Path(folder)
    index = folder / INDEX_FILE
    if not index.exists():
        if any(folder.glob("*.index")):
            raise CheckpointError(f"{folder} holds checkpoint files but no index ({INDEX_FILE}); {RESTART_HINT}")
        return None
    try:
        state = tf.train.get_checkpoint_state(str(folder))  # None when the index does not parse
    except (ValueError, tf.errors.OpError):  # bytes that are not text (UnicodeDecodeError), an empty state
        state = None
    if state is None or not state.model_checkpoint_path:
        raise CheckpointError(f"{index} is garbled: it names no checkpoint; {RESTART_HINT}")
    path = Path(state.model_checkpoint_path)  # TensorFlow has put `folder` in front of a relative name
    if not Path(f"{path}.index").is_file():
        raise CheckpointError(f"{index} names {path.name}, which is not in {folder}; {RESTART_HINT}")
    return str(path)


def holds(path, name):
    """Whether the checkpoint at `path` holds a top-level variable `name` (e.g. "epoch_error_sum")."""
    return f"{name}{VALUE_SUFFIX}" in _read_shapes(path)


def restore(checkpoint, path, weights):
    """Restore a tf.train.Checkpoint whose `weights` group is `weights` from `path`,
    strictly: every object of `checkpoint` and every value in the file matched."""
    check_group(path, WEIGHTS, weights)
    try:
        checkpoint.restore(path).assert_consumed()
    except AssertionError as error:
        raise CheckpointError(f"{path} does not match the run's state "
                              f"({str(error).strip().splitlines()[0][:200]}); {RESTART_HINT}") from error
    except READ_ERRORS as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0]}); {RESTART_HINT}") from error


def verify(path, weights):
    """Raise CheckpointError unless the checkpoint at `path` holds exactly `weights`
    ({path: variable}) and is whole: every value in it is read, its checksum checked."""
    check_group(path, WEIGHTS, weights)
    try:
        reader = tf.train.load_checkpoint(str(path))
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except READ_ERRORS as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0]}); {RESTART_HINT}") from error


def load_weights(path, weights):
    """Assign a checkpoint's weights (checked to be exactly `weights`) to the model;
    returns {name: value} of its other scalars (epoch, step, ...)."""
    verify(path, weights)
    try:
        reader = tf.train.load_checkpoint(str(path))
        for name, variable in weights.items():
            variable.assign(reader.get_tensor(key(WEIGHTS, name)))
        return {name[:-len(VALUE_SUFFIX)]: reader.get_tensor(name).item()
                for name, shape in reader.get_variable_to_shape_map().items()
                if "/" not in name[:-len(VALUE_SUFFIX)] and name.endswith(VALUE_SUFFIX) and shape == []}
    except READ_ERRORS as error:
        raise CheckpointError(f"{path} cannot be read ({type(error).__name__}: "
                              f"{str(error).strip().splitlines()[0]}); {RESTART_HINT}") from error


def parameter_count(path):
    """The number of weights (parameters) a checkpoint holds."""
    count = 0
    for shape in _group_in_file(_read_shapes(path), WEIGHTS).values():
        size = 1
        for dimension in shape:
            size *= dimension
        count += size
    return count
