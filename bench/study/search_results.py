"""`bench search --show`: a study's trials, best first (settings, objective with its spread
over repeats, epochs run, state, run folder), its confirmation (bench.study.confirmation),
the expected best score against the number of trials, the settings' importances when
there are trials enough, and three pictures in log/_studies/<study>/
(bench.study.search_pictures)."""

import csv
import io
import json
import textwrap
from pathlib import Path

from bench.errors import BenchError, BenchUsageError
from bench.study import pruning
from bench.run.runs import RunFolder
from bench.study.confirmation import settings_text
from bench.study.search_table import print_trials, value_text
from bench.study.study import (ATTEMPT, EPOCHS, OBJECTIVE, REASON, RETRY_OF, RUN, RUN_STATES, RUNS, SPACE, STD,
                               import_optuna, queued_again, run_state, study_folder)

STATE_ORDER = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}


def load_study(settings):
    """The study named by `settings`, as it is stored (BenchUsageError when there is none)."""
    optuna = import_optuna()
    missing = BenchUsageError(f"no study '{settings.study}' in {settings.storage_spec()}; "
                              "bench search --space FILE --study NAME starts one")
    if settings.storage is None and not Path(settings.storage_spec()).is_file():
        raise missing
    storage = pruning.open_storage(settings.storage_spec())
    try:
        return optuna.load_study(study_name=settings.study, storage=storage)
    except KeyError as error:
        raise missing from error


def objective_of(study):
    """The study's objective: the name of its metric (bench.study.pruning.OBJECTIVES)."""
    return study.user_attrs.get(OBJECTIVE, "validation_error")


def trial_rows(study):
    """One row per trial, best first: {number, state, value (of the study's objective: a pruned
    trial's is its run's best so far, as a finished trial's; with repeats, their mean), std and
    n (the spread over its repeats, and their number), epochs, params, run, reason,
    retried, retry_of (the trial it retries, or None), attempt (0 for a first try), check
    (None when every run folder still holds what the study was told, else what changed)}."""
    objective = objective_of(study)
    sign = -1.0 if pruning.OBJECTIVES[objective] == "maximize" else 1.0
    trials = study.get_trials(deepcopy=False)
    again = queued_again(trials)
    rows = []
    for trial in trials:
        states = trial.user_attrs.get(RUN_STATES) or []
        value = trial.value
        if trial.state.name == "PRUNED" and states:
            value = states[0]["value"]  # its run's best model, not its last epoch
        rows.append({"number": trial.number, "state": trial.state.name, "value": value,
                     "epochs": trial.user_attrs.get(EPOCHS), "params": trial.params, "run": trial.user_attrs.get(RUN),
                     "reason": trial.user_attrs.get(REASON) or ("its worker is gone" if trial.number in again else None),
                     "retried": trial.number in again, "retry_of": trial.user_attrs.get(RETRY_OF),
                     "attempt": trial.user_attrs.get(ATTEMPT, 0), "check": changed_runs(states, objective),
                     "std": trial.user_attrs.get(STD), "n": len(trial.user_attrs.get(RUNS) or [])})
    return sorted(rows, key=lambda row: (STATE_ORDER.get(row["state"], 9), row["value"] is None,
                                         sign * (row["value"] or 0.0), row["number"]))


def changed_runs(states, objective):
    """What changed in the run folders a trial was told from (bench.study.study.run_state),
    in words, or None when each still holds it."""
    changes = []
    for told in states:
        run = RunFolder(told["run"])
        if not run.path.is_dir():
            changes.append(f"{told['run']} was removed")
            continue
        try:
            now = run_state(told["run"], run.read_results(), objective)
        except BenchError:
            changes.append(f"{told['run']} is damaged")
            continue
        differing = [f"{key} {now[key]!r} (told {told[key]!r})" for key in ("epochs_done", "status", "value")
                     if not _same(now[key], told[key])]
        if differing:
            changes.append(f"{told['run']} changed since: " + ", ".join(differing))
    return "; ".join(changes) or None


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
    return a == b


