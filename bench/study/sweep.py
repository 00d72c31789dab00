"""Sweeps (behind `bench sweep`): a grid of ordinary `bench train` runs, each in its own process.

The grid comes from the command line (comma-separated values: `--dataset
MNIST,Cifar10 --l2-penalty 0,1e-9`) or from a YAML file whose list values are
the axes. Each point is written to a YAML file and trained with `bench train
--config` in a process of its own, N at a time, so each run is a normal run
folder, resumable on its own; a run that fails is reported and the others go
on; re-running the sweep resumes unfinished runs and skips finished ones.
Every identity key is part of a run's folder name, so every point (every
seed of `--repeats N` too) is a run of its own; two points that name the same
run are trained once.
"""

import contextlib
import itertools
import shutil
import signal
import time
from pathlib import Path

import yaml

from bench.errors import BenchError, BenchUsageError, TrainingStopped
from bench.files import scratch_folder
from bench.run.config import TrainConfig
from bench.run.planning import plan_run
from bench.run.runs import RunFolder
from bench.console import RunsBoard
from bench.signals import StopSignals
from bench.study.processes import death_words, last_error, start_training, warm_starts
from bench.study.progress import epochs_of

POLL_S = 0.2


def split_values(value):
    """The values of one command-line axis: comma-separated, but JSON never split."""
    text = value.strip()
    if text.startswith(("{", "[")):
        return [text]
    return [part.strip() for part in text.split(",") if part.strip()]


def grid_from_tokens(tokens, names, flags):
    """{option: [values]} from `--option v1,v2 --flag ...` command-line tokens.

    Args:
        names: {spelling without dashes, underscores for dashes: option name} of `bench train`.
        flags: option names that take no value.
    """
    grid, position = {}, 0
    while position < len(tokens):
        token = tokens[position]
        if not token.startswith("--"):
            raise BenchUsageError(f"unexpected '{token}': give sweep options as --option value1,value2")
        key, _, inline = token[2:].partition("=")
        name = names.get(key.replace("-", "_"))
        if name is None:
            raise BenchUsageError(f"bench train has no option '--{key}'; 'bench train --help' lists them")
        if name in flags:
            grid[name] = [True]
            position += 1
            continue
        if not inline:
            if position + 1 >= len(tokens):
                raise BenchUsageError(f"--{key} needs a value")
            inline = tokens[position + 1]
            position += 1
        grid[name] = split_values(inline)
        position += 1
    return grid


def grid_from_file(path, names, refused=()):
    """{option: [values]} from a YAML mapping whose list values are the axes
    (`refused`: option names a file may not give)."""
    from bench.run.config import read_yaml_mapping

    grid = {}
    for key, value in read_yaml_mapping(path).items():
        name = names.get(str(key).replace("-", "_"))
        if name is None:
            raise BenchUsageError(f"{path}: unknown key '{key}'; the keys are those of bench train")
        if name in refused:
            raise BenchUsageError(f"{path}: '{key}' deletes runs, so bench takes it only from the command line "
                                  f"(bench sweep --{name}); remove it from the file")
        grid[name] = value if isinstance(value, list) else [value]
    return grid


def expand(grid):
    """Every combination of the grid's values, as a list of {option: value}."""
    for required in ("model", "dataset"):
        if required not in grid:
            raise BenchUsageError(f"a sweep needs --{required} (one value or several, comma-separated)")
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[key] for key in keys))]


def _label(point, grid):
    varying = [key for key in grid if len(grid[key]) > 1]
    return " ".join(f"{key}={point[key]}" for key in varying) or " ".join(f"{k}={v}" for k, v in point.items())


def with_repeats(grid, repeats):
    """The grid with a seed axis of `repeats` seeds: S..S+repeats-1 from the one --seed S (0 by default).

    Raises:
        BenchUsageError: --repeats with several --seed values.
    """
    if repeats <= 1:
        return grid
    seeds = grid.get("seed", [0])
    if len(seeds) != 1:
        raise BenchUsageError("--repeats N runs seeds S..S+N-1 from one --seed S; give one seed, or list the seeds")
    try:
        first = int(seeds[0])
    except (TypeError, ValueError) as error:
        raise BenchUsageError(f"--seed {seeds[0]!r} is not an integer") from error
    return dict(grid, seed=list(range(first, first + repeats)))


def run_sweep(grid, jobs, report, echo=False, restart=False):
    """Train every point of the grid, `jobs` at a time, each in a process of its own;
    points whose run is already finished are not started again, and points `bench train`
    would refuse (an impossible value, a longer run) are reported without a process.
    Nothing here imports TensorFlow: the runs are planned by bench.run.planning.

    Args:
        echo: let the processes write to this console (for one job at a time).
        restart: start every point's run over (`bench train --restart`).

    Returns:
        (run folders, [(label, error line)] of the failed runs, number of runs).
    """
    points = expand(grid)
    folders, failures = [], []
    scratch = scratch_folder("sweep")
    try:
        pending, seen = [], {}
        for number, point in enumerate(points, 1):
            config_file = scratch / f"run{number}.yaml"
            config_file.write_text(yaml.safe_dump(point, sort_keys=False))
            label = _label(point, grid)
            try:
                plan = plan_run(TrainConfig.from_point(point), restart)
            except BenchError as error:  # an impossible value: refused here, as bench train would refuse it
                report.warning(f"REFUSED: {label}: {error}")
                failures.append((label, str(error)))
                continue
            if plan.folder in seen:  # two points, one run: train it once
                report.warning(f"{label} is the same run as {seen[plan.folder]} ({plan.folder}): trained once")
                continue
            seen[plan.folder] = label
            if plan.finished:
                report.info(f"already finished: {label} → {plan.folder}")
                folders.append(plan.folder)
                continue
            if plan.continues:
                report.info(f"{label}: made from the shorter run {plan.continues}, which stays as it is")
            pending.append((config_file, plan.folder, label))
        refused_points = len(failures)
        report.info(f"sweep: {len(pending)} run(s) to train, {jobs} at a time")
        with StopSignals() as signals:
            _train_pending(pending, jobs, report, echo, restart, signals, folders, failures)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return folders, failures, len(pending) + refused_points


