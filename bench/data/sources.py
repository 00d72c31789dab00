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
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchUsageError

PREFIXES = {  # prefix: (what it reads, an example)
    "folder": ("a folder of PNG, JPEG, BMP or GIF images", "folder:~/pictures/faces"),
    "tfrecord": ("TFRecord shards written by bench prepare", "tfrecord:/shared/faces-64"),
    "tfds": ("a prepared TensorFlow Datasets dataset [:its config]", "tfds:svhn_cropped"),
}


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


def spec(name):
    """The SourceSpec of a prefixed dataset name; BenchUsageError for an unknown prefix."""
    prefix, _, where = name.partition(":")
    if prefix not in PREFIXES:
        known = ", ".join(f"{key}: ({example})" for key, (_, example) in PREFIXES.items())
        raise BenchUsageError(f"unknown dataset prefix '{prefix}:'; bench reads {known}, "
                              "or a dataset plugin by name ('bench list datasets')")
    if not where.strip():
        raise BenchUsageError(f"--dataset {name} names no folder; e.g. {PREFIXES[prefix][1]}")
    if prefix == "tfds":
        return _catalogue_spec(where)
    root = Path(where).expanduser().resolve()

    def make_class():
        if prefix == "tfrecord":
            from bench.data.records import record_input

            return record_input(root)
        from bench.data.folders import folder_input

        return folder_input(root)

    what = {"folder": "image folder", "tfrecord": "TFRecord shards"}[prefix]
    return SourceSpec(f"{prefix}:{root}", f"{what} {root}", make_class)


def _catalogue_spec(where):
    tfds_name = where.strip().replace(":", "/")  # tfds:NAME:CONFIG → TFDS's NAME/CONFIG

    def make_class():
        from bench.data.catalogue import tfds_input

        return tfds_input(tfds_name)

    return SourceSpec(f"tfds:{where.strip()}", f"TensorFlow Datasets {tfds_name}", make_class)


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
    if prefix == "tfds":
        return "tfds-" + _safe(where)
    return f"{prefix}-{_safe(Path(where).name)}-{hashlib.sha256(where.encode()).hexdigest()[:6]}"


def _safe(text):
    """`text` with every run of characters a run name does not use replaced by '-'."""
    return re.sub(r"[^A-Za-z0-9.+-]+", "-", text).strip("-.") or "root"