IMPORTANCE_TRIALS = 10
"""Finished trials below which fANOVA's importances are not shown (at least 3 per drawn setting
too): from fewer, a forest ranks seed noise ("learning_rate 0.99" from 2 trials)."""


def importances(study):
    """({setting: importance} (fANOVA, normalised), or {} and why not): importances need
    IMPORTANCE_TRIALS finished trials, and 3 per drawn setting."""
    from optuna.trial import TrialState

    optuna = import_optuna()
    finished = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    drawn = len(json.loads(study.user_attrs.get(SPACE, '{"params": []}')).get("params", []))
    needed = max(IMPORTANCE_TRIALS, 3 * drawn)
    if finished < needed:
        return {}, (f"importances need {needed} finished trials (this study has {finished}): from fewer, "
                    "fANOVA ranks seed noise")
    try:
        return optuna.importance.get_param_importances(study), None
    except (ValueError, RuntimeError) as error:  # one setting varied, or every value the same
        return {}, f"no importances: {error}"


def starving_lines(rows):
    """A warning when the first rung pruned most ended trials: the sampler then learns from few
    finished ones, and a pruned trial's value is from fewer epochs than a finished one's."""
    ended = [row for row in rows if row["state"] in ("COMPLETE", "PRUNED")]
    pruned = [row["epochs"] for row in ended if row["state"] == "PRUNED" and row["epochs"]]
    if len(ended) < 4 or not pruned:
        return []
    first = min(pruned)
    at_first = pruned.count(first)
    if at_first * 2 <= len(ended):
        return []
    return [f"{at_first} of {len(ended)} ended trials were pruned at epoch {first}, the first rung: the sampler "
            f"learns from only {len(ended) - len(pruned)} finished trial(s). Give a later --min-epochs, "
            "--pruner median, or --pruner none"]


def expected_best_curve(rows, objective):
    """The expected best value from k trials (bench.study.statistics.expected_best) over the
    ended trials: finished ones and pruned ones (at their run's best when stopped)."""
    from bench.study.statistics import expected_best

    values = [row["value"] for row in rows if row["state"] in ("COMPLETE", "PRUNED") and row["value"] is not None]
    return expected_best(values, lower_is_better=pruning.OBJECTIVES[objective] == "minimize")


def study_runs(study):
    """Every run folder of a study: its trials' (each repeat's) and its confirmation's."""
    from bench.study.confirmation import CONFIRMATION

    runs = [run for trial in study.get_trials(deepcopy=False) for run in trial.user_attrs.get(RUNS) or []]
    record = study.user_attrs.get(CONFIRMATION) or {}
    runs += [run for candidate in record.get("candidates", []) for run in candidate.get("runs", [])]
    return list(dict.fromkeys(runs))


def confirmation_of(study, objective):
    """The study's confirmation figures (bench.study.confirmation), or None when it has none."""
    from bench.study.confirmation import CONFIRMATION, confirmation_figures

    record = study.user_attrs.get(CONFIRMATION)
    return confirmation_figures(record, objective) if record else None


def show_study(settings, report, output_format="table"):
    """A study's trials in `output_format`: markdown, csv and json are returned as text (for the
    command to print); the table is shown through `report` with the confirmation, the
    expected best, the importances and the pictures, and None is returned."""
    import warnings

    with warnings.catch_warnings():  # a library's warnings are not the user's business here
        warnings.simplefilter("ignore")
        study = load_study(settings)
        import_optuna().logging.set_verbosity(import_optuna().logging.ERROR)
        rows, objective = trial_rows(study), objective_of(study)
        confirmation = confirmation_of(study, objective)
        if output_format == "json":
            ranked, why_not = importances(study)
            return json.dumps({"study": settings.study, "objective": objective,
                               "direction": pruning.OBJECTIVES[objective], "trials": rows,
                               "importances": ranked, "importances_note": why_not,
                               "expected_best": expected_best_curve(rows, objective),
                               "confirmation": confirmation}, indent=2, default=str)
        if output_format == "csv":
            return _csv(rows, objective)
        if output_format == "markdown":
            return _markdown(rows, objective)
        _show_table(study, settings, rows, objective, confirmation, report)
    return None


