"""The space of a search (`bench search --space FILE`): what each trial draws, from what,
and the settings every trial shares, checked against `bench train`'s options before
anything is created. Neither Optuna nor TensorFlow is imported here.

A space file is a YAML mapping. A key is a `bench train` option (`l2_penalty`,
`batch-size`), a key inside a JSON option after a dot (`optimizer_args.learning_rate`,
`model_args.code_size`); a value is either a setting every trial shares (`dataset:
MNIST`, `epochs: 20`, each trial's maximum) or one of:

    {log_uniform: [LOW, HIGH]}   a number drawn on a log scale (LOW > 0)
    {uniform: [LOW, HIGH]}       a number drawn on a linear scale
    {int: [LOW, HIGH]}           an integer, both ends included
    {choice: [A, B, ...]}        one of the values (numbers, text, true/false)
"""

import json
from dataclasses import dataclass

from bench.errors import BenchUsageError

KINDS = ("log_uniform", "uniform", "int", "choice")
JSON_OPTIONS = ("optimizer_args", "model_args")


@dataclass(frozen=True)
class Param:
    """One drawn setting: its key (`l2_penalty`, `model_args.code_size`), its kind (one of
    KINDS) and its values ((LOW, HIGH), or the choices)."""

    key: str
    kind: str
    values: tuple

    def ends(self):
        """The values that show whether a range is possible: both ends, or every choice."""
        return self.values if self.kind == "choice" else (self.values[0], self.values[1])


@dataclass(frozen=True)
class Space:
    """The drawn settings and the shared ones ({option: value})."""

    params: tuple
    fixed: dict

    def point(self, drawn):
        """The `bench train` options ({option: value}) of a trial that drew `drawn` ({key: value}):
        the shared settings, with each dotted key put inside its JSON option."""
        point = {key: (dict(value) if isinstance(value, dict) else value) for key, value in self.fixed.items()}
        for key, value in drawn.items():
            option, _, inner = key.partition(".")
            if inner:
                point[option] = dict(point.get(option) or {}, **{inner: value})
            else:
                point[option] = value
        return point

    def grid(self):
        """{key: choices} for a grid search (every drawn setting must be a choice)."""
        ranged = [param.key for param in self.params if param.kind != "choice"]
        if ranged:
            raise BenchUsageError(f"--sampler grid needs every setting as {{choice: [...]}}; "
                                  f"{', '.join(ranged)} {'is a range' if len(ranged) == 1 else 'are ranges'}")
        return {param.key: list(param.values) for param in self.params}

    def to_json(self):
        """The space as text, to tell whether a study was created with this space: what is drawn,
        and the shared settings that change what a run is (not where it runs or how long)."""
        from bench.run.options import RESUMABLE_KEYS

        fixed = {key: value for key, value in self.fixed.items() if key not in RESUMABLE_KEYS}
        return json.dumps({"params": [[p.key, p.kind, list(p.values)] for p in self.params], "fixed": fixed},
                          sort_keys=True, default=str)


