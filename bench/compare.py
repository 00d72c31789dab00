"""`bench compare`: the runs under a log folder, one row each (no TensorFlow)."""

import difflib

from rich.table import Table

from bench import metrics
from bench.console import make_console
from bench.config import name_part, read_yaml_mapping
from bench.errors import BenchError, BenchUsageError
from bench.runs import find_runs

# column key: (heading, higher is better)
COLUMNS = {
    "model": ("model", None),
    "dataset": ("dataset", None),
    "optimizer": ("optimizer", None),
    "lr": ("lr", None),
    "l2": ("l2", None),
    "options": ("options", None),
    "comment": ("comment", None),
    "epochs": ("epochs", None),
    "validation_error": ("val error", False),
    "test_error": ("test error", False),
    "test_mse": ("test mse", False),
    "test_psnr": ("test psnr", True),
    "status": ("status", None),
}


def run_options(config):
    """A run's model options and noise factor, as its folder name spells them."""
    parts = [f"{key}={name_part(value)}" for key, value in sorted((config.get("model_args") or {}).items())]
    if config.get("noise_factor"):
        parts.append(f"noise={config['noise_factor']!r}")
    return " ".join(parts)


def run_row(run):
    """A run's table row as {column: value}; None when its files are unreadable."""
    try:
        config = read_yaml_mapping(run.sub("config.yaml"))
    except BenchError:
        return None
    results = run.read_results()
    best = results.get("best", {})
    validation, test = best.get("validation", {}), best.get("test", {})
    return {
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "optimizer": config.get("optimizer"),
        "lr": (config.get("optimizer_args") or {}).get("learning_rate"),
        "l2": config.get("l2_penalty"),
        "options": run_options(config),
        "comment": config.get("comment") or "",
        "epochs": results.get("epochs_done", 0),
        "validation_error": validation.get("error"),
        "test_error": test.get("error"),
        "test_mse": test.get("mse"),
        "test_psnr": test.get("psnr"),
        "status": results.get("status", "not started"),
        "path": str(run.path),
    }


def collect_rows(log_dir, model=None, dataset=None):
    """Rows of the runs under `log_dir`, filtered by model and dataset."""
    rows = [row for row in map(run_row, find_runs(log_dir)) if row is not None]
    return [row for row in rows
            if (model is None or row["model"] == model) and (dataset is None or row["dataset"] == dataset)]


def sort_rows(rows, key):
    """Rows sorted by column `key`, best first for metrics; missing values last."""
    if key not in COLUMNS:
        close = difflib.get_close_matches(key, list(COLUMNS), n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BenchUsageError(f"cannot sort by '{key}'; {hint}choose one of {', '.join(COLUMNS)}")
    descending = COLUMNS[key][1] is True
    present = [row for row in rows if row[key] is not None]
    missing = [row for row in rows if row[key] is None]
    return sorted(present, key=lambda row: row[key], reverse=descending) + missing


def _cell(key, value):
    if key in ("validation_error", "test_error", "test_mse", "test_psnr"):
        return metrics.format_value(key, value)
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def compare_runs(log_dir, model, dataset, sort_key):
    """Print the comparison table."""
    rows = sort_rows(collect_rows(log_dir, model, dataset), sort_key)
    console = make_console()
    if not rows:
        console.print(f"no runs under {log_dir}; start one with: bench train --model SingleLayerCAE --dataset Digits --epochs 5")
        return
    table = Table(title=f"{len(rows)} run(s) under {log_dir}, sorted by {sort_key}", title_justify="left")
    for key, (heading, _) in COLUMNS.items():
        table.add_column(heading, justify="right" if COLUMNS[key][1] is not None or key in ("lr", "l2", "epochs") else "left")
    for row in rows:
        table.add_row(*(_cell(key, row[key]) for key in COLUMNS))
    console.print(table)
    console.print("error: ½·mean((x − x̃)²) on [-1, 1] (DTB); mse: on [0, 1]; psnr: dB. "
                  "Metrics of each run's best model on validation.")
