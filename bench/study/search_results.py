"""`bench search --show`: a study's trials, best first (settings, objective, epochs run, state,
run folder), the settings' importances, and two pictures in log/_studies/<study>/: the
optimization history and the parallel coordinates of the trials."""

import csv
import io
import json
from pathlib import Path

from bench.errors import BenchUsageError
from bench.run import pruning
from bench.study.search import EPOCHS, OBJECTIVE, REASON, RUN, import_optuna, queued_again, study_folder

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
    """One row per trial, best first: {number, state, value (of the study's objective), epochs,
    params, run, reason, retried}."""
    sign = -1.0 if pruning.OBJECTIVES[objective_of(study)] == "maximize" else 1.0
    trials = study.get_trials(deepcopy=False)
    again = queued_again(trials)
    rows = [{"number": trial.number, "state": trial.state.name, "value": trial.value,
             "epochs": trial.user_attrs.get(EPOCHS), "params": trial.params, "run": trial.user_attrs.get(RUN),
             "reason": trial.user_attrs.get(REASON) or ("its worker is gone" if trial.number in again else None),
             "retried": trial.number in again}
            for trial in trials]
    return sorted(rows, key=lambda row: (STATE_ORDER.get(row["state"], 9), sign * (row["value"] or 0.0),
                                         row["number"]))


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
    return "" if row["value"] is None else f"{row['value']:.5f}"


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
    writer.writerow(["number", "state", objective, "epochs", *keys, "run", "reason"])
    for row in rows:
        writer.writerow([row["number"], row["state"].lower(), row["value"], row["epochs"],
                         *(row["params"].get(key) for key in keys), row["run"], row["reason"]])
    return out.getvalue()
