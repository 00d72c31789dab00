"""Warm starts (bench.study.warm): the trainings of sweeps, searches and confirmations are
forked from one process that imported TensorFlow once. Their numbers are a cold process's,
bit for bit; a training, the start-up process or a plugin that dies harms nothing else.
(The search's own kill tests, in test_search.py, run warm: a killed training is retried.)"""

import collections
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import (PROJECT, bench, bench_process, event_tags, mnist_files, read_results, run_dir, tf,
                      started, write_plugin, write_tiny_mnist)
from test_search import children

UNTIMED = ("elapsed_s",)


def finished_sweep(process, timeout=600):
    """(exit code, stdout, stderr) of a sweep process."""
    stdout, stderr = process.communicate(timeout=timeout)
    return process.returncode, stdout, stderr


def numbers(run):
    """What a run computed: its history without times, its best, its checkpoints' values."""
    results = read_results(run)
    history = [{key: value for key, value in entry.items() if key not in UNTIMED} for entry in results["history"]]
    best = {split: {key: value for key, value in entry.items() if key != "when"}
            for split, entry in results["best"].items()}
    stored = {}
    for folder in ("best", "checkpoints"):
        reader = tf.train.load_checkpoint(str(run / folder))
        stored[folder] = {key: reader.get_tensor(key) for key in reader.get_variable_to_shape_map()
                          if key != "_CHECKPOINTABLE_OBJECT_GRAPH"}
    return history, best, stored


def assert_same_numbers(warm, cold):
    warm_history, warm_best, warm_stored = numbers(warm)
    cold_history, cold_best, cold_stored = numbers(cold)
    assert warm_history == cold_history and warm_best == cold_best, (warm, warm_history, cold_history)
    for folder, values in cold_stored.items():
        assert sorted(warm_stored[folder]) == sorted(values), folder
        for key, value in values.items():
            assert np.array_equal(warm_stored[folder][key], value), (warm, folder, key)


@pytest.mark.all_threads
def test_warm_trainings_equal_cold_ones_bit_for_bit_after_other_models_precisions_and_datasets(workspace, serve):
    """Eight trainings in a row from one start-up process (two models, two datasets, mixed and
    full precision, in turn); the last, which came after another model, another dataset and a
    mixed-precision training, equals, bit for bit, a cold process's training of the same
    settings (`--cold`): every epoch of the history, the best model's metrics and every value
    of both checkpoints; and a cold process that trains it an epoch longer from its state gets
    the same numbers from the warm run as from the cold one."""
    files = mnist_files(n_train=120, n_test=40)
    write_tiny_mnist(workspace, [serve(files).url("good")], files)
    grid = ("--model", "SingleLayerCAE,VAE", "--dataset", "Digits,TinyMNIST", "--precision", "mixed_bfloat16,float32",
            "--epochs", "2", "--batch-size", "32", "--extras", "none")
    code, stdout, stderr = finished_sweep(bench_process("sweep", *grid, "--log-dir", "warm"))
    assert code == 0 and "8 run(s) to train" in stdout, stderr
    code, stdout, stderr = finished_sweep(bench_process(
        "sweep", "--model", "VAE", "--dataset", "TinyMNIST", "--epochs", "2", "--batch-size", "32",
        "--extras", "none", "--cold", "--log-dir", "cold"))
    assert code == 0, stderr
    (cold,) = Path("cold/VAE").glob("[!.]*")
    assert_same_numbers(Path("warm/VAE") / cold.name, cold)
    # a cold process goes on from the warm run's checkpoint as from the cold one's: one more epoch each
    longer = [bench_process("train", "--config", Path(log, "VAE", cold.name, "config.yaml"), "--epochs", "3",
                            "--log-dir", log) for log in ("warm", "cold")]
    for process in longer:
        code, _, stderr = finished_sweep(process)
        assert code == 0, stderr
    name = cold.name.replace("_epochs=2", "_epochs=3")
    assert_same_numbers(Path("warm/VAE") / name, Path("cold/VAE") / name)


def zygotes(pid):
    """The warm start-up processes among `pid`'s children."""
    found = []
    for child in children(pid):
        try:
            if b"warm start-up" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            pass
    return found


