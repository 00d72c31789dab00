"""A training run's configuration: its values, checks, YAML form and folder name."""

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import field

import yaml

from bench import schema
from bench.data import sources
from bench.errors import BenchUsageError

AUGMENTATIONS = ("flip", "crop")  # bench.data.pipeline.augmented
from bench.run.options import (
    BY_NAME,
    NAME_ABBREVIATIONS,
    NAMED_APART,
    OPTIONS,
    PRECISIONS,
    REQUIRED,
    RESUMABLE_KEYS,
    STRATEGIES,
)

MAX_NAME_BYTES = 200  # below the 255 bytes a folder name may have
MAX_INT = 2**31 - 1  # TensorFlow's int32 step and batch arithmetic
MAX_SEED = 2**32 - 1  # what numpy and Keras accept


def type_problem(option, value):
    """The kind of value `option` takes ("an integer", ...) when `value` is not of that
    kind (a list from YAML where a number belongs...), else None."""
    default = option.default
    if option.kind == "json" or isinstance(default, dict):
        expected, ok = "a mapping", isinstance(value, dict)
    elif isinstance(default, bool) or option.kind == "flag":
        expected, ok = "true or false", isinstance(value, bool)
    elif isinstance(default, int):
        expected, ok = "an integer", isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        expected, ok = "a number", isinstance(value, (int, float)) and not isinstance(value, bool)
    else:  # text, or None for "not set"
        expected, ok = "text", isinstance(value, str) or (value is None and default is not REQUIRED)
    return None if ok else expected


def _check_type(option, value):
    """BenchUsageError when `value` is not of the option's kind."""
    expected = type_problem(option, value)
    if expected:
        raise BenchUsageError(f"{option.flag} must be {expected}, got {value!r}")


def _field(option):
    if option.default is REQUIRED:
        return option.name, str
    if isinstance(option.default, dict):
        return option.name, dict, field(default_factory=dict)
    kind = type(option.default) if option.default is not None else str | None
    return option.name, kind, field(default=option.default)


