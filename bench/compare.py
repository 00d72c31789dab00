"""`bench compare`: the runs under a log folder, one row each (no TensorFlow)."""

import csv
import difflib
import io
import json

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
    "probe_accuracy": ("probe acc", True),
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
        "probe_accuracy": (results.get("probe") or {}).get("codes"),
        "status": results.get("status", "not started"),
        "path": str(run.path),
        "config": config,
        "history": results.get("history", []),
    }


def _typed(text):
    """A --where value as a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_where(conditions):
    """[(key, value)] from KEY=VALUE strings; BenchUsageError for a malformed one."""
    parsed = []
    for condition in conditions:
        key, sep, value = condition.partition("=")
        if not sep or not key.strip():
            raise BenchUsageError(f"--where {condition!r} is not KEY=VALUE, e.g. --where l2_penalty=1e-9")
        parsed.append((key.strip().replace("-", "_"), _typed(value.strip())))
    return parsed


def _matches(row, key, wanted):
    config = row["config"]
    for source in (config, config.get("model_args") or {}, row):
        if key in source:
            value = source[key]
            if isinstance(value, list):
                value = name_part(value)
            if isinstance(wanted, (int, float)) and isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value) == float(wanted)
            return str(value) == str(wanted)
    return False


def collect_rows(log_dir, model=None, dataset=None, where=()):
    """Rows of the runs under `log_dir`, filtered by model, dataset and KEY=VALUE conditions."""
    rows = [row for row in map(run_row, find_runs(log_dir)) if row is not None]
    conditions = parse_where(where)
    return [row for row in rows
            if (model is None or row["model"] == model) and (dataset is None or row["dataset"] == dataset)
            and all(_matches(row, key, value) for key, value in conditions)]


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


def best_rows(rows):
    """{metric column: index of the row with its best value}."""
    best = {}
    for key, (_, higher_is_better) in COLUMNS.items():
        candidates = [(row[key], index) for index, row in enumerate(rows) if higher_is_better is not None
                      and isinstance(row[key], (int, float))]
        if candidates:
            best[key] = (max if higher_is_better else min)(candidates)[1]
    return best


def _cell(key, value):
    if key in METRIC_FORMATS:
        return METRIC_FORMATS[key](value)
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


METRIC_FORMATS = {key: (lambda value, key=key: metrics.format_value(key, value))
                  for key in ("validation_error", "test_error", "test_mse", "test_psnr")}
METRIC_FORMATS["probe_accuracy"] = lambda value: "—" if value is None else f"{value:.4f}"
FORMATS = ("table", "csv", "json", "markdown")
LEGEND = ("error: ½·mean((x − x̃)²) on [-1, 1] (DTB); mse: on [0, 1]; psnr: dB. "
          "Metrics of each run's best model on validation; probe acc: test accuracy of a logistic regression "
          "on its codes (bench eval); * marks the best of each column.")


def render_table(rows, title):
    """A rich Table, the best value of each metric column bold and starred."""
    best = best_rows(rows)
    table = Table(title=title, title_justify="left")
    for key, (heading, higher_is_better) in COLUMNS.items():
        numeric = higher_is_better is not None or key in ("lr", "l2", "epochs")
        table.add_column(heading, justify="right" if numeric else "left")
    for index, row in enumerate(rows):
        table.add_row(*(f"[bold]*{_cell(key, row[key])}[/bold]" if best.get(key) == index else _cell(key, row[key])
                        for key in COLUMNS))
    return table


def render_markdown(rows):
    """A Markdown table, the best value of each metric column in bold."""
    best = best_rows(rows)
    lines = ["| " + " | ".join(heading for heading, _ in COLUMNS.values()) + " |",
             "|" + "|".join("---:" if higher is not None else "---" for _, higher in COLUMNS.values()) + "|"]
    for index, row in enumerate(rows):
        cells = [f"**{_cell(key, row[key])}**" if best.get(key) == index else _cell(key, row[key]) for key in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_csv(rows):
    """CSV with a header of column keys and full-precision values."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(COLUMNS) + ["path"], extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().rstrip("\n")


def render_json(rows):
    """JSON: the rows (full precision, with their configuration) and the best run of each metric."""
    best = {key: rows[index]["path"] for key, index in best_rows(rows).items()}
    return json.dumps({"runs": rows, "best": best}, indent=2, sort_keys=True, default=str)


def plot_rows(rows, path):
    """The validation error curves of `rows` in one PNG."""
    from bench import pictures

    series = [(row["path"].split("/", 1)[-1], [h["epoch"] for h in row["history"]],
               [h["validation_error"] for h in row["history"]]) for row in rows if row["history"]]
    if not series:
        raise BenchUsageError("none of the selected runs has finished an epoch yet: nothing to plot")
    try:
        pictures.save_curves(path, series, f"validation error of {len(series)} run(s)")
    except OSError as error:
        raise BenchError(f"cannot write {path}: {error.strerror or error}") from error


def compare_runs(log_dir, model, dataset, sort_key, where=(), output_format="table", plot=None):
    """Print the comparison of the runs under `log_dir` in `output_format`; with
    `plot`, also draw their validation curves into that PNG file."""
    if output_format not in FORMATS:
        raise BenchUsageError(f"unknown --format '{output_format}'; choose one of {', '.join(FORMATS)}")
    rows = sort_rows(collect_rows(log_dir, model, dataset, where), sort_key)
    if plot:
        plot_rows(rows, plot)
    if output_format == "table":
        console = make_console()
        if not rows:
            console.print(f"no runs under {log_dir}; start one with: "
                          "bench train --model SingleLayerCAE --dataset Digits --epochs 5")
            return rows
        console.print(render_table(rows, f"{len(rows)} run(s) under {log_dir}, sorted by {sort_key}"))
        print(LEGEND)
    else:
        render = {"csv": render_csv, "json": render_json, "markdown": render_markdown}[output_format]
        print(render(rows))
    return rows
