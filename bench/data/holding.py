"""Datasets a process holds in memory for the processes it forks: the warm start-up process
(bench.forkserver) loads a training's dataset once, and each training forked after it finds
the splits loaded, as they would have been loaded in its own process.

What is held is keyed by what a load depends on: the plugin (its file and that file's
content), the data folder and the options the plugin sees (image size, channels,
bad-file policy, pixel limit). A load that draws from Python's or NumPy's global random
numbers is held for its seed only, with the generators' states after it, which a recalled
load restores: a training that recalls a load starts its model from the same random state
as one that loaded the data itself.
"""

import contextlib
import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Held:
    """One dataset's loaded splits, kept for the processes this one forks."""

    dataset: object
    """The dataset plugin's instance, as it was after loading (its report is None)."""
    splits: dict
    """{split: bench.data.splits.ArraySplit}, as the plugin's load returned them, checked."""
    seed: int | None
    """The seed it was loaded with, when the load drew random numbers; None when it drew none."""
    random_states: tuple
    """(Python's, NumPy's) global random states after the load."""


_held = {}
"""(key, seed or None) → Held. Filled only by `keep` (in bench.forkserver's start-up process);
empty elsewhere."""
HELD_AT_MOST = 4
"""Loads held at once, the oldest let go first: a process's memory grows by at most four datasets."""


def key(dataset_spec, data_dir, options):
    """What a dataset's load depends on, as a dictionary key; None for a dataset that is not
    a plugin file's or an installed package's (a prefixed source: folders, shards, TFDS)."""
    source = dataset_spec.source_file() if hasattr(dataset_spec, "source_file") else None
    try:
        content = hashlib.sha1(Path(source).read_bytes()).hexdigest() if source is not None else None
    except OSError:  # gone: the load says so
        content = None
    if content is None:
        return None
    return dataset_spec.name, str(source), content, str(Path(data_dir).resolve()), tuple(sorted(options.items()))


@contextlib.contextmanager
def seeded(seed):
    """Seed Python's and NumPy's generators as `bench train` does before it loads its data, and
    find whether the load within drew from them: yields a dict that gets "drew" and "states"."""
    random.seed(seed)
    np.random.seed(seed)
    before = _random_states()
    found = {}
    yield found
    found["states"] = _random_states()
    found["drew"] = not _same_states(before, found["states"])


def keep(data_key, dataset, splits, seed, drawn):
    """Hold a loaded dataset under `data_key` (seed: the one it was loaded with; drawn: what
    `seeded` found)."""
    held = Held(dataset, dict(splits), seed if drawn["drew"] else None, drawn["states"])
    while len(_held) >= HELD_AT_MOST:
        _held.pop(next(iter(_held)))
    _held[data_key, held.seed] = held


def recall(dataset_spec, data_dir, options, seed):
    """The Held that loading `dataset_spec` with `options` and `seed` would give (restoring the
    random states the load would have left), or None."""
    if not _held:  # (most processes: nothing to look for)
        return None
    held = _find(key(dataset_spec, data_dir, options), seed)
    if held is not None and held.seed is not None:
        random.setstate(held.random_states[0])
        np.random.set_state(held.random_states[1])
    return held


def holds(data_key, seed):
    """Whether this process holds the load under `data_key` with `seed`."""
    return _find(data_key, seed) is not None


def _find(data_key, seed):
    return _held.get((data_key, None)) or _held.get((data_key, seed))


def _random_states():
    return random.getstate(), np.random.get_state()


def _same_states(first, second):
    (python_first, numpy_first), (python_second, numpy_second) = first, second
    return python_first == python_second and all(
        np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b for a, b in zip(numpy_first, numpy_second))