def _show_table(study, settings, rows, objective, confirmation, report):
    from bench.study.confirmation import confirmation_lines

    print_trials(rows, settings.study, _heading(objective), report)
    width = report.console.width

    def say(line, warn=False):
        indent = "    " if line.startswith("  ") else "  "
        text = textwrap.fill(line, width - (9 if warn else 0), subsequent_indent=indent, break_long_words=False,
                             break_on_hyphens=False)
        (report.warning if warn else report.info)(text)

    for row in rows:
        if row["check"]:
            say(f"trial {row['number']}: its figure no longer matches its run: {row['check']}", warn=True)
    for line in starving_lines(rows):
        say(line, warn=True)
    curve = expected_best_curve(rows, objective)
    if curve:
        marks = sorted({1, min(5, len(curve)), min(10, len(curve)), len(curve)})
        say("expected best from k trials (Dodge et al., 2019): " +
            ", ".join(f"k={k} {curve[k - 1]['mean']:.5f} ± {curve[k - 1]['std']:.5f}" for k in marks))
    for line in confirmation_lines(confirmation) if confirmation else []:
        say(line)
    if not confirmation:
        say("the best trial's value is one draw, and the best of many draws is optimistic: confirm it over "
            f"fresh seeds with bench search --space FILE --study {settings.study} --confirm 2")
    ranked, why_not = importances(study)
    say("importance of each setting (fANOVA): " + ", ".join(f"{key} {value:.2f}" for key, value in ranked.items())
        if ranked else why_not)
    folder = study_folder(settings.log_dir, settings.study)
    folder.mkdir(parents=True, exist_ok=True)
    for path in draw_pictures(study, rows, objective, curve, folder):
        report.info(f"wrote {path}")


def draw_pictures(study, rows, objective, curve, folder):
    """history.png, parallel_coordinates.png and expected_best.png; returns the paths written."""
    from bench.study import search_pictures as pictures

    lower = pruning.OBJECTIVES[objective] == "minimize"
    space = json.loads(study.user_attrs.get(SPACE, '{"params": []}'))
    log_keys = {param[0] for param in space.get("params", []) if param[1] == "log_uniform"}
    heading = _heading(objective)
    drawn = [(folder / "history.png", pictures.draw_history(rows, heading, folder / "history.png", lower)),
             (folder / "parallel_coordinates.png",
              pictures.draw_parallel(rows, heading, folder / "parallel_coordinates.png", lower, log_keys)),
             (folder / "expected_best.png", pictures.draw_expected_best(curve, heading, folder / "expected_best.png"))]
    return [path for path, written in drawn if written]


def _heading(objective):
    """'validation error' (lower is better) or 'validation psnr ↑'."""
    return objective.replace("_", " ") + (" ↑" if pruning.OBJECTIVES[objective] == "maximize" else "")


def _markdown(rows, objective):
    lines = [f"| # | state | {_heading(objective)} | epochs | settings | run |", "|---|---|---|---|---|---|"]
    lines += [f"| {row['number']} | {row['state'].lower()} | {value_text(row)} | {row['epochs'] or ''} | "
              f"{settings_text(row['params'])} | {row['run'] or row['reason'] or ''} |" for row in rows]
    return "\n".join(lines)


def _csv(rows, objective):
    keys = sorted({key for row in rows for key in row["params"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", objective, f"{objective}_std", "n", "epochs", *keys, "run", "reason", "check"])
    for row in rows:
        writer.writerow([row["number"], row["state"].lower(), row["value"], row["std"], row["n"], row["epochs"],
                         *(row["params"].get(key) for key in keys), row["run"], row["reason"], row["check"] or ""])
    return out.getvalue()
