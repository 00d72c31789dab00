"""bench: a command-line experiment bench for autoencoders on TensorFlow 2.

Plugin authors import the two interfaces from here::

    from bench import Autoencoder   # models/<Name>.py
    from bench import Input         # inputs/<Name>.py

a dataset's split as image files to decode as they are read (`bench.ImageFiles`),
the error a dataset raises when its data cannot be had (`bench.DatasetError`),
and, for datasets stored in the common file formats, the ready-made bases
`bench.IdxImageInput` (MNIST-style IDX files) and `bench.CifarBinaryInput`
(CIFAR-10's binary records).

The names are resolved lazily, so that `bench --help` and `bench list` never
import TensorFlow.
"""

import os
import time

__version__ = "0.2.0"


def launch_clock():
    """What a run's timings (results.json's seconds_to_first_step, its history's elapsed_s)
    count from, on time.perf_counter()'s clock: when a sweep or search asked for the training
    (BENCH_LAUNCHED_AT, its time.time()), else this package's import, the process's first
    moments."""
    now = time.perf_counter()
    try:
        return now - max(time.time() - float(os.environ.get("BENCH_LAUNCHED_AT", "")), 0.0)
    except ValueError:
        return now


STARTED = launch_clock()

_LAZY = {
    "Autoencoder": "bench.model.autoencoder",
    "Input": "bench.data.input",
    "ImageFiles": "bench.data.input",
    "DatasetError": "bench.errors",
    "IdxImageInput": "bench.data.formats",
    "CifarBinaryInput": "bench.data.formats",
    "BenchError": "bench.errors",
    "plugin_class": "bench.plugins",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
