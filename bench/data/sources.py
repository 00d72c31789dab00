"""Datasets named by a prefix instead of a plugin: `--dataset folder:PATH`, `tfrecord:DIR`,
`tfds:NAME[:CONFIG]`.

A prefixed name resolves to a PluginSpec whose class is made for its path, so
the rest of bench treats it as any dataset plugin. The run keeps the name in
its config.yaml (the folder's absolute path, so it resumes from anywhere) and
a short, path-safe label in its folder name.

Nothing here imports TensorFlow.
"""

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchUsageError

@dataclass(frozen=True)
class SourceSpec:
    """A prefixed dataset, answering as a dataset plugin's PluginSpec does (name, origin, where,
    description, load)."""

    name: str
    origin: str
    factory: object  # makes the dataset's bench.Input class
    kind: str = "dataset"
    path: object = None

    def where(self):
        """What it reads, in words."""
        return self.origin

    def description(self):
        """One line for `bench list`."""
        return self.origin

    def load(self):
        """The dataset's class (bench.Input)."""
        return self.factory()


def _folder_input(root):
    from bench.data.folders import folder_input

    return folder_input(root)


def _records_input(root):
    from bench.data.records import record_input

    return record_input(root)


def _catalogue_input(tfds_name):
    from bench.data.catalogue import tfds_input

    return tfds_input(tfds_name)


def _absolute(where):
    return str(Path(where).expanduser().resolve())


def _path_label(prefix, where):
    return f"{prefix}-{_safe(Path(where).name)}-{hashlib.sha256(where.encode()).hexdigest()[:6]}"


def _tfds_name(where):
    return where.replace(":", "/")  # tfds:NAME:CONFIG → TFDS's NAME/CONFIG


@dataclass(frozen=True)
class Prefix:
    """A kind of dataset named by a prefix: what it reads (for `bench list`), an example,
    and how a name after the prefix becomes its canonical form, its origin in words, its
    bench.Input class and its label in run folder names."""

    reads: str
    example: str
    canonical: Callable[[str], str]
    origin: Callable[[str], str]
    input_class: Callable[[str], type]
    label: Callable[[str, str], str]


PREFIXES = {
    "folder": Prefix("a folder of PNG, JPEG, BMP or GIF images", "folder:~/pictures/faces", _absolute,
                     lambda root: f"image folder {root}", lambda root: _folder_input(Path(root)), _path_label),
    "tfrecord": Prefix("TFRecord shards written by bench prepare", "tfrecord:/shared/faces-64", _absolute,
                       lambda root: f"TFRecord shards {root}", lambda root: _records_input(Path(root)), _path_label),
    "tfds": Prefix("a prepared TensorFlow Datasets dataset [:its config]", "tfds:svhn_cropped", str.strip,
                   lambda where: f"TensorFlow Datasets {_tfds_name(where)}",
                   lambda where: _catalogue_input(_tfds_name(where)), lambda prefix, where: f"tfds-{_safe(where)}"),
}
"""Every dataset prefix, one entry each."""


def spec(name):
    """The SourceSpec of a prefixed dataset name; BenchUsageError for an unknown prefix."""
    prefix, _, where = name.partition(":")
    if prefix not in PREFIXES:
        known = ", ".join(f"{key}: ({entry.example})" for key, entry in PREFIXES.items())
        raise BenchUsageError(f"unknown dataset prefix '{prefix}:'; bench reads {known}, "
                              "or a dataset plugin by name ('bench list datasets')")
    if not where.strip():
        raise BenchUsageError(f"--dataset {name} names no folder; e.g. {PREFIXES[prefix].example}")
    entry = PREFIXES[prefix]
    where = entry.canonical(where)
    return SourceSpec(f"{prefix}:{where}", entry.origin(where), lambda: entry.input_class(where))


def find_dataset(name):
    """The spec of a dataset: a prefixed one's (`folder:PATH`, ...), else the plugin's."""
    if ":" in name:
        return spec(name)
    from bench import plugins

    return plugins.find("dataset", name)


def label(name):
    """The dataset's name as a run folder spells it: a plugin's own name, or for
    `folder:/data/faces` "folder-faces-<6 hex digits of the path>", for `tfds:celeb_a` "tfds-celeb-a"."""
    prefix, colon, where = name.partition(":")
    if not colon:
        return name
    return PREFIXES[prefix].label(prefix, where) if prefix in PREFIXES else _path_label(prefix, where)


def _safe(text):
    """`text` with every run of characters a run name does not use replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-.") or "root"
