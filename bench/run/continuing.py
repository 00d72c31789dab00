"""A longer run made from a shorter one's state.

A run's length is part of its identity (`--epochs` is in its name unless it is DTB's 150),
so a finished run is never trained further in place: `bench train --epochs 10` after a
5-epoch run makes the 10-epoch run's folder from the 5-epoch run's latest state, exactly
(every variable, the optimizer, the loop's counters, the best model, the history and the
TensorBoard curves so far), records where it began in its results.json ("continued_from"),
and trains the epochs left. Its every epoch equals a straight 10-epoch run's, since
training resumes exactly; the 5-epoch run's files are only read, under its run lock, so
they stay byte for byte as they were.

Nothing here imports TensorFlow.
"""

import contextlib
import json
import shutil

from bench.errors import BenchError
from bench.files import atomic_write_text, new_folder
from bench.run.config import write_yaml
from bench.run.results import identity_record
from bench.run.runs import (BEST, CHECKPOINTS, CONFIG_FILE, DATA_FILES, LOG_FILE, MODEL_FILE, MODEL_SOURCE,
                            RESULTS_JSON, TRAIN_EVENTS, VALIDATION_EVENTS, RunFolder)

CARRIED = (CHECKPOINTS, BEST, TRAIN_EVENTS, VALIDATION_EVENTS, MODEL_SOURCE, MODEL_FILE, DATA_FILES, LOG_FILE)
"""What a longer run takes from the shorter one (its results.json too, changed; config.yaml is
its own). The ending's pictures, projector and measures are made anew at its own end."""
CONTINUED_FROM = "continued_from"


def shorter_runs(config):
    """The runs that differ from `config`'s only in length and have trained fewer epochs than it
    asks for, with state to continue from: [(epochs done, steps, RunFolder)], longest first.
    Damaged runs and runs another process trains are left out."""
    model_folder = RunFolder.for_config(config).path.parent
    found = []
    for folder in sorted(model_folder.iterdir()) if model_folder.is_dir() else ():
        run = RunFolder(folder)
        if folder.name.startswith(".") or not run.is_run() or run.trainer() is not None:
            continue
        try:
            results = run.read_results()
            saved = run.read_config_values(results=results)
        except BenchError:
            continue
        done = results.get("epochs_done", 0)
        if config.differences(saved) == ["epochs"] and 0 < done < config.epochs and \
                (run.sub(CHECKPOINTS) / "checkpoint").is_file():
            found.append((done, results.get("steps", 0), run))
    return sorted(found, key=lambda item: item[:2], reverse=True)


def continue_from(source, target, config, report):
    """Make `target` (a RunFolder that does not exist yet) from `source`'s latest state, for
    `config` (which differs from the source's only in its epochs); held under `source`'s run
    lock, so that no process trains it meanwhile. Returns the results.json written."""
    with source.lock():
        results = source.read_results()
        with new_folder(target.path) as staging:
            for name in CARRIED:
                origin = source.sub(name)
                if origin.is_dir():
                    shutil.copytree(origin, staging / name)
                elif origin.is_file():
                    shutil.copy2(origin, staging / name)
            results = continued_results(results, source, config)
            atomic_write_text(staging / RESULTS_JSON, json.dumps(results, indent=2, sort_keys=True) + "\n")
            atomic_write_text(staging / CONFIG_FILE, write_yaml(config.to_dict()))
    report.info(f"continuing {source.path} ({results[CONTINUED_FROM]['epochs_done']} epochs) as a "
                f"{config.epochs}-epoch run; it stays as it is")
    return results


def continued_results(results, source, config):
    """The shorter run's results as the longer run's start: its history, best, progress and
    evaluations kept (each with its checkpoint's epoch: one the longer run replaces is marked
    stale), its ending's test measure left to the new run's end, where it began recorded."""
    kept = {key: value for key, value in results.items() if key != "updated"}
    kept.update(status="interrupted", epochs_planned=config.epochs,
                **{CONTINUED_FROM: {"run": str(source.path), "epochs_done": results.get("epochs_done", 0),
                                    "steps": results.get("steps", 0), "status": results.get("status", "?")}})
    if "validation" in kept.get("best", {}):
        kept["best"] = {"validation": kept["best"]["validation"]}
    return identity_record(kept, config.identity())


@contextlib.contextmanager
def removed_if_unusable(run, just_made):
    """Remove a run folder `just_made` from a shorter run's state when what it copied cannot be
    used (a damaged checkpoint, another model): the error then names the shorter run's files."""
    try:
        yield
    except BenchError as error:
        if not just_made:
            raise
        source = run.read_results().get(CONTINUED_FROM, {}).get("run", "the shorter run")
        shutil.rmtree(run.path, ignore_errors=True)
        message = str(error).replace(str(run.path), str(source))
        raise type(error)(f"{message} (it was to be continued as {run.path}, which was not kept)") from error


def make_longer_if_shorter_exists(run, config, report):
    """Before training `config`'s new run folder `run`: when a shorter run of the same
    configuration exists, make `run` from the longest of them; returns whether it did."""
    if run.is_run():
        return False
    for _, _, source in shorter_runs(config):
        try:
            continue_from(source, run, config, report)
            return True
        except BenchError:  # a process started training it a moment ago: the next one, or none
            continue
    return False
