"""Warm against cold starts of the trainings of sweeps, searches and confirmations
(bench.study.warm), side by side in one run, on Digits (offline).

    python benchmarks/warm_starts.py                       # 20 trainings, 20-trial studies, 100 for memory
    python benchmarks/warm_starts.py --trials 3 --rounds 1 --memory-trials 3    # a smoke run

1. Turn-around: `--trials` trainings in a row (SingleLayerCAE, 1 epoch, each its own learning
   rate, so each is a new run), started as a search's worker starts them
   (bench.study.processes.start_training), warm and then cold: from asking for a training to
   its first step's end (results.json's seconds_to_first_step, which counts from there), and
   from one training's end to the next one's first step's end.
2. Whole studies: `bench search` of `--trials` trials (random sampler, no pruning, no
   confirmation, 1 epoch each), warm and cold in turn (the order swapped every round),
   `--rounds` times: wall times and their ratio.
3. Memory: `--memory-trials` trainings from one start-up process: the start-up process's
   resident memory before and after, and the peak resident memory of the first and the last
   ten trainings (VmHWM, read while each runs).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.study import processes, warm  # noqa: E402  (after the path: bench from this clone)


class Warnings:
    """What processes.warm_starts reports to: printed."""

    def warning(self, line):
        print(f"warning: {line}", flush=True)


def config_file(folder, number, extra=None):
    """A training's --config file: SingleLayerCAE on Digits, 1 epoch, its own learning rate."""
    point = {"model": "SingleLayerCAE", "dataset": "Digits", "epochs": 1, "extras": "none",
             "optimizer_args": {"learning_rate": round(1e-3 * (1 + number / 1000), 7)},
             "log_dir": str(folder / "log"), **(extra or {})}
    path = folder / f"point{number}.yaml"
    path.write_text(yaml.safe_dump(point))
    return path


def results_of(folder):
    (results,) = (folder / "log").glob("*/*/results.json")  # one run per log folder
    return json.loads(results.read_text())


def status_kib(pid, field):
    """A field of /proc/PID/status in KiB (VmHWM: peak resident memory, VmRSS: resident now);
    None once the process has ended."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in lines if line.startswith(f"{field}:")), None)


def trainings_in_a_row(base, count, cold, watch_memory=False):
    """Train `count` new runs one after another; ([seconds to first step], [end → next first
    step], [peak RSS KiB of each], (start-up RSS before, after) or None)."""
    firsts, gaps, peaks, zygote_rss = [], [], [], None
    warm.end_kept()  # each row starts as a new sweep's process would: its first training waits for the imports
    with processes.warm_starts(Warnings(), cold=cold):
        starts = processes._warm_starts
        ended = None
        for number in range(count):
            folder = base / f"{'cold' if cold else 'warm'}{number}"
            folder.mkdir(parents=True)
            with open(folder / "output.log", "w") as output:
                asked = time.time()
                training = processes.start_training(config_file(folder, number), output=output)
                peak = None
                while training.poll() is None:
                    if watch_memory and training.pid is not None:
                        peak = status_kib(training.pid, "VmHWM") or peak
                    time.sleep(0.02)
            if training.returncode != 0:
                raise SystemExit(f"training {number} failed: {(folder / 'output.log').read_text()[-2000:]}")
            first = results_of(folder)["seconds_to_first_step"]
            firsts.append(first)
            if ended is not None:
                gaps.append(asked - ended + first)
            ended = time.time()
            peaks.append(peak)
            if watch_memory and starts is not None:
                zygote = starts.start_up_pid
                zygote_rss = (zygote_rss or (status_kib(zygote, "VmRSS"),))[:1] + (status_kib(zygote, "VmRSS"),)
    return firsts, gaps, peaks, zygote_rss


def median(values):
    return statistics.median(values) if values else float("nan")


def turn_around(base, trials):
    print(f"\n1. {trials} trainings in a row (SingleLayerCAE, Digits, 1 epoch each)")
    print("| start | ask → first step's end (median) | one's end → next's first step's end (median) |")
    print("|---|---|---|")
    figures = {}
    for name, cold in (("warm", False), ("cold", True)):
        firsts, gaps, _, _ = trainings_in_a_row(base / f"row-{name}", trials, cold)
        figures[name] = median(gaps)
        print(f"| {name} | {median(firsts):.2f} s (first one {firsts[0]:.2f} s) | {median(gaps):.2f} s |", flush=True)
    print(f"end → next first step, cold / warm: {figures['cold'] / figures['warm']:.1f}×")


def whole_studies(base, trials, rounds):
    print(f"\n2. bench search, {trials} trials (random sampler, no pruning, 1 epoch), {rounds} round(s)")
    space = base / "space.yaml"
    space.write_text("model: SingleLayerCAE\ndataset: Digits\nepochs: 1\nextras: none\n"
                     "optimizer_args.learning_rate: {log_uniform: [1.0e-4, 3.0e-2]}\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    times = {"warm": [], "cold": []}
    for round_ in range(rounds):
        order = ("warm", "cold") if round_ % 2 == 0 else ("cold", "warm")
        for name in order:
            folder = base / f"study-{name}-{round_}"
            folder.mkdir()
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "bench", "search", "--space", str(space), "--study", "s",
                            "--trials", str(trials), "--sampler", "random", "--pruner", "none", "--confirm", "0",
                            *(["--cold"] if name == "cold" else [])], cwd=folder, env=env, check=True,
                           capture_output=True)
            times[name].append(time.perf_counter() - started)
        print(f"round {round_ + 1}: warm {times['warm'][-1]:.1f} s, cold {times['cold'][-1]:.1f} s", flush=True)
    warm, cold = median(times["warm"]), median(times["cold"])
    print(f"study of {trials} trials: warm {warm:.1f} s, cold {cold:.1f} s (medians); warm / cold: {warm / cold:.2f}")


def memory(base, trials):
    print(f"\n3. {trials} trainings from one start-up process: resident memory")
    _, _, peaks, zygote = trainings_in_a_row(base / "memory", trials, cold=False, watch_memory=True)
    peaks = [peak / 1024 for peak in peaks if peak]
    head, tail = peaks[:10], peaks[-10:]
    print(f"start-up process RSS: {zygote[0] / 1024:.0f} MiB after the first training, "
          f"{zygote[1] / 1024:.0f} MiB after the last")
    print(f"a training's peak RSS: first {len(head)}: median {median(head):.0f} MiB, max {max(head):.0f} MiB; "
          f"last {len(tail)}: median {median(tail):.0f} MiB, max {max(tail):.0f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory-trials", type=int, default=100)
    parser.add_argument("--parts", default="turn-around,studies,memory")
    args = parser.parse_args()
    parts = args.parts.split(",")
    with tempfile.TemporaryDirectory() as temporary:
        base = Path(temporary)
        if "turn-around" in parts:
            turn_around(base, args.trials)
        if "studies" in parts:
            whole_studies(base, args.trials, args.rounds)
        if "memory" in parts:
            memory(base, args.memory_trials)


if __name__ == "__main__":
    main()