class _TrainConfigMethods:
    """TrainConfig's methods; its fields come from bench.run.options.OPTIONS."""

    def check(self):
        """Raise BenchUsageError for impossible values (a value of the wrong type, from a
        config file, say, included), before anything is written."""
        for option in OPTIONS:
            value = getattr(self, option.name)
            _check_type(option, value)
            if option.check == "positive" and not 0 < value <= MAX_INT:
                raise BenchUsageError(f"{option.flag} must be a positive integer up to {MAX_INT:,}, got {value}")
            if option.check == "non-negative" and (not math.isfinite(value) or value < 0):
                raise BenchUsageError(f"{option.flag} must be zero or positive, got {value}")
            if option.check == "seed" and not 0 <= value <= MAX_SEED:
                raise BenchUsageError(f"{option.flag} must be an integer from 0 to {MAX_SEED:,}, got {value}")
        if not (0 < self.lr_decay_factor <= 1):
            raise BenchUsageError(f"--lr-decay-factor must be in (0, 1], got {self.lr_decay_factor}")
        for key, value, choices in (("strategy", self.strategy, STRATEGIES),
                                    ("precision", self.precision, PRECISIONS)):
            if value not in choices:
                raise BenchUsageError(f"unknown --{key} {value!r}; choose one of {', '.join(choices)}")
        if self.devices and self.strategy != "mirrored":
            raise BenchUsageError("--devices goes with --strategy mirrored")
        if self.device and self.strategy != "default":
            raise BenchUsageError(f"--device places a one-device run; --strategy {self.strategy} "
                                  "takes its devices from --devices (mirrored) or TF_CONFIG (multi-worker)")
        if self.channels not in (0, 1, 3):
            raise BenchUsageError(f"--channels must be 1 or 3 (0: the images' own), got {self.channels}")
        if self.cache not in ("none", "memory", "disk"):
            raise BenchUsageError(f"--cache must be none, memory or disk, got {self.cache!r}")
        if self.on_bad_file not in ("fail", "skip"):
            raise BenchUsageError(f"--on-bad-file must be fail or skip, got {self.on_bad_file!r}")
        self.image_hw()
        self.augmentations()
        self.class_subset()
        if any(sep in self.comment for sep in "/\\") or self.comment.startswith("."):
            raise BenchUsageError(f"--comment {self.comment!r} cannot be part of a folder name: drop slashes and leading dots")

    def image_hw(self):
        """--image-size as (height, width), None when not set; BenchUsageError when malformed."""
        if not self.image_size:
            return None
        match = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?", str(self.image_size))
        sides = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else None
        if sides is None or not all(1 <= side <= 8192 for side in sides):
            raise BenchUsageError(f"--image-size must be H or HxW, from 1 to 8192 pixels, e.g. 64 or 64x48; "
                                  f"got {self.image_size!r}")
        return sides

    def class_subset(self):
        """--classes as a sorted tuple of label numbers, () for every class; BenchUsageError when malformed."""
        value = self.classes
        items = value if isinstance(value, (list, tuple)) else str(value or "").split(",")
        try:
            numbers = sorted({int(str(item).strip()) for item in items if str(item).strip()})
        except ValueError:
            numbers = None
        if numbers is None or any(number < 0 for number in numbers):
            raise BenchUsageError(f"--classes must be label numbers separated by commas, e.g. 0,1; got {value!r}")
        return tuple(numbers)

    def augmentations(self):
        """--augment as a tuple of names (AUGMENTATIONS); BenchUsageError for an unknown one."""
        names = tuple(name.strip() for name in str(self.augment or "").split(",") if name.strip())
        unknown = [name for name in names if name not in AUGMENTATIONS]
        if unknown:
            raise BenchUsageError(f"unknown --augment {', '.join(unknown)}; choose from {', '.join(AUGMENTATIONS)}")
        return names

    def learning_rate(self):
        """The initial learning rate (from --optimizer-args; filled in by resolve_optimizer)."""
        return self.optimizer_args["learning_rate"]

    def run_name(self):
        """The run's folder name: DTB's <Dataset>_<Optimizer>_lr=<lr>[_exp_lr][_l2=<l2>], then
        every other identity key that differs from its default (`option_parts`), then the
        length [_epochs=<n>] unless it is DTB's 150, then [_<comment>]: so every sweep point, seeds included, has a folder of its own."""
        name = f"{sources.label(self.dataset)}_{self.optimizer}_lr={self.learning_rate()!r}"
        if self.lr_decay:
            name += "_exp_lr"
        if self.l2_penalty:
            name += f"_l2={self.l2_penalty!r}"
        name += "".join(f"_{part}" for part in self.option_parts())
        if self.epochs != BY_NAME["epochs"].default:  # the length, last: one folder, one experiment
            name += f"_epochs={self.epochs}"
        if self.comment:
            name += f"_{self.comment}"
        return fold_long_name(name)

    def option_parts(self, leave_out=()):
        """The identity keys beyond DTB's name that differ from their defaults, as the
        run name spells them: model options, noise=<f>, the precision, bs=<n>, seed=<n>,
        the other keys, the optimizer's arguments besides the learning rate
        (but the keys in `leave_out`)."""
        parts = [f"{key}={name_part(value)}" for key, value in sorted(self.model_args.items())]
        if self.noise_factor:
            parts.append(f"noise={self.noise_factor!r}")
        if self.precision != "float32":
            parts.append(self.precision)
        for key in self.identity_keys():
            value = getattr(self, key)
            if key not in NAMED_APART and key not in leave_out and value != BY_NAME[key].default:
                parts.append(f"{NAME_ABBREVIATIONS.get(key, key)}={name_part(value)}")
        parts += [f"{key}={name_part(value)}" for key, value in sorted(self.optimizer_args.items())
                  if key != "learning_rate"]
        return parts

    @classmethod
    def identity_keys(cls):
        """The keys that make a run what it is (all but RESUMABLE_KEYS), in field order."""
        return [f.name for f in dataclasses.fields(cls) if f.name not in RESUMABLE_KEYS]

    def identity(self):
        """{identity key: value}: what the run is (results.json keeps it, with its digest, so
        that a config.yaml edited by hand is told from the one the run was trained with)."""
        values = self.to_dict()
        # as JSON has it (lists, not tuples): what results.json gives back compares equal
        return json.loads(json.dumps({key: values[key] for key in self.identity_keys()}, default=str))

    def to_dict(self):
        """A plain dict, as written to config.yaml."""
        return dataclasses.asdict(self)

    def differences(self, saved):
        """Keys whose value differs from a saved config.yaml's, besides RESUMABLE_KEYS."""
        mine = self.to_dict()
        return sorted(
            key for key in set(mine) | set(saved)
            if key not in RESUMABLE_KEYS and mine.get(key) != saved.get(key)
        )

    @classmethod
    def from_dict(cls, values):
        """A TrainConfig from config.yaml's dict; unknown keys are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_point(cls, point):
        """The TrainConfig `bench train` trains from a point of a sweep or a search ({option:
        value}, as a --config file gives them; "config": such a file, whose values the point's
        own override): click converts the values as it does the file's, BENCH_* variables and
        the defaults fill in the rest (bench.run.option_parsing.options_of_point).

        Raises:
            BenchUsageError: an unknown option, or a value the option does not take.
        """
        from bench.run.option_parsing import options_of_point

        point = dict(point)
        config_file = point.pop("config", None)
        if config_file:
            point = {**read_yaml_mapping(config_file), **point}
        return cls(**options_of_point(point))


TrainConfig = dataclasses.make_dataclass(
    "TrainConfig", [_field(option) for option in OPTIONS], bases=(_TrainConfigMethods,))
TrainConfig.__module__ = __name__
TrainConfig.__doc__ = """Everything that defines a training run (what `config.yaml` holds): a field
per option of bench.run.options.OPTIONS, with its default."""


def name_part(value):
    """A model option's value as it appears in a folder name: lists joined by '-'."""
    if isinstance(value, (list, tuple)):
        return "-".join(name_part(item) for item in value)
    if isinstance(value, float):
        return repr(value)
    return str(value).replace("/", "-")


