"""A run as one row of `bench compare`, and choosing, sorting and marking rows.

A row is a dict: the configuration columns, "epochs", each metric column (the
best model's metrics, then every Field's values), "status", "path", "config",
"history", and "stale" ({metric column: why its record no longer describes the
run's checkpoint}). A run whose files are damaged gets a row without numbers
and a "damage" line.
"""

import difflib
import math

from bench.errors import BenchError, BenchUsageError
from bench.model import metrics
from bench.run.config import TrainConfig, name_part
from bench.run.results import FIELDS, stale_reason
from bench.run.runs import CONFIG_FILE, RESULTS_JSON, find_runs
from bench.study.columns import column_of, is_metric, metric_columns, sortable_names

STOPPED = "stopped"
"""A run whose results.json says running, and that no process holds."""


def _config_of(values):
    """A TrainConfig from a config.yaml mapping, or None when it is not one."""
    try:
        return TrainConfig.from_dict(values)
    except (TypeError, ValueError, AttributeError):
        return None


def run_options(config):
    """A run's identity beyond the table's own columns (model options, noise, batch size,
    optimizer arguments ...), as its folder name spells them; the seed has its own column."""
    parsed = _config_of(config)
    return " ".join(parsed.option_parts(leave_out=("seed",))) if parsed else ""


def identity(config):
    """The keys that make a run's configuration what it is, but its seed: runs with the
    same identity are repeats of one configuration."""
    parsed = _config_of(config)
    values = parsed.to_dict() if parsed else dict(config)
    return {key: values.get(key) for key in TrainConfig.identity_keys() if key != "seed"}


def run_row(run):
    """A run's row. A run whose config.yaml or results.json is damaged or missing gets a
    row without numbers, its status naming the file and "damage" the reason; a "running"
    run that no process trains is "stopped"."""
    try:
        config = run.read_config_values(check_identity=False)
    except BenchError as error:
        return _damaged_row(run, CONFIG_FILE, error)
    try:
        results = run.read_results()
    except BenchError as error:
        return _damaged_row(run, RESULTS_JSON, error, config)
    try:
        run.check_identity(config, results)
    except BenchError as error:
        return _damaged_row(run, CONFIG_FILE, error)
    status = results.get("status", "not started")
    if status == "running" and run.trainer() is None:
        status = STOPPED
    best = results.get("best", {})
    row = {**_config_columns(config), "epochs": results.get("epochs_done", 0), **_best_metrics(best), "stale": {}}
    for field in FIELDS:
        record = results.get(field.key)
        if record:
            values = field.values(record)
            row.update(values)
            reason = stale_reason(record, results)
            row["stale"].update({key: reason for key in values if reason and is_metric(key)})
    return {**row, "status": status, "path": str(run.path), "config": config, "history": results.get("history", [])}


def _best_metrics(best):
    validation, test = best.get("validation", {}), best.get("test", {})
    return {"validation_error": validation.get("error"),
            **{f"test_{metric.name}": test.get(metric.name) for metric in metrics.METRICS}}


def _config_columns(config):
    return {
        "model": config.get("model"),
        "dataset": config.get("dataset"),
        "optimizer": config.get("optimizer"),
        "lr": (config.get("optimizer_args") or {}).get("learning_rate"),
        "l2": config.get("l2_penalty"),
        "options": run_options(config),
        "comment": config.get("comment") or "",
        "seed": config.get("seed", 0),
    }


def _damaged_row(run, name, error, config=None):
    """The row of a run one of whose files is damaged: its configuration when it is readable
    (else the model from the folder's place, log/<Model>/<run>), no numbers."""
    columns = _config_columns(config) if config else {"model": run.path.parent.name, "dataset": None,
                                                      "options": "", "comment": run.path.name, "seed": None}
    return {**columns, "epochs": None, "status": f"{name} damaged", "damage": str(error), "path": str(run.path),
            "config": config or {}, "history": [], "stale": {}}


# -- choosing rows ----------------------------------------------------------------------

