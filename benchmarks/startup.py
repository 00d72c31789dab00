"""Start-up: `bench --help`, `bench list`, `bench compare` over 100 runs, and the time
to the first training step.

    python benchmarks/startup.py [--data-dir ../shared/data] [--repeats 5]
    python benchmarks/startup.py --repeats 1 --runs 3   # a smoke run (MNIST's first step only when --data-dir has it)

The 100 runs are one real Digits run (1 epoch) copied into 100 run folders,
each with its own seed in config.yaml and its own folder name, so `compare`
reads 100 real config.yaml / results.json pairs. Each command runs --repeats
times as a fresh process; the median is printed. Targets: `--help` and
`compare` under 0.5 s. The time to the first training step is bench's own
`seconds_to_first_step` (results.json), counted from its package import:
TensorFlow's import, the data, the model, tracing and the first step.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=str(PROJECT))
sys.path.insert(0, str(PROJECT))
from bench.run.results import identity_sha256  # noqa: E402 (after the project is importable)


def run(args, folder):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=folder, capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"bench {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return seconds


def make_runs(folder, count):
    """One real Digits run, copied into `count` run folders that differ in seed and name."""
    run(["train", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "1"], folder)
    source = folder / "log/SingleLayerCAE/Digits_Adam_lr=0.001_epochs=1"
    for seed in range(1, count):
        target = source.with_name(f"{source.name}_seed{seed}")
        shutil.copytree(source, target)
        config = yaml.safe_load((target / "config.yaml").read_text())
        config.update(seed=seed, comment=f"seed{seed}")
        (target / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        # the copy's results.json says what it now is, as a run trained with that seed would
        results = json.loads((target / "results.json").read_text())
        identity = dict(results["identity"], seed=seed, comment=f"seed{seed}")
        results.update(identity=identity, identity_sha256=identity_sha256(identity))
        (target / "results.json").write_text(json.dumps(results))
    return json.loads((source / "results.json").read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(PROJECT.parent / "shared" / "data"))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=100, help="run folders for bench compare to read")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        digits = make_runs(folder, args.runs)
        commands = {"bench --help": ["--help"], "bench list": ["list"],
                    f"bench compare ({args.runs} runs)": ["compare"], "python -c pass": None}
        for label, command in commands.items():
            if command is None:
                times = [timed_python(folder) for _ in range(args.repeats)]
            else:
                times = [run(command, folder) for _ in range(args.repeats)]
            target = "  (target < 0.5 s)" if label.startswith(("bench --help", "bench compare")) else ""
            print(f"{label:>26}: median {statistics.median(times):.3f} s, best {min(times):.3f} s{target}", flush=True)
        rows = subprocess.run([sys.executable, "-m", "bench", "compare", "--format", "csv"], cwd=folder,
                              capture_output=True, text=True, env=ENV).stdout.strip().splitlines()
        print(f"{'':>26}  (compare listed {len(rows) - 1} runs)")
        print(f"{'first training step':>26}: {digits['seconds_to_first_step']:.2f} s after bench started "
              "(Digits, SingleLayerCAE)")
        if not (Path(args.data_dir) / "mnist").is_dir():
            print(f"{'first training step':>26}: MNIST not measured (no {Path(args.data_dir) / 'mnist'})")
            return
        mnist = folder / "mnist"
        mnist.mkdir()
        run(["train", "--model", "SingleLayerCAE", "--dataset", "MNIST", "--epochs", "1", "--data-dir",
             str(Path(args.data_dir).resolve())], mnist)
        results = json.loads((mnist / "log/SingleLayerCAE/MNIST_Adam_lr=0.001_epochs=1/results.json").read_text())
        print(f"{'first training step':>26}: {results['seconds_to_first_step']:.2f} s after bench started "
              "(real MNIST from --data-dir, SingleLayerCAE)")


def timed_python(folder):
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], cwd=folder, check=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