def fold_long_name(name):
    """A folder name that fits the file system: a name longer than MAX_NAME_BYTES keeps
    its beginning and ends with a hash of the whole, so it stays unique."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:12]
    return name.encode()[:MAX_NAME_BYTES - 13].decode(errors="ignore") + "_" + digest


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a mapping that gives a key twice (where YAML's
    "the last one wins" would silently drop a value)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1, which PyYAML reads, takes `1e-5` for text (a float needs a dot there: 1.0e-5); a
# space's `{choice: [0, 1e-5]}` would then draw the string "1e-05". Read it as YAML 1.2 does.
_UniqueKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml(stream):
    """yaml.safe_load, but a key given twice in a mapping is an error (yaml.YAMLError)."""
    return yaml.load(stream, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)


def read_yaml_mapping(path):
    """Load a YAML file that must hold a mapping (UTF-8 text, no key given twice);
    BenchUsageError says what is wrong, naming the file."""
    try:
        with open(path, encoding="utf-8") as file:
            values = load_yaml(file)
    except OSError as error:
        raise BenchUsageError(f"cannot read {path}: {error.strerror}") from error
    except UnicodeDecodeError as error:
        raise BenchUsageError(f"{path} is not UTF-8 text (byte {error.start}); it is not a YAML file") from error
    except RecursionError as error:
        raise BenchUsageError(f"{path} is not valid YAML: nested too deeply") from error
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise BenchUsageError(f"{path} is not valid YAML{line}: {getattr(error, 'problem', error)}") from error
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise BenchUsageError(f"{path} must hold a mapping of option: value, got a {type(values).__name__}")
    return values


def write_yaml(config_dict):
    """The text of config.yaml."""
    return yaml.safe_dump(config_dict, sort_keys=False, default_flow_style=False)


def check_values(values, run_config=True):
    """Raise schema.Invalid naming the first key of a configuration mapping (a run's
    config.yaml, or a --config file) whose value bench could not have written: a key of
    the wrong type, a value out of range (TrainConfig.check); with `run_config`, also the
    keys every run has (model, dataset, the learning rate).

    Unknown keys are let through here (`bench train --config` refuses them itself; a
    run's config.yaml may hold an option a later bench dropped)."""
    if not isinstance(values, dict):
        raise schema.Invalid(f"it holds {schema.kind_of(values)}, not a mapping of option: value")
    for key, value in values.items():
        option = BY_NAME.get(key)
        expected = type_problem(option, value) if option is not None else None
        if expected:
            raise schema.Invalid(f"{key} is {schema.kind_of(value)} ({schema.shown(value)}), not {expected}")
    if run_config:
        for key in ("model", "dataset"):
            if key not in values:
                raise schema.Invalid(f"it lacks '{key}'")
        schema.number(0)((values.get("optimizer_args") or {}).get("learning_rate"), "optimizer_args.learning_rate")
        try:
            TrainConfig.from_dict(values).check()
        except BenchUsageError as error:
            raise schema.Invalid(str(error)) from None