def _train_pending(pending, jobs, report, echo, restart, signals, folders, failures):
    """Run the pending points, `jobs` at a time, each running run's epoch shown live on a
    terminal (unless `echo`: the runs write there themselves); on SIGINT/SIGTERM, pass it on
    to the running trainings (each saves its checkpoint), wait for them and stop."""
    running, total = {}, len(pending)
    pending = list(enumerate(pending, 1))
    with (contextlib.nullcontext(RunsBoard(None, "", 0)) if echo else report.runs_board("sweep", total)) as board:
        while pending or running:
            while pending and len(running) < jobs and not signals.received:
                number, (config_file, folder, label) = pending.pop(0)
                running[number] = _start(config_file, folder, number, total, label, report, echo, restart)
            time.sleep(POLL_S)
            if signals.received:
                _stop_all(running, signals.received, report)
            for number in [n for n, job in running.items() if job["process"].poll() is not None]:
                job = running.pop(number)
                error = _finish(job, number, total, report)
                if job["folder"] and Path(job["folder"]).is_dir():
                    folders.append(job["folder"])
                if job["process"].returncode != 0:
                    failures.append((job["label"], error))
            board.show({job["label"]: epochs_of(job["folder"]) for job in running.values()},
                       done=total - len(pending) - len(running))


def _stop_all(running, signum, report):
    name = signal.Signals(signum).name
    for job in running.values():
        if job["process"].poll() is None:
            job["process"].send_signal(signum)
    for job in running.values():
        job["process"].wait()
        if job["output"] is not None:
            job["output"].close()
    raise TrainingStopped(f"{name} received: stopped the sweep; the {len(running)} running training(s) saved "
                          "their checkpoints. Run the same command to resume", exit_code=128 + signum)


def _start(config_file, folder, number, total, label, report, echo, restart):
    output = None if echo else open(config_file.with_suffix(".out"), "w")
    process = start_training(config_file, restart, output)
    report.info(f"[{number}/{total}] started: {label}")
    return {"process": process, "output": output, "label": label, "folder": folder, "started": time.time(),
            "progress": _progress(folder)}


def _progress(folder):
    """(status, epochs done, steps) of the run in `folder`, None when it has no readable results."""
    if folder is None:
        return None
    try:
        results = RunFolder(folder).read_results()
    except BenchError:
        return None
    return results.get("status"), results.get("epochs_done"), results.get("steps")


def _finish(job, number, total, report):
    error = None
    if job["output"] is not None:
        job["output"].close()
        error = last_error(job["output"].name)
    seconds = time.time() - job["started"]
    code = job["process"].returncode
    reason = error or (death_words(code) if code < 0 else
                       "its error is above" if job["output"] is None else "no error message")
    already = job["progress"] is not None and job["progress"][0] == "finished" and \
        _progress(job["folder"]) == job["progress"]
    if code == 0 and already:  # its process found nothing to train (the plan could not tell beforehand)
        report.info(f"[{number}/{total}] already finished: {job['label']} → {job['folder']}")
    elif code == 0:
        report.info(f"[{number}/{total}] finished in {seconds:.0f} s: {job['label']} → {job['folder']}")
    else:
        report.warning(f"[{number}/{total}] FAILED (exit {code}) after {seconds:.0f} s: {job['label']}: "
                       f"{reason}")
    return error


def sweep_and_show(axes, jobs, repeats, restart=False, echo=False, cold=False):
    """Train the grid's runs, then show them (grouped over seeds where there are repeats).

    Args:
        restart, echo: as `run_sweep` takes them.
        cold: start each run as a new process, not forked from a warm one (bench.study.warm).
    """
    from bench.console import Reporter
    from bench.study.compare import show
    from bench.study.rows import run_row

    axes = with_repeats(axes, repeats)
    if "repeats" in axes:
        raise BenchUsageError("--repeats is an option of the sweep, not an axis")
    report = Reporter(interactive=False if echo else None)  # with echo, the runs draw their own progress
    with warm_starts(report, cold):
        folders, failures, total = run_sweep(axes, jobs, report, echo, restart)
    rows = [run_row(RunFolder(folder)) for folder in folders]
    if rows:
        show(rows, f"the {len(rows)} run(s) of the sweep", report=report)
    if failures:
        raise BenchError(f"{len(failures)} of {total} run(s) failed ({', '.join(label for label, _ in failures)}); "
                         "their errors are above; fix them and run the same command again")