def test_a_killed_start_up_process_a_crashing_and_a_raising_plugin_harm_only_themselves(workspace):
    """A sweep's start-up process is killed with SIGKILL while its first training trains: that
    training finishes, and a new start-up process forks the next. A plugin that raises and one
    that crashes its process (SIGSEGV) fail with their reasons; the other runs finish."""
    source = (PROJECT / "models" / "SingleLayerCAE.py").read_text()
    signature = "def get(self, images, train_phase=False, l2_penalty=0.0):"
    write_plugin(workspace / "models", "Raising", source.replace("class SingleLayerCAE", "class Raising").replace(
        signature, signature + "\n        raise ValueError('the plugin is broken')"))
    write_plugin(workspace / "models", "Crashing", source.replace("class SingleLayerCAE", "class Crashing").replace(
        signature, signature + "\n        import os, signal\n        os.kill(os.getpid(), signal.SIGSEGV)"))
    sweep = bench_process("sweep", "--model", "SingleLayerCAE,Raising,Crashing", "--dataset", "Digits",
                          "--epochs", "3,4", "--extras", "none")
    first = workspace / "log/SingleLayerCAE/Digits_Adam_lr=0.001_epochs=3"
    deadline = time.time() + 240
    while not ((first / "train.log").exists() and "epoch 1/3" in (first / "train.log").read_text()):
        assert time.time() < deadline and sweep.poll() is None, sweep.communicate()
        time.sleep(0.05)
    (zygote,) = zygotes(sweep.pid)
    os.kill(zygote, signal.SIGKILL)
    code, stdout, stderr = finished_sweep(sweep)
    assert code == 1, stderr
    for epochs in (3, 4):
        run = workspace / f"log/SingleLayerCAE/Digits_Adam_lr=0.001_epochs={epochs}"
        assert read_results(run)["status"] == "finished"
        assert (run / "train.log").read_text().count(f"epoch {epochs}/{epochs}") == 1
    assert stderr.count("FAILED") == 4, stderr
    assert stderr.count("the plugin is broken") == 2 and stderr.count("was killed (SIGSEGV)") == 2, stderr
    assert "4 of 6 run(s) failed" in stderr, stderr


def test_a_start_up_process_that_cannot_start_leaves_the_trainings_cold(workspace):
    """A PYTHONPATH whose inspect.py raises breaks the start-up process (run as `python -P`,
    a cold training does not see the current folder, but it does see PYTHONPATH): after two
    that die before their first answer, the sweep says why and trains each run cold, which
    then fails with that same reason, named."""
    Path("shadow").mkdir()
    Path("shadow/inspect.py").write_text("raise RuntimeError('a shadowed library')\n")
    result = bench("sweep", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "1",
                   env={"PYTHONPATH": os.pathsep.join([str(workspace / "shadow"), str(PROJECT)])})
    stderr = result.stderr
    assert result.exit_code == 1, result
    assert "warm start-up process of trainings failed twice (RuntimeError: a shadowed library)" in stderr, stderr
    assert "FAILED" in stderr and stderr.count("RuntimeError: a shadowed library") == 2, stderr


LOGGED_LOADS = '''
import os

import numpy as np
import pytest

from bench import Input


class {name}(Input):
    """Tiny random images; each load of a split is written down in loads.txt, with its process."""
    image_shape = (8, 8, 1)
    num_classes = 2

    def load(self, split):
        with open("loads.txt", "a") as loads:
            loads.write(f"{{type(self).__name__}} {{os.getpid()}} {{split}}\\n")
        n = {{"train": 64, "validation": 16, "test": 16}}[split]
        {draw}
        return images.astype(np.uint8), labels
'''
OWN_GENERATOR = ("rng = np.random.default_rng(len(split))\n"
                 "        images, labels = rng.integers(0, 256, (n, 8, 8, 1)), rng.integers(0, 2, n)")
GLOBAL_GENERATOR = "images, labels = np.random.randint(0, 256, (n, 8, 8, 1)), np.random.randint(0, 2, n)"
TENSORFLOW_RUNTIME = ("import tensorflow as tf\n"
                      "        images = tf.random.stateless_uniform((n, 8, 8, 1), (1, 2), 0, 256, tf.int32).numpy()\n"
                      "        labels = np.arange(n) % 2")


def loads(dataset):
    """How many times each process loaded `dataset` (every split, in order)."""
    lines = [line.split() for line in Path("loads.txt").read_text().splitlines() if line.startswith(dataset + " ")]
    counts = collections.Counter(pid for _, pid, split in lines if split == "train")
    assert sorted(lines) == sorted([dataset, pid, split] for pid, count in counts.items()
                                   for split in ("train", "validation", "test") for _ in range(count))
    return counts