def read_space(path, names, refused=()):
    """The Space of a YAML file.

    Args:
        names: {spelling without dashes, underscores for dashes: option name} of `bench train`.
        refused: option names a file may not give (--restart).

    Raises:
        BenchUsageError: naming the file and the key.
    """
    from bench.run.config import read_yaml_mapping

    params, fixed = [], {}
    for key, value in read_yaml_mapping(path).items():
        where = f"{path}: {key}"
        option, dot, inner = str(key).partition(".")
        name = names.get(option.replace("-", "_"))
        if name is None:
            raise BenchUsageError(f"{path}: unknown key '{key}'; the keys are bench train's options, "
                                  "and optimizer_args.NAME or model_args.NAME for one of their values")
        if name in refused:
            raise BenchUsageError(f"{where}: it deletes runs, so bench takes it only from the command line")
        if dot and (name not in JSON_OPTIONS or not inner):
            raise BenchUsageError(f"{where}: only {' and '.join(JSON_OPTIONS)} take a dotted key (e.g. "
                                  "optimizer_args.learning_rate)")
        full_key = f"{name}.{inner}" if dot else name
        if _is_drawn(value):
            params.append(_checked_kind(_param(full_key, value, where), None if dot else name, where))
        elif isinstance(value, dict) and not dot and name not in JSON_OPTIONS:
            raise BenchUsageError(f"{where}: {{{', '.join(map(str, value))}}} is not a way to draw; "
                                  f"write one of {', '.join(KINDS)}, e.g. {{uniform: [0, 1.0e-3]}}")
        elif isinstance(value, list):
            raise BenchUsageError(f"{where}: a list is not a setting; to draw one of them, write "
                                  f"{{choice: {json.dumps(value)}}}")
        elif dot:
            fixed.setdefault(name, {})[inner] = value
        else:
            fixed[name] = value
    if not params:
        raise BenchUsageError(f"{path}: nothing to search; draw at least one setting, e.g. "
                              "optimizer_args.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}")
    return Space(tuple(params), fixed)


def _is_drawn(value):
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)) in KINDS


def _param(key, spec, where):
    """A Param from {kind: values}; BenchUsageError names the key."""
    kind, values = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise BenchUsageError(f"{where}: choice takes a list of one value or more, e.g. {{choice: [64, 128]}}")
        for value in values:
            if value is not None and not isinstance(value, (bool, int, float, str)):
                raise BenchUsageError(f"{where}: the choices are numbers, text or true/false, not {value!r}")
        if len(set(map(json.dumps, values))) < len(values):
            raise BenchUsageError(f"{where}: a choice is given twice")
        return Param(key, kind, tuple(values))
    if not isinstance(values, list) or len(values) != 2 or not all(_is_number(v) for v in values):
        raise BenchUsageError(f"{where}: {kind} takes [LOW, HIGH], two numbers, e.g. {{{kind}: [1, 10]}}")
    low, high = values
    if kind == "int" and not all(isinstance(v, int) for v in values):
        raise BenchUsageError(f"{where}: int takes two integers, got [{low}, {high}]")
    if not low < high:
        raise BenchUsageError(f"{where}: the range [{low}, {high}] is empty; LOW must be below HIGH")
    if kind == "log_uniform" and low <= 0:
        raise BenchUsageError(f"{where}: a log range cannot reach 0 or below ([{low}, {high}]); "
                              "start it above 0, or use uniform")
    return Param(key, kind, (low, high))


def _checked_kind(param, option, where):
    """The param, when its kind gives values of the option's type (an integer option is not
    drawn from a float range, a text option from no range)."""
    if option is None or param.kind == "choice":
        return param
    from bench.run.options import OPTIONS

    default = next(entry.default for entry in OPTIONS if entry.name == option)
    if isinstance(default, (bool, str)):
        raise BenchUsageError(f"{where}: {option} takes {type(default).__name__} values; draw it with "
                              "{choice: [...]}")
    if isinstance(default, int) and param.kind != "int":
        raise BenchUsageError(f"{where}: {option} takes integers; draw it with {{int: [LOW, HIGH]}} or "
                              "{choice: [...]}")
    return param


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_space(space, path, plan):
    """Check that every end of every range (and every choice) makes a run `bench train` would
    train, the other settings at their first value: a wrong type, an impossible value, an
    unknown model option is one line naming the key, before anything is created.

    Args:
        plan: {point → the run's Plan}, raising BenchUsageError as `bench train` would refuse.
    """
    first = {param.key: param.ends()[0] for param in space.params}
    for param in space.params:
        for value in param.ends():
            try:
                plan(space.point(dict(first, **{param.key: value})))
            except BenchUsageError as error:
                raise BenchUsageError(f"{path}: {param.key}: {value!r} would not train: {error}") from error
