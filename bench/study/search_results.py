"""`bench search --show`: a study's trials, best first (settings, objective, epochs run, state,
run folder), the settings' importances, and two pictures in log/_studies/<study>/: the
optimization history and the parallel coordinates of the trials."""

import csv
import io
import json
from pathlib import Path

from bench.errors import BenchError, BenchUsageError
from bench.run import pruning
from bench.run.runs import RunFolder
from bench.study.study import (ATTEMPT, EPOCHS, OBJECTIVE, REASON, RETRY_OF, RUN, RUN_STATES, import_optuna,
                                 queued_again, run_state, study_folder)

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
    """The study's objective: the name of its metric (bench.run.pruning.OBJECTIVES)."""
    return study.user_attrs.get(OBJECTIVE, "validation_error")


def trial_rows(study):
    """One row per trial, best first: {number, state, value (of the study's objective: a pruned
    trial's is its run's best so far, as a finished trial's), epochs, params, run, reason,
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
                     "attempt": trial.user_attrs.get(ATTEMPT, 0), "check": changed_runs(states, objective)})
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


def importances(study):
    """{setting: importance} (fANOVA, normalised), or {} with fewer than two complete trials."""
    from optuna.trial import TrialState

    optuna = import_optuna()
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    try:
        return optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError):  # one setting varied, or every value the same
        return {}


def draw_pictures(study, folder):
    """The optimization history and the parallel coordinates as PNG files; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as plots

    written = []
    for name, plot in (("history.png", plots.plot_optimization_history),
                       ("parallel_coordinates.png", plots.plot_parallel_coordinate)):
        try:
            axes = plot(study)
        except (ValueError, RuntimeError):  # no complete trial yet
            continue
        figure = axes.figure if hasattr(axes, "figure") else axes.flatten()[0].figure
        figure.tight_layout()
        figure.savefig(folder / name, dpi=100)
        plt.close(figure)
        written.append(folder / name)
    return written


def show_study(settings, report, output_format="table"):
    """A study's trials in `output_format`: markdown, csv and json are returned as text (for the
    command to print); the table is shown through `report` with the importances and the
    pictures, and None is returned."""
    study = load_study(settings)
    rows, objective = trial_rows(study), objective_of(study)
    if output_format == "json":
        return json.dumps({"study": settings.study, "objective": objective,
                           "direction": pruning.OBJECTIVES[objective], "trials": rows,
                           "importances": importances(study)}, indent=2)
    if output_format == "csv":
        return _csv(rows, objective)
    if output_format == "markdown":
        return _markdown(rows, objective)
    report.table(_table(rows, settings.study, objective))
    for row in rows:
        if row["check"]:
            report.warning(f"trial {row['number']}: its figure no longer matches its run: {row['check']}")
    ranked = importances(study)
    if ranked:
        report.info("importance of each setting (fANOVA): "
                    + ", ".join(f"{key} {value:.2f}" for key, value in ranked.items()))
    folder = study_folder(settings.log_dir, settings.study)
    folder.mkdir(parents=True, exist_ok=True)
    for path in draw_pictures(study, folder):
        report.info(f"wrote {path}")
    return None


def _counts(rows):
    counts = {}
    for row in rows:
        counts[row["state"].lower()] = counts.get(row["state"].lower(), 0) + 1
    return ", ".join(f"{count} {state}" for state, count in counts.items())


def _settings(row):
    return " ".join(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}"
                    for key, value in row["params"].items())


def _value(row):
    """The trial's figure, marked when its run has changed since (never shown as if it held)."""
    text = "" if row["value"] is None else f"{row['value']:.5f}"
    return text + (" (run changed!)" if row["check"] else "")


def _heading(objective):
    """'validation error' (lower is better) or 'validation psnr ↑'."""
    return objective.replace("_", " ") + (" ↑" if pruning.OBJECTIVES[objective] == "maximize" else "")


def _table(rows, study, objective):
    from rich.table import Table

    table = Table(title=f"study {study}: {len(rows)} trial(s) ({_counts(rows)}), best first")
    for heading in ("#", "state", _heading(objective), "epochs", "settings", "run or reason"):
        table.add_column(heading, overflow="fold")
    for row in rows:
        state = row["state"].lower() + (" (queued again)" if row["retried"] else "")
        if row["retry_of"] is not None:
            state += f" (retry {row['attempt']} of #{row['retry_of']})" if row["attempt"] else f" (of #{row['retry_of']})"
        table.add_row(str(row["number"]), state, _value(row), str(row["epochs"] or ""), _settings(row),
                      row["run"] if row["state"] != "FAIL" else (row["reason"] or ""))
    return table


def _markdown(rows, objective):
    lines = [f"| # | state | {_heading(objective)} | epochs | settings | run |", "|---|---|---|---|---|---|"]
    lines += [f"| {row['number']} | {row['state'].lower()} | {_value(row)} | {row['epochs'] or ''} | "
              f"{_settings(row)} | {row['run'] or row['reason'] or ''} |" for row in rows]
    return "\n".join(lines)


def _csv(rows, objective):
    keys = sorted({key for row in rows for key in row["params"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", objective, "epochs", *keys, "run", "reason", "check"])
    for row in rows:
        writer.writerow([row["number"], row["state"].lower(), row["value"], row["epochs"],
                         *(row["params"].get(key) for key in keys), row["run"], row["reason"], row["check"] or ""])
    return out.getvalue()