def _typed(text):
    """A --where value as a number when it reads as one."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_where(conditions):
    """[(key, value, text)] from KEY=VALUE strings (value typed, text as given);
    BenchUsageError for a malformed one."""
    parsed = []
    for condition in conditions:
        key, sep, value = condition.partition("=")
        if not sep or not key.strip():
            raise BenchUsageError(f"--where {condition!r} is not KEY=VALUE, e.g. --where l2_penalty=1e-9")
        parsed.append((key.strip().replace("-", "_"), _typed(value.strip()), value.strip()))
    return parsed


def _significant_digits(text):
    """How many significant digits a number is written with ("0.0006806": 4, "1e-3": 1)."""
    mantissa = text.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0")
    return max(1, len(mantissa))


def same_number(value, wanted, text):
    """Whether `value` is the number written `text` (`wanted`), as compare and search print it:
    `value` rounded to as many significant digits as `text` has, at least 4 (search prints 4),
    so that 0.0006806073438985096 is "0.0006806" while 0.0012 is not "0.001"."""
    if float(value) == float(wanted):
        return True
    digits = max(4, _significant_digits(text))
    return float(f"{float(value):.{digits}g}") == float(wanted)


def setting_of(row, key):
    """(True, value) of a run's (or a group's) setting `key`: a bench train option, a model
    option, a table column, or a dotted key inside a JSON option (optimizer_args.learning_rate);
    (False, None) when it has none."""
    config = row.get("config") or {}
    option, dot, inner = key.partition(".")
    if dot:
        values = config.get(option) or {}
        return (inner in values), values.get(inner)
    for source in (config, config.get("model_args") or {}, row):
        if key in source:
            return True, source[key]
    return False, None


def matches(row, key, wanted, text=None):
    """Whether a row's setting `key` is `wanted` (numbers as they are printed: see same_number)."""
    found, value = setting_of(row, key)
    if not found:
        return False
    if isinstance(value, list):
        value = name_part(value)
    numbers = (isinstance(wanted, (int, float)) and isinstance(value, (int, float))
               and not isinstance(value, bool) and not isinstance(wanted, bool))
    if numbers:
        return same_number(value, wanted, text if text is not None else repr(wanted))
    return str(value) == str(wanted)


def _settings_of(row):
    config = row["config"]
    dotted = {f"{option}.{inner}" for option in ("optimizer_args", "model_args") for inner in (config.get(option) or {})}
    return set(config) | set(config.get("model_args") or {}) | set(row) | dotted


def collect_rows(log_dir, model=None, dataset=None, where=()):
    """Rows of the runs under `log_dir`, filtered by model, dataset and KEY=VALUE conditions.

    Raises:
        BenchUsageError: a --where key that no run has.
    """
    rows = [run_row(run) for run in find_runs(log_dir)]
    conditions = parse_where(where)
    known = set(TrainConfig.identity_keys()).union(*(_settings_of(row) for row in rows))
    for key, _, _ in conditions:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise BenchUsageError(f"--where {key}: no run under {log_dir} has a setting '{key}'; {hint}"
                                  "the keys are bench train's options, the models' options, and dotted keys "
                                  "such as optimizer_args.learning_rate")
    return [row for row in rows
            if (model is None or row["model"] == model) and (dataset is None or row["dataset"] == dataset)
            and all(matches(row, key, value, text) for key, value, text in conditions)]


# -- sorting and marking ----------------------------------------------------------------

def metric_value(row, key):
    """A row's number in a metric column: a run's value (None for a stale record), a group's mean."""
    value = row.get(key)
    if isinstance(value, dict):
        return value.get("mean")
    if row.get("stale", {}).get(key):
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_sort_key(key):
    """Refuse a --sort column that no table has (BenchUsageError)."""
    names = sortable_names()
    if key not in names and not is_metric(key):
        close = difflib.get_close_matches(key, names, n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BenchUsageError(f"cannot sort by '{key}'; {hint}choose one of {', '.join(names)}")


def sort_rows(rows, key):
    """Rows sorted by column `key`, best first for metrics; missing values last."""
    check_sort_key(key)
    column = column_of(key)
    value_of = (lambda row: metric_value(row, key)) if column else (lambda row: row.get(key))
    present = [row for row in rows if value_of(row) is not None]
    missing = [row for row in rows if value_of(row) is None]
    descending = bool(column and column.higher_is_better)
    return sorted(present, key=lambda row: (value_of(row), str(row.get("path", ""))), reverse=descending) + missing


def best_rows(rows, columns=None):
    """{metric column: indices of the rows with its best value, one per dataset}."""
    best = {}
    for key, column in (columns or metric_columns(rows)).items():
        by_dataset = {}
        for index, row in enumerate(rows):
            value = metric_value(row, key)
            if value is not None and not math.isnan(value):
                by_dataset.setdefault(row["dataset"], []).append((value, index))
        chosen = {(max if column.higher_is_better else min)(candidates)[1] for candidates in by_dataset.values()}
        if chosen:
            best[key] = chosen
    return best
