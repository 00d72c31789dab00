"""Fault injection: a run killed with SIGKILL at random moments, each time followed by
the same command, must end with the same numbers as an uninterrupted run of that
seed, a whole history, its pictures and its projector.

    python benchmarks/faults.py [--kills 20] [--epochs 40] [--batch-size 4] [--seed 0] [--model VAE]
    python benchmarks/faults.py --kills 1 --epochs 2 --batch-size 64   # a smoke run

Trains SingleLayerCAE (or --model, with --model-args) on Digits (offline) in a temporary folder: once without
interruption (the reference, timed), then again with a SIGKILL at each of
`--kills` moments, one in five drawn in the start-up, the others over what is
left of the run's epochs and its ending (timed from the reference), the same
command run after each kill (the one after the last runs to the end). Prints a
table of what each kill hit (the run's status and epochs when it was killed) and
whether the run ended whole and equal to the reference.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command(args):
    return [sys.executable, "-m", "bench", "train", "-m", args.model, "-d", "Digits", "--model-args", args.model_args,
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--seed", str(args.seed)]


def environment(folder):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env["BENCH_DATA_DIR"] = str(folder / "cache")
    return env


def run_folder(folder):
    runs = [path.parent for path in folder.glob("log/*/*/config.yaml")]
    return runs[0] if runs else None


def read_results(folder):
    run = run_folder(folder)
    try:
        return json.loads((run / "results.json").read_text()) if run else {}
    except (OSError, ValueError):
        return {"status": "results.json unreadable"}


def whole(folder, epochs):
    """What is missing or wrong in a run that says it is finished (empty: nothing)."""
    run, results = run_folder(folder), read_results(folder)
    problems = []
    if results.get("status") != "finished":
        problems.append(f"status {results.get('status')!r}")
    if [entry["epoch"] for entry in results.get("history", [])] != list(range(1, epochs + 1)):
        problems.append("history incomplete")
    for name in ("reconstructions.png", "curves.png", "projector/projector_config.pbtxt", "results.txt"):
        if run is None or not (run / name).is_file():
            problems.append(f"{name} missing")
    return problems


def final_numbers(results):
    """The numbers an uninterrupted run must match exactly: the best model's, and every epoch's."""
    best = results.get("best", {})
    numbers = {split: {key: best.get(split, {}).get(key) for key in ("error", "mse", "psnr", "epoch", "step")}
               for split in ("validation", "test")}
    numbers["history"] = [{key: entry[key] for key in ("epoch", "step", "train_error", "validation_error")}
                          for entry in results.get("history", [])]
    return numbers


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="SingleLayerCAE")
    parser.add_argument("--model-args", default="{}")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-faults-") as scratch:
        reference_dir, faulty_dir = Path(scratch) / "reference", Path(scratch) / "faulty"
        reference_dir.mkdir()
        faulty_dir.mkdir()
        started = time.perf_counter()
        subprocess.run(command(args), cwd=reference_dir, env=environment(reference_dir), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        duration = time.perf_counter() - started
        reference = read_results(reference_dir)
        rng = random.Random(args.seed)
        rows = []
        startup = reference.get("seconds_to_first_step", 0.0)
        for kill in range(1, args.kills + 1):
            # one kill in five during the start-up, the others in what is left of the run's
            # epochs and its ending
            left = 1.0 - read_results(faulty_dir).get("epochs_done", 0) / args.epochs
            delay = (rng.uniform(0.0, startup) if rng.random() < 0.2
                     else startup + rng.uniform(0.0, left * (duration - startup)))
            process = subprocess.Popen(command(args), cwd=faulty_dir, env=environment(faulty_dir),
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            try:
                process.wait(timeout=delay)
                outcome = f"ended before the kill (exit {process.returncode})"
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                state = read_results(faulty_dir)
                outcome = f"killed: status {state.get('status', 'none yet')}, epochs {state.get('epochs_done', 0)}"
            if process.returncode not in (0, -9):
                outcome += f"; error: {process.stderr.read().strip().splitlines()[-1:]}"
            rows.append((kill, f"{delay:.1f}", outcome))
        last = subprocess.run(command(args), cwd=faulty_dir, env=environment(faulty_dir), capture_output=True,
                              text=True)
        problems = whole(faulty_dir, args.epochs)
        if last.returncode != 0:
            problems.append(f"the last command failed: {last.stderr.strip().splitlines()[-1:]}")
        same = final_numbers(read_results(faulty_dir)) == final_numbers(reference)
        print(f"reference: {args.model}, {args.epochs} epochs in {duration:.1f} s; test error "
              f"{final_numbers(reference)['test']['error']}\n")
        print("| kill | at (s) | what it hit |")
        print("|---:|---:|---|")
        for row in rows:
            print(f"| {row[0]} | {row[1]} | {row[2]} |")
        errors = sum("error:" in row[2] for row in rows)
        print(f"\n{len(rows)} kills; commands that failed between kills: {errors}; run whole at the end: "
              f"{'yes' if not problems else 'NO (' + ', '.join(problems) + ')'}; same numbers as the "
              f"reference: {'yes' if same else 'NO'}")
        if not same:
            print("reference:", final_numbers(reference))
            print("killed run:", final_numbers(read_results(faulty_dir)))
        sys.exit(0 if same and not problems and not errors else 1)


if __name__ == "__main__":
    main()