def test_a_dataset_drawing_random_numbers_is_held_per_seed_and_its_trainings_equal_cold_ones(workspace):
    """A dataset whose load draws from NumPy's global generator is held for its seed only: in a
    sweep of two seeds, the first training of each seed loads it, and so does the start-up
    process after forking it; the second training of each seed finds it loaded, with the
    generators as its own load would have left them, and equals a cold process's, bit for bit."""
    write_plugin(workspace / "inputs", "Drawn", LOGGED_LOADS.format(name="Drawn", draw=GLOBAL_GENERATOR))
    grid = ("--model", "SingleLayerCAE", "--dataset", "Drawn", "--epochs", "1", "--batch-size", "16",
            "--extras", "none", "--seed", "3,4")
    result = bench("sweep", *grid, "--l2-penalty", "0,1e-9")  # in this process: its start-up process is handed on
    assert result.exit_code == 0, result
    # per seed: its first training, and the start-up process after it
    assert sorted(loads("Drawn").values()) == [1, 1, 2]
    code, _, stderr = finished_sweep(bench_process("sweep", *grid, "--l2-penalty", "1e-9", "--cold", "--jobs", "2",
                                                   "--log-dir", "cold"))
    assert code == 0, stderr
    held = sorted(Path("cold/SingleLayerCAE").glob("[!.]*l2=1e-09*"))  # the second of each seed in the warm sweep
    assert len(held) == 2
    for run in held:
        assert_same_numbers(Path("log/SingleLayerCAE", run.name), run)


def test_a_dataset_is_loaded_once_unless_its_load_starts_tensorflow(workspace):
    """Three runs on each of two datasets: the first training of Steady loads it, and so does
    the start-up process after forking it; the next two find it loaded. Runtime's load runs
    TensorFlow, which starts threads in the start-up process that holds it, after which
    forking is unsafe: that process says so and ends, and its successor forks the next
    trainings without holding Runtime. Every run finishes."""
    write_plugin(workspace / "inputs", "Steady", LOGGED_LOADS.format(name="Steady", draw=OWN_GENERATOR))
    write_plugin(workspace / "inputs", "Runtime", LOGGED_LOADS.format(name="Runtime", draw=TENSORFLOW_RUNTIME))
    result = bench("sweep", "--model", "SingleLayerCAE", "--dataset", "Steady,Runtime", "--l2-penalty", "0,1e-9,1e-8",
                   "--epochs", "1", "--batch-size", "16", "--extras", "none")
    assert result.exit_code == 0, result
    assert sorted(loads("Steady").values()) == [1, 1]
    assert sorted(loads("Runtime").values()) == [1, 1, 1, 1]  # each training, and the first start-up process
    assert len(list(Path("log/SingleLayerCAE").glob("*/results.txt"))) == 6


def test_the_sweeps_of_one_process_hand_its_start_up_process_on(workspace, monkeypatch):
    """A process that runs sweeps in turn (a notebook, this suite) keeps its start-up process
    from one to the next: the second sweep's training finds Steady held by the first's start-up
    process, and runs in the second's own BENCH_* settings (a variable set, one unset), to the
    numbers a new process gets, bit for bit."""
    write_plugin(workspace / "inputs", "Steady", LOGGED_LOADS.format(name="Steady", draw=OWN_GENERATOR))
    sweep = ("sweep", "--model", "SingleLayerCAE", "--dataset", "Steady", "--epochs", "1", "--batch-size", "16")
    assert bench(*sweep, "--l2-penalty", "0").exit_code == 0
    first = loads("Steady")
    assert sorted(first.values()) == [1, 1]  # its training, and the start-up process after forking it
    monkeypatch.setenv("BENCH_EXTRAS", "all")
    monkeypatch.delenv("BENCH_SUMMARIES")
    assert bench(*sweep, "--l2-penalty", "1e-9").exit_code == 0
    assert loads("Steady") == first  # held in the same start-up process
    plain, handed = (run_dir("SingleLayerCAE", l2, dataset="Steady", epochs=1) for l2 in ("_bs=16", "_l2=1e-09_bs=16"))
    assert not (plain / "reconstructions.png").exists() and (handed / "reconstructions.png").is_file()
    assert "histograms" in {plugin for tags in event_tags(handed / "train").values() for _, plugin in tags}
    cold = bench_process("train", "--config", handed / "config.yaml", "--log-dir", "cold")
    code, _, stderr = finished_sweep(cold)
    assert code == 0, stderr
    assert_same_numbers(handed, Path("cold") / handed.relative_to("log"))  # as a new process trains it


