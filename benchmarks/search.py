"""`bench search` against a grid on a third of its epoch budget, its overhead, killed workers, and
whether the winner it reports holds when retrained.

    python benchmarks/search.py --data-dir ../shared/data --dataset MNIST --epochs 4 --seeds 5
    python benchmarks/search.py --parts honesty --model ConvAE --model-args '{"downsample": "stride"}' \\
        --epochs 6 --seeds 10
    python benchmarks/search.py --dataset Digits --epochs 1 --seeds 1 --small --strategies tpe-asha \\
        --retrain-seeds 0 --workers 1 --chaos 0                       # a smoke run, offline

1. The reference is a grid (`--sampler grid`, no pruning) of SingleLayerCAE settings:
   learning rate × batch size × L2, 3 × 3 × 3 = 27 configurations (1 with --small),
   each trained `--epochs` epochs. Its best configuration is retrained with
   `--retrain-seeds` seeds: its mean and spread.
2. Each strategy (TPE + ASHA, random + ASHA, TPE without pruning) searches with each of
   `--seeds` sampler seeds until its trials have trained a third of the grid's epochs,
   the learning rate drawn on a log scale over the grid's range widened `--range-factor`
   times at each end (as a user who does not know where the best rate lies would);
   its winner is retrained with the same seeds. A search "finds the grid's best" when
   its winner's mean is at most max(the grid best's std, --tolerance × its mean) above it.
3. Overhead: from one trial's process start to its first training step (Python,
   TensorFlow, the data, tracing), and from one trial's end to the next one's first step
   (the worker's turn-around added), against the trial's whole time; and the cost of one
   per-epoch report to the study.
4. Chaos (`--chaos N`): N rounds of two workers on one study (TPE, and a 4-point grid every
   other round); at a random moment one of them, a trial's own process, or a trial's process
   and then its retry's is killed (SIGKILL): points lost, done twice, left running.

5. Honesty (`--parts honesty`, e.g. `--model ConvAE --model-args '{"downsample": "stride"}'
   --epochs 6`): on the same grid, each of HONESTY's strategies searches with each of
   `--seeds` sampler seeds, within half the grid's epochs, confirmation included. Each
   winner is retrained over 3 independent seeds (2000-2002): is the grid's best found (as in
   2), how far is the winner's reported figure (its confirmed mean, or the best trial's own
   value without confirmation) from that retrain (the winner's curse), and does it lie
   inside the retrain's 95% interval; and how many trials finished or were pruned.

Every search and the grid run in their own log folder in a temporary directory (no
run is reused across them); two trials at a time (`--workers`).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STRATEGIES = {"tpe-asha": ("tpe", "asha"), "random-asha": ("random", "asha"), "tpe-none": ("tpe", "none")}
GRID = {"lr": [1e-3, 3e-3, 1e-2], "batch_size": [32, 64, 128], "l2_penalty": [0, 1e-5, 1e-4]}
SMALL_GRID = {"lr": [1e-2], "batch_size": [64], "l2_penalty": [0]}


def environment(args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    if args.data_dir:
        env["BENCH_DATA_DIR"] = str(Path(args.data_dir).resolve())
    return env


def space_text(args, grid, searched):
    """The space file: the grid's values as choices, or (searched) the learning rate drawn on
    a log scale over the grid's range, widened --range-factor times at each end."""
    lines = [f"model: {args.model}", f"dataset: {args.dataset}", f"epochs: {args.epochs}"]
    lines += [f"model_args.{key}: {json.dumps(value)}" for key, value in json.loads(args.model_args).items()]
    if searched and len(grid["lr"]) > 1:
        low, high = min(grid["lr"]) / args.range_factor, max(grid["lr"]) * args.range_factor
        lines.append(f"optimizer_args.learning_rate: {{log_uniform: [{low:.3g}, {high:.3g}]}}")
    else:
        lines.append(f"optimizer_args.learning_rate: {{choice: {json.dumps(grid['lr'])}}}")
    lines.append(f"batch_size: {{choice: {json.dumps(grid['batch_size'])}}}")
    lines.append(f"l2_penalty: {{choice: {json.dumps(grid['l2_penalty'])}}}")
    return "\n".join(lines) + "\n"


