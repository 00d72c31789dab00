"""Datasets named by a prefix instead of a plugin: `--dataset folder:PATH`, `tfrecord:DIR`.

A prefixed name resolves to a PluginSpec whose class is made for its path, so
the rest of bench treats it as any dataset plugin. The run keeps the name in
its config.yaml (the folder's absolute path, so it resumes from anywhere) and
a short, path-safe label in its folder name.

Nothing here imports TensorFlow.
"""

import hashlib
import re
from pathlib import Path

from bench.errors import BenchUsageError
from bench.plugins import PluginSpec

PREFIXES = {  # prefix: (what it reads, an example)
    "folder": ("a folder of PNG, JPEG, BMP or GIF images", "folder:~/pictures/faces"),
    "tfrecord": ("TFRecord shards written by bench prepare", "tfrecord:/shared/faces-64"),
}


def spec(name):
    """The PluginSpec of a prefixed dataset name; BenchUsageError for an unknown prefix."""
    prefix, _, where = name.partition(":")
    if prefix not in PREFIXES:
        known = ", ".join(f"{key}: ({example})" for key, (_, example) in PREFIXES.items())
        raise BenchUsageError(f"unknown dataset prefix '{prefix}:'; bench reads {known}, "
                              "or a dataset plugin by name ('bench list datasets')")
    if not where.strip():
        raise BenchUsageError(f"--dataset {name} names no folder; e.g. {PREFIXES[prefix][1]}")
    root = Path(where).expanduser().resolve()

    def make_class():
        if prefix == "tfrecord":
            from bench.records import record_input

            return record_input(root)
        from bench.folders import folder_input

        return folder_input(root)

    what = {"folder": "image folder", "tfrecord": "TFRecord shards"}[prefix]
    return PluginSpec("dataset", f"{prefix}:{root}", f"{what} {root}", factory=make_class)


def label(name):
    """The dataset's name as a run folder spells it: a plugin's own name, or for
    `folder:/data/faces` "folder-faces-<6 hex digits of the path>"."""
    prefix, colon, where = name.partition(":")
    if not colon:
        return name
    stem = re.sub(r"[^A-Za-z0-9.+-]+", "-", Path(where).name).strip("-.") or "root"
    return f"{prefix}-{stem}-{hashlib.sha256(where.encode()).hexdigest()[:6]}"