@pytest.mark.unit
def test_a_kept_start_up_process_fits_an_environment_that_differs_in_bench_variables_only():
    """A start-up process is handed on only while it runs, to an environment that differs from
    its own in BENCH_* variables only (any other may change how TensorFlow or Python start)."""
    from bench.study import warm

    environment = {"PATH": os.environ["PATH"], "BENCH_EXTRAS": "none"}
    process = started(subprocess.Popen(["sleep", "60"], stdin=subprocess.PIPE))
    read_end, write_end = os.pipe()
    os.close(write_end)
    kept = warm._StartUp(process, read_end, environment, tempfile.TemporaryFile(), [])
    assert kept.fits({"PATH": os.environ["PATH"], "BENCH_SUMMARIES": "scalars"})
    assert not kept.fits({**environment, "LC_TIME": "C"})
    assert not kept.fits({"BENCH_EXTRAS": "none"})
    process.kill()
    process.wait()
    assert not kept.fits(environment)
    kept.end()


class FileSpec:
    """What bench.data.holding reads of a dataset's PluginSpec: its name and source file."""

    def __init__(self, path):
        self.name, self.path = path.stem, path

    def source_file(self):
        return self.path


@pytest.mark.unit
def test_a_held_load_is_found_by_its_plugins_content_folder_options_and_seed_only_when_it_drew(tmp_path):
    """holding's keys: an edited plugin file, another data folder or other options are other
    loads; a load that drew random numbers is found for its own seed only, and recalling it
    leaves the generators as loading would have; one that drew none is found for any seed."""
    import random

    from bench.data import holding

    plugin = tmp_path / "Drawn.py"
    plugin.write_text("class Drawn: pass\n")
    spec, options = FileSpec(plugin), {"image_size": None}
    key = holding.key(spec, tmp_path, options)
    try:
        with holding.seeded(3) as drawn:
            images = np.random.randint(0, 256, 4)
        after = (random.random(), np.random.random())  # what follows the load
        holding.keep(key, "Drawn()", {"train": images}, 3, drawn)
        assert holding.recall(spec, tmp_path, options, seed=4) is None
        held = holding.recall(spec, tmp_path, options, seed=3)
        assert held.dataset == "Drawn()" and held.splits["train"] is images
        assert (random.random(), np.random.random()) == after  # as if this process had loaded it with seed 3
        assert holding.recall(spec, tmp_path / "other", options, seed=3) is None
        assert holding.recall(spec, tmp_path, {"image_size": (4, 4)}, seed=3) is None
        with holding.seeded(5) as drawn:
            pass  # drew nothing: the same for every seed
        steady = FileSpec(tmp_path / "Steady.py")
        steady.path.write_text("class Steady: pass\n")
        holding.keep(holding.key(steady, tmp_path, options), "Steady()", {}, 5, drawn)
        assert holding.recall(steady, tmp_path, options, seed=9).dataset == "Steady()"
        steady.path.write_text("class Steady: x = 1\n")
        assert holding.recall(steady, tmp_path, options, seed=9) is None  # an edited plugin is loaded anew
        assert holding.key(FileSpec(tmp_path / "gone.py"), tmp_path, options) is None
    finally:
        holding._held.clear()


@pytest.mark.unit
def test_the_start_up_process_downloads_nothing(tmp_path):
    """Within download.refused() (the start-up process's hold), fetch asks no mirror and writes
    nothing: the training downloads, showing its progress; outside, fetch asks again."""
    from bench.data import download
    from bench.errors import DatasetError
    from conftest import closed_port_url

    with pytest.raises(DatasetError, match="is not downloaded here"), download.refused():
        download.fetch("train.gz", "0" * 32, [closed_port_url()], tmp_path / "data" / "train.gz")
    assert not (tmp_path / "data").exists()
    with pytest.raises(DatasetError, match="could not download train.gz from any of 1 mirror"):
        download.fetch("train.gz", "0" * 32, [closed_port_url()], tmp_path / "data" / "train.gz")