def bench(args, folder, *command, check=True):
    done = subprocess.run([sys.executable, "-m", "bench", *command], cwd=folder, env=environment(args),
                          capture_output=True, text=True)
    if check and done.returncode != 0:
        sys.exit(f"bench {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done


def study(folder, name):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    backend = optuna.storages.journal.JournalFileBackend(str(folder / "log" / "_studies" / name / "journal.log"))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


def trained_epochs(found):
    return sum(trial.user_attrs.get("epochs") or 0 for trial in found.trials)


def search(args, folder, name, sampler, pruner, seed, trials=None, budget=None, extra=()):
    """Run `bench search` until `trials` trials, or until its trials have trained `budget` epochs."""
    common = ["search", "--space", "space.yaml", "--study", name, "--sampler", sampler, "--pruner", pruner,
              "--seed", str(seed), "--workers", str(args.workers), "--confirm", "0", *extra,
              *(["--min-epochs", str(args.min_epochs)] if args.min_epochs else [])]
    count = trials or args.workers
    while True:
        bench(args, folder, *common, "--trials", str(count))
        found = study(folder, name)
        used = trained_epochs(found)
        if trials or used >= budget:
            return found, used
        count += max(1, round((budget - used) / args.epochs))


def retrain(args, folder, trial, seeds=None, log_name="retrained"):
    """The mean and std of the validation error of a trial's settings over `seeds` (default:
    --retrain-seeds seeds from 100), a sweep in a log folder of its own; with no seeds, the
    trial's own value. A trial may be a FrozenTrial or its params."""
    params = trial if isinstance(trial, dict) else trial.params
    seeds = list(range(100, 100 + args.retrain_seeds)) if seeds is None else seeds
    if not seeds:
        return trial.value, 0.0
    errors = retrained_errors(args, folder, params, seeds, log_name)
    return statistics.mean(errors), (statistics.stdev(errors) if len(errors) > 1 else 0.0)


def retrained_errors(args, folder, params, seeds, log_name):
    """The validation errors of `params` trained with each of `seeds` (a sweep of its own)."""
    log = folder / log_name
    model_args = dict(json.loads(args.model_args))
    model_args.update({key.split(".", 1)[1]: value for key, value in params.items() if key.startswith("model_args.")})
    point = ["--model", args.model, "--dataset", args.dataset, "--epochs", str(args.epochs),
             "--batch-size", str(params["batch_size"]), "--l2-penalty", str(params["l2_penalty"]),
             "--optimizer-args", json.dumps({"learning_rate": params["optimizer_args.learning_rate"]}),
             *(["--model-args", json.dumps(model_args)] if model_args else []),
             "--seed", ",".join(str(seed) for seed in seeds), "--jobs", str(args.workers), "--log-dir", str(log)]
    bench(args, folder, "sweep", *point)
    return [json.loads(path.read_text())["best"]["validation"]["error"]
            for path in log.glob(f"{args.model}/*/results.json")]


def overhead(found, folder):
    """(median seconds from a trial's process start to its first step, median seconds of a trial)."""
    firsts, totals = [], []
    for trial in found.trials:
        run = trial.user_attrs.get("run")
        if trial.state.name not in ("COMPLETE", "PRUNED") or not run:
            continue
        results = json.loads((folder / run / "results.json").read_text())
        if results.get("seconds_to_first_step"):
            firsts.append(results["seconds_to_first_step"])
        totals.append((trial.datetime_complete - trial.datetime_start).total_seconds())
    return (statistics.median(firsts) if firsts else float("nan")), statistics.median(totals)


def handover(found, folder):
    """Median seconds from a trial's end to the first training step of the trial that took its
    place: the next trial to start after it, its wait to be asked plus its process's start."""
    ended = sorted(trial.datetime_complete for trial in found.trials if trial.datetime_complete)
    gaps = []
    for trial in found.trials:
        run = trial.user_attrs.get("run")
        before = [end for end in ended if end <= trial.datetime_start]
        if trial.state.name not in ("COMPLETE", "PRUNED") or not run or not before:
            continue
        first = json.loads((folder / run / "results.json").read_text()).get("seconds_to_first_step")
        if first:
            gaps.append((trial.datetime_start - before[-1]).total_seconds() + first)
    return statistics.median(gaps) if gaps else float("nan")


def report_cost(folder, rounds=50):
    """Seconds of one per-epoch report (report + should_prune) to a journal study, opened as
    bench opens it (its lock too)."""
    import optuna

    from bench.study.pruning import make_pruner, open_storage

    timed = optuna.create_study(storage=open_storage(str(folder / "cost.log")), pruner=make_pruner("asha", rounds))
    trial = timed.ask()
    started = time.perf_counter()
    for epoch in range(1, rounds + 1):
        trial.report(1.0 / epoch, epoch)
        trial.should_prune()
    return (time.perf_counter() - started) / rounds


CHAOS_GRID = {"lr": [1e-3, 1e-2], "batch_size": [32, 64], "l2_penalty": [0]}
KILLS = ("worker", "trial", "retry")


def chaos(args, folder, rounds):
    """`rounds` rounds of two workers on one 4-trial study (TPE, or a 4-point grid every other
    round); in each, at a random moment, one of: a worker killed (SIGKILL), a trial's own
    process killed (as the OOM killer would), or a trial's process and then its retry's.
    Returns (points lost, points done twice, trials left running or queued, runs left running)."""
    lost = twice = running = runs_running = 0
    rng = random.Random(args.chaos_seed)
    for number in range(rounds):
        name, sampler, kill = f"chaos{number}", ("tpe", "grid")[number % 2], rng.choice(KILLS)
        log_dir = folder / f"chaos{number}"
        log_dir.mkdir()
        (log_dir / "space.yaml").write_text(space_text(args, CHAOS_GRID, searched=sampler == "tpe"))
        command = [sys.executable, "-m", "bench", "search", "--space", "space.yaml", "--study", name, "--trials", "4",
                   "--sampler", sampler, "--pruner", "none", "--lease-seconds", "3", "--log-dir", "log",
                   *(["--storage", args.chaos_storage] if args.chaos_storage else [])]
        workers = [subprocess.Popen([*command, "--seed", str(seed)], cwd=log_dir, env=environment(args),
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for seed in (0, 1)]
        time.sleep(rng.uniform(3, 12))
        _kill(workers, kill, rng)
        for worker in workers:
            worker.wait(timeout=900)
        found = _chaos_study(log_dir, name, args.chaos_storage)
        states = [trial.state.name for trial in found.trials]
        running += states.count("RUNNING") + states.count("WAITING")
        done = [trial for trial in found.trials if trial.state.name == "COMPLETE"]
        runs = [trial.user_attrs.get("run") for trial in done]
        points = {json.dumps(trial.params, sort_keys=True) for trial in done}
        twice += len(runs) - len(set(runs))
        lost += max(0, 4 - len(points))
        left = [path for path in (log_dir / "log").glob("*/*/results.json")
                if json.loads(path.read_text()).get("status") == "running"]
        runs_running += len(left)
        print(f"  chaos round {number + 1} ({sampler}, {kill} killed): "
              f"{dict((s, states.count(s)) for s in sorted(set(states)))}, {len(points)} points done, "
              f"{len(left)} run(s) left running", flush=True)
    return lost, twice, running, runs_running


def _kill(workers, kill, rng):
    """Kill a worker, a trial's process, or a trial's process and then its retry's."""
    if kill == "worker":
        workers[0].kill()
        workers[0].wait()
        return
    for _ in range(1 if kill == "trial" else 2):
        trials = [pid for worker in workers if worker.poll() is None for pid in _children(worker.pid)]
        if not trials:
            return
        try:
            os.kill(rng.choice(trials), 9)
        except ProcessLookupError:
            pass
        time.sleep(rng.uniform(4, 8))  # the retry starts (a live worker queues it at once)


def _children(pid):
    """The processes whose parent is `pid` (Linux's /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def _chaos_study(log_dir, name, storage=None):
    import optuna

    if storage:
        return optuna.load_study(study_name=name, storage=storage)
    backend = optuna.storages.journal.JournalFileBackend(str(log_dir / "log" / "_studies" / name / "journal.log"))
    return optuna.load_study(study_name=name, storage=optuna.storages.JournalStorage(backend))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="Digits")
    parser.add_argument("--model", default="SingleLayerCAE")
    parser.add_argument("--model-args", default="{}", help='JSON every run shares, e.g. {"downsample": "stride"}')
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seeds", type=int, default=10, help="search seeds per strategy")
    parser.add_argument("--retrain-seeds", type=int, default=3, help="0: each winner's own value")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--tolerance", type=float, default=0.05, help="relative to the grid best's mean")
    parser.add_argument("--range-factor", type=float, default=3.0,
                        help="the searched learning-rate range: the grid's, widened this many times at each end")
    parser.add_argument("--min-epochs", type=int, default=None,
                        help="epochs before a trial can be pruned (default: bench search's)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--small", action="store_true", help="a 1-point grid (a smoke run)")
    parser.add_argument("--chaos", type=int, default=20, help="rounds of killing a worker, a trial or a retry")
    parser.add_argument("--chaos-seed", type=int, default=0)
    parser.add_argument("--chaos-storage", default=None,
                        help="an Optuna storage URL for the chaos rounds (PostgreSQL: Optuna's heartbeat); "
                             "default: each round's journal file")
    parser.add_argument("--parts", default="search,chaos", help="search (the grid, the strategies, the overhead), "
                                                                 "honesty, chaos: one or several, comma-separated")
    parser.add_argument("--honesty-strategies", default=",".join(HONESTY))
    parser.add_argument("--confirm", type=int, default=2, help="honesty: candidates confirmed")
    parser.add_argument("--confirm-repeats", type=int, default=3, help="honesty: seeds per candidate")
    args = parser.parse_args()
    grid = SMALL_GRID if args.small else GRID
    size = len(grid["lr"]) * len(grid["batch_size"]) * len(grid["l2_penalty"])
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        if "search" in args.parts.split(","):
            against_grid(args, root, grid, size)
        if "honesty" in args.parts.split(","):
            honesty(args, root, grid, size)
        if args.chaos and "chaos" in args.parts.split(","):
            lost, twice, running, runs_running = chaos(args, root, args.chaos)
            where = "PostgreSQL" if args.chaos_storage else "the journal"
            print(f"chaos on {where}: {args.chaos} rounds (TPE and a grid; a worker, a trial's process or a retry "
                  "killed): "
                  f"{lost} point(s) lost, {twice} done twice, {running} trial(s) left running or queued, "
                  f"{runs_running} run(s) left running")


def against_grid(args, root, grid, size):
    """The grid, each strategy on a third of its epochs, and the overhead of a trial."""
    grid_epochs, grid_mean, margin = grid_reference(args, root, grid, size)
    print("| strategy | found the grid's best | mean winner error | epochs trained | wall time |")
    print("|---|---|---|---|---|")
    for strategy in args.strategies.split(","):
        hits, errors, epochs, seconds, last = 0, [], [], [], None
        for seed in range(args.seeds):
            folder = root / f"{strategy}-{seed}"
            folder.mkdir()
            (folder / "space.yaml").write_text(space_text(args, grid, searched=True))
            started = time.perf_counter()
            last, used = search(args, folder, "s", *STRATEGIES[strategy], seed, budget=grid_epochs / 3)
            seconds.append(time.perf_counter() - started)
            mean, _ = retrain(args, folder, last.best_trial)
            hits += mean <= grid_mean + margin  # as good as the grid's best, or better
            errors.append(mean)
            epochs.append(used)
        print(f"| {strategy} | {hits} of {args.seeds} | {statistics.mean(errors):.5f} | "
              f"{statistics.mean(epochs):.0f} of {grid_epochs} | {statistics.mean(seconds):.0f} s |", flush=True)
    first_step, trial_seconds = overhead(last, folder)
    print(f"overhead: a trial's process start to its first step {first_step:.2f} s (median), a trial's end "
          f"to the next one's first step {handover(last, folder):.2f} s, a trial {trial_seconds:.1f} s; one "
          f"per-epoch report to the study {report_cost(root) * 1000:.2f} ms")


HONESTY = ("confirm", "plain", "asha-min1")
"""The honesty part's strategies, each within the same epochs (half the grid's): bench search's
defaults with --confirm (the winner: the best confirmed mean), the same search without
confirmation given all the epochs (the winner: the best trial's single value), and the same
with ASHA pruning from epoch 1 (the schedule that starved TPE)."""
INDEPENDENT_SEEDS = (2000, 2001, 2002)
"""Each winner's independent retrain: seeds neither a search nor a confirmation uses."""


def honesty(args, root, grid, size):
    """For each strategy and each of --seeds search seeds: is the grid's best found, what is the
    winner's reported figure, and does it lie in the 95% interval of an independent 3-seed retrain."""
    from scipy import stats

    grid_epochs, grid_mean, margin = grid_reference(args, root, grid, size, list(INDEPENDENT_SEEDS), "honesty-grid")
    budget = grid_epochs / 2
    confirming = args.confirm * args.confirm_repeats * args.epochs
    print(f"budget per search: {budget:.0f} epochs (half the grid's); with confirmation, {budget - confirming:.0f} "
          f"for the trials and {confirming} for {args.confirm} × {args.confirm_repeats} confirmation runs")
    print("| strategy | found the grid's best | mean retrained winner | winner's curse (reported vs retrained) | "
          "reported inside the retrain's 95% interval | trials finished / pruned | epochs |")
    print("|---|---|---|---|---|---|---|")
    for strategy in args.honesty_strategies.split(","):
        found, retrained, curses, inside, finished, pruned, epochs = 0, [], [], 0, [], [], []
        for seed in range(args.seeds):
            folder = root / f"honesty-{strategy}-{seed}"
            folder.mkdir()
            (folder / "space.yaml").write_text(space_text(args, grid, searched=True))
            params, reported, used, study_trials = honest_search(args, folder, strategy, seed, budget, confirming)
            errors = retrained_errors(args, folder, params, list(INDEPENDENT_SEEDS), "independent")
            mean = statistics.mean(errors)
            half = stats.t.ppf(0.975, len(errors) - 1) * statistics.stdev(errors) / len(errors) ** 0.5
            found += mean <= grid_mean + margin
            inside += abs(reported - mean) <= half
            retrained.append(mean)
            curses.append((reported - mean) / mean)
            states = [trial.state.name for trial in study_trials]
            finished.append(states.count("COMPLETE"))
            pruned.append(states.count("PRUNED"))
            epochs.append(used)
            print(f"  {strategy} seed {seed}: winner {params}, reported {reported:.5f}, retrained {mean:.5f} ± "
                  f"{statistics.stdev(errors):.5f} [{mean - half:.5f}, {mean + half:.5f}], {used} epochs, "
                  f"{states.count('COMPLETE')} finished / {states.count('PRUNED')} pruned", flush=True)
        print(f"| {strategy} | {found} of {args.seeds} | {statistics.mean(retrained):.5f} | "
              f"{statistics.mean(curses) * 100:+.1f}% (range {min(curses) * 100:+.1f}% to {max(curses) * 100:+.1f}%) | "
              f"{inside} of {args.seeds} | {statistics.mean(finished):.1f} / {statistics.mean(pruned):.1f} | "
              f"{statistics.mean(epochs):.0f} of {budget:.0f} |", flush=True)


def honest_search(args, folder, strategy, seed, budget, confirming):
    """One search of `strategy`; (the winner's params, its reported figure, epochs used, the trials)."""
    sampler, pruner, extra = "tpe", "median", ()
    if strategy == "asha-min1":
        pruner, extra = "asha", ("--min-epochs", "1")
    spend = budget - confirming if strategy == "confirm" else budget
    found, used = search(args, folder, "s", sampler, pruner, seed, budget=spend, extra=extra)
    if strategy != "confirm":
        best = found.best_trial
        return best.params, best.value, used, found.trials
    trials = len(found.trials)
    bench(args, folder, "search", "--space", "space.yaml", "--study", "s", "--seed", str(seed), "--trials",
          str(trials), "--workers", str(args.workers), "--confirm", str(args.confirm),
          "--confirm-repeats", str(args.confirm_repeats), *extra)
    shown = json.loads(bench(args, folder, "search", "--study", "s", "--show", "--format", "json").stdout)
    confirmation = shown["confirmation"]
    winner = next(c for c in confirmation["candidates"] if c["trial"] == confirmation["winner"])
    used += sum(len(c["runs"]) for c in confirmation["candidates"]) * args.epochs
    return winner["settings"], winner["mean"], used, found.trials


def grid_reference(args, root, grid, size, seeds=None, folder_name="grid"):
    """Train the grid in root/`folder_name`; (its epochs, its best's mean over `seeds`
    (--retrain-seeds from 100), the margin of "found")."""
    folder = root / folder_name
    folder.mkdir()
    (folder / "space.yaml").write_text(space_text(args, grid, searched=False))
    started = time.perf_counter()
    grid_study, grid_epochs = search(args, folder, "grid", "grid", "none", 0, trials=size)
    grid_seconds = time.perf_counter() - started
    best = grid_study.best_trial
    grid_mean, grid_std = retrain(args, folder, best, seeds)
    print(f"grid: {size} configurations × {args.epochs} epochs = {grid_epochs} epochs in {grid_seconds:.0f} s; "
          f"best {best.params}: {best.value:.5f} in the grid, retrained {grid_mean:.5f} ± {grid_std:.5f} over "
          f"{len(seeds) if seeds is not None else args.retrain_seeds} seed(s)", flush=True)
    return grid_epochs, grid_mean, max(grid_std, args.tolerance * grid_mean)


if __name__ == "__main__":
    main()
