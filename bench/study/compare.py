"""Comparing runs (behind `bench compare`): the runs under a log folder, one row
each, or one row per configuration with its spread over seeds (no TensorFlow).

Grouped rows give each metric's mean, sample standard deviation and 95%
confidence interval of the mean (Student's t, n − 1 degrees of freedom); two
configurations on the same dataset that differ in one setting are compared
with Welch's t-test (`scipy.stats.ttest_ind(equal_var=False)`).
"""

import csv
import difflib
import io
import itertools
import json
import math
import sys
import textwrap

from rich.table import Table

from bench.console import make_console
from bench.errors import BenchError, BenchUsageError
from bench.model import metrics
from bench.run.config import TrainConfig, name_part
from bench.run.results import stale_reason
from bench.run.runs import CONFIG_FILE, RESULTS_JSON, find_runs

STOPPED = "stopped"  # results.json says running, and no process holds the run

# column key: heading
CONFIG_COLUMNS = {"model": "model", "dataset": "dataset", "optimizer": "optimizer", "lr": "lr", "l2": "l2",
                  "options": "options", "comment": "comment"}
# metric column key: (heading, higher is better); the few-label probes' columns
# (probe_labels_<n>, "p@<n>") come from the runs that have them.
METRIC_COLUMNS = {
    "validation_error": ("val error", False),
    "test_error": ("test error", False),
    "test_mse": ("test mse", False),
    "test_psnr": ("test psnr", True),
    "probe_accuracy": ("probe", True),
    "anomaly_auroc": ("AUROC", True),
    "anomaly_ap": ("AP", True),
}
FRACTION_RANGE = (0, 1)  # accuracies, ROC AUC, average precision; the few-label probes' too
METRIC_RANGES = {"validation_error": (0, None), "test_error": (0, None), "test_mse": (0, None),
                 "test_psnr": (None, None)}
ALWAYS_SHOWN = ("validation_error", "test_error", "test_mse", "test_psnr")  # the others when some run has them
NARROW_LEFT_OUT = ("test_mse", "test_psnr", "anomaly_ap")  # derived or secondary: --wide shows them
FEW_LABELS = "probe_labels_"
RUN_COLUMNS = [*CONFIG_COLUMNS, "seed", "epochs", *METRIC_COLUMNS, "status"]
GROUP_COLUMNS = [*CONFIG_COLUMNS, "n", "epochs", *METRIC_COLUMNS, "status"]
HEADINGS = {**CONFIG_COLUMNS, **{key: heading for key, (heading, _) in METRIC_COLUMNS.items()},
            "seed": "seed", "n": "n", "epochs": "epochs", "status": "status", "run": "run"}
TESTED_METRICS = ("validation_error", "test_error")
DAGGER = "†"
SIGNIFICANCE = 0.05
FORMATS = ("table", "csv", "json", "markdown")
LEGEND = ("error: ½·mean((x − x̃)²) on [-1, 1] (DTB); mse: on [0, 1]; psnr: dB. "
          "Metrics of each run's best model on validation; probe: test accuracy of a logistic regression "
          "on its codes (bench eval; (stale): measured on a checkpoint since replaced, left out of the "
          "statistics); * marks the best of each column on each dataset.")
EXTRA_LEGENDS = {
    "anomaly_auroc": "AUROC, AP: ROC AUC and average precision of telling unseen classes from trained ones by "
                     "each test image's error (bench eval --anomaly).",
    FEW_LABELS: "p@N: the probe fitted on N labelled training images per class, mean ± std over seeded draws "
                "(bench eval --probe-labels).",
}
NARROW_LEGEND = "test mse (= test error / 2), psnr, AP and the separate configuration columns: --wide."
GROUP_LEGEND = ("Grouped: one row per configuration over its seeds, runs of the same length only (epochs): "
                "mean ± sample standard deviation, [95% confidence interval of the mean, Student's t]; n runs; "
                "(k of n runs): a figure only k of them have.")
GROUP_NARROW_LEGEND = ("Grouped: one row per configuration over its seeds, runs of the same length only (epochs): "
                       "mean ± sample standard deviation; n runs; (k of n runs): a figure only k of them have "
                       "(95% confidence intervals: --wide, csv, json).")
STOPPED_LEGEND = (f"{STOPPED}: its results say running, but no process trains it (killed, or its disk full); "
                  "the same bench train command resumes it.")


def interval_notes(rows, columns):
    """The legend line explaining DAGGER, when some shown interval reaches beyond its metric's range."""
    counts = sorted({row[key]["n"] for row in rows for key in columns
                     if isinstance(row.get(key), dict) and row[key].get("ci_note")})
    if not counts:
        return []
    return [f"{DAGGER} the 95% interval reaches beyond what the metric can be (an error below 0, an accuracy above 1): "
            f"Student's t from n={'/'.join(map(str, counts))} runs is too wide to bound the mean there; "
            "more seeds (--repeats) narrow it."]


def metric_columns(rows):
    """{key: (heading, higher is better)} of the metrics the rows can show: the reconstruction
    metrics, then the probes and anomaly scores that some row has."""
    present = {key for row in rows for key, value in row.items() if value is not None}
    columns = {key: spec for key, spec in METRIC_COLUMNS.items() if key in ALWAYS_SHOWN or key in present}
    counts = sorted({int(key[len(FEW_LABELS):]) for key in present
                     if key.startswith(FEW_LABELS) and not key.endswith("_std")})
    columns.update({f"{FEW_LABELS}{count}": (f"p@{count}", True) for count in counts})
    return columns


# -- rows -------------------------------------------------------------------

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
    """A run's row as {column: value}. A run whose config.yaml or results.json is damaged
    or missing gets a row without numbers, its status naming the file and "damage" the
    reason (`show` warns of it); a "running" run that no process trains is "stopped"."""
    try:
        config = run.read_config_values()
    except BenchError as error:
        return _damaged_row(run, CONFIG_FILE, error)
    try:
        results = run.read_results()
    except BenchError as error:
        return _damaged_row(run, RESULTS_JSON, error, config)
    status = results.get("status", "not started")
    if status == "running" and run.trainer() is None:
        status = STOPPED
    best = results.get("best", {})
    validation, test = best.get("validation", {}), best.get("test", {})
    probe = results.get("probe") or {}
    anomaly = results.get("anomaly") or {}
    few = results.get("probe_labels") or {}
    return {
        **_config_columns(config),
        "epochs": results.get("epochs_done", 0),
        "validation_error": validation.get("error"),
        "test_error": test.get("error"),
        "test_mse": test.get("mse"),
        "test_psnr": test.get("psnr"),
        "probe_accuracy": probe.get("codes"),
        "probe_stale": stale_reason(probe, results) if probe else None,
        "anomaly_auroc": anomaly.get("roc_auc"),
        "anomaly_ap": anomaly.get("average_precision"),
        "anomaly_stale": stale_reason(anomaly, results) if anomaly else None,
        **{f"{FEW_LABELS}{count}": value.get("codes_mean") for count, value in few.get("per_class", {}).items()},
        **{f"{FEW_LABELS}{count}_std": value.get("codes_std") for count, value in few.get("per_class", {}).items()},
        "probe_labels_stale": stale_reason(few, results) if few else None,
        "status": status,
        "path": str(run.path),
        "config": config,
        "history": results.get("history", []),
    }


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
            "config": config or {}, "history": []}


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


def _settings_of(row):
    config = row["config"]
    return set(config) | set(config.get("model_args") or {}) | set(row)


def collect_rows(log_dir, model=None, dataset=None, where=()):
    """Rows of the runs under `log_dir`, filtered by model, dataset and KEY=VALUE conditions.

    Raises:
        BenchUsageError: a --where key that no run has.
    """
    rows = [row for row in map(run_row, find_runs(log_dir)) if row is not None]
    conditions = parse_where(where)
    known = set(TrainConfig.identity_keys()).union(*(_settings_of(row) for row in rows))
    for key, _ in conditions:
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise BenchUsageError(f"--where {key}: no run under {log_dir} has a setting '{key}'; {hint}"
                                  "the keys are bench train's options and the models' options")
    return [row for row in rows
            if (model is None or row["model"] == model) and (dataset is None or row["dataset"] == dataset)
            and all(_matches(row, key, value) for key, value in conditions)]


def stale_key(key):
    """The row key saying why a metric column's record is stale (None: it cannot be)."""
    if key == "probe_accuracy":
        return "probe_stale"
    if key.startswith("anomaly_"):
        return "anomaly_stale"
    return "probe_labels_stale" if key.startswith(FEW_LABELS) else None


def metric_value(row, key):
    """A row's number in a metric column: a run's value (None for a stale record), a group's mean."""
    value = row.get(key)
    if isinstance(value, dict):
        return value.get("mean")
    if row.get(stale_key(key)):
        return None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def sort_rows(rows, key):
    """Rows sorted by column `key`, best first for metrics; missing values last."""
    columns = set(RUN_COLUMNS) | set(GROUP_COLUMNS)
    few_labels = key.startswith(FEW_LABELS) and key[len(FEW_LABELS):].isdigit()
    if key not in columns and not few_labels:
        close = difflib.get_close_matches(key, sorted(columns), n=2)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise BenchUsageError(f"cannot sort by '{key}'; {hint}choose one of {', '.join(RUN_COLUMNS)} "
                              f"(or n, or {FEW_LABELS}<N>)")
    metric = key in METRIC_COLUMNS or few_labels
    value_of = (lambda row: metric_value(row, key)) if metric else (lambda row: row.get(key))
    descending = metric and (few_labels or METRIC_COLUMNS[key][1])
    present = [row for row in rows if value_of(row) is not None]
    missing = [row for row in rows if value_of(row) is None]
    return sorted(present, key=lambda row: (value_of(row), str(row.get("path", ""))), reverse=descending) + missing


def best_rows(rows, columns=None):
    """{metric column: indices of the rows with its best value, one per dataset}."""
    best = {}
    for key, (_, higher_is_better) in (columns or metric_columns(rows)).items():
        by_dataset = {}
        for index, row in enumerate(rows):
            value = metric_value(row, key)
            if value is not None and not math.isnan(value):
                by_dataset.setdefault(row["dataset"], []).append((value, index))
        chosen = {(max if higher_is_better else min)(candidates)[1] for candidates in by_dataset.values()}
        if chosen:
            best[key] = chosen
    return best


# -- groups over seeds ----------------------------------------------------------

def spread(values, valid=(None, None)):
    """{n, mean, std, ci_low, ci_high, ci_note} of a sample: the sample standard deviation and
    the 95% confidence interval of the mean (Student's t); std and interval None when n < 2.
    `valid` = (low, high) is what the metric can be (None: no bound): an interval reaching
    beyond it gets a `ci_note` saying why (too few runs for the t interval to bound the mean)."""
    from scipy import stats

    n = len(values)
    if n == 0:
        return None
    mean = sum(values) / n
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "ci_low": None, "ci_high": None, "ci_note": None}
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    low, high = valid
    beyond = [f"below {low:g}" for _ in [0] if low is not None and mean - half < low] + \
             [f"above {high:g}" for _ in [0] if high is not None and mean + half > high]
    note = (f"the interval reaches {' and '.join(beyond)}, where the metric cannot be: Student's t from n={n} "
            "runs is too wide to bound the mean (more seeds narrow it)") if beyond else None
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - half, "ci_high": mean + half, "ci_note": note}


def _mean_history(members):
    """The members' validation curves averaged over the epochs that all of them have."""
    curves = [{entry["epoch"]: entry["validation_error"] for entry in row["history"]} for row in members]
    epochs = sorted(set.intersection(*(set(curve) for curve in curves))) if curves else []
    history = []
    for epoch in epochs:
        values = [curve[epoch] for curve in curves]
        summary = spread(values)
        history.append({"epoch": epoch, "validation_error": summary["mean"], "std": summary["std"] or 0.0})
    return history


def group_key(row):
    """What puts runs in one group: the same configuration but the seed, trained for the same
    number of epochs (runs of other lengths are never averaged together); a damaged run is
    a group of its own."""
    if row.get("damage"):
        return row["path"]
    return json.dumps(dict(identity(row["config"]), epochs=row["epochs"]), sort_keys=True, default=str)


def group_rows(rows, columns=None):
    """One row per configuration and length (runs that differ only by seed), with each
    metric's spread over the runs that have it."""
    columns = columns or metric_columns(rows)
    groups = {}
    for row in rows:
        groups.setdefault(group_key(row), []).append(row)
    grouped = []
    for members in groups.values():
        members = sorted(members, key=lambda row: (row["seed"] is None, row["seed"] or 0))
        first = members[0]
        finished = sum(row["status"] == "finished" for row in members)
        group = {key: first.get(key) for key in CONFIG_COLUMNS}
        group.update(
            n=len(members), seeds=[row["seed"] for row in members], epochs=first["epochs"],
            status=(first["status"] if len(members) == 1 else
                    "finished" if finished == len(members) else f"{finished} of {len(members)} finished"),
            paths=[row["path"] for row in members],
            identity=dict(identity(first["config"]), epochs=first["epochs"]) if not first.get("damage") else {},
            history=_mean_history([row for row in members if row["history"]]),
            values={key: [v for v in (metric_value(row, key) for row in members) if v is not None]
                    for key in columns},
            stale_probes=sum(1 for row in members if row.get("probe_stale")))
        if first.get("damage"):
            group["damage"] = first["damage"]
        for key in columns:
            group[key] = spread(group["values"][key], METRIC_RANGES.get(key, FRACTION_RANGE))
        grouped.append(group)
    return grouped


def should_group(rows):
    """Whether some configuration has been run with more than one seed (for as many epochs)."""
    keys = [group_key(row) for row in rows]
    return len(set(keys)) < len(keys)


def differences(groups):
    """Welch's t-test for each pair of configurations on one dataset that differ in one setting.

    Returns:
        [{dataset, model, setting, a, b, metric, mean_a, mean_b, std_a, std_b, n_a, n_b,
          difference (b − a), p_value, larger_than_spread}], for the metrics in
        TESTED_METRICS where both sides have at least two runs.
    """
    from scipy import stats

    found = []
    for a, b in itertools.combinations(groups, 2):
        if a["dataset"] != b["dataset"]:
            continue
        differing = [key for key in a["identity"] if a["identity"][key] != b["identity"].get(key)]
        if len(differing) != 1:
            continue
        setting = differing[0]
        try:  # from the smaller value of the setting to the larger, whatever the sort order
            if b["identity"][setting] < a["identity"][setting]:
                a, b = b, a
        except TypeError:
            pass
        for metric in TESTED_METRICS:
            values_a, values_b = a["values"][metric], b["values"][metric]
            if len(values_a) < 2 or len(values_b) < 2:
                continue
            p_value = float(stats.ttest_ind(values_a, values_b, equal_var=False).pvalue)
            found.append({
                "dataset": a["dataset"], "model": a["model"], "setting": setting,
                "a": a["identity"][setting], "b": b["identity"][setting], "metric": metric,
                "mean_a": a[metric]["mean"], "mean_b": b[metric]["mean"], "std_a": a[metric]["std"],
                "std_b": b[metric]["std"], "n_a": len(values_a), "n_b": len(values_b),
                "difference": b[metric]["mean"] - a[metric]["mean"],
                "p_value": None if math.isnan(p_value) else p_value,
                "larger_than_spread": bool(p_value < SIGNIFICANCE) if not math.isnan(p_value) else False})
    return found


def difference_lines(found):
    """Each Welch's t-test in words."""
    if not found:
        return []
    lines = [f"Welch's t-test (scipy.stats.ttest_ind, equal_var=False) of configurations that differ in one "
             f"setting; p < {SIGNIFICANCE} reads as a difference larger than the seed spread:"]
    for item in found:
        metric = item["metric"]
        show = lambda value: metrics.format_value(metric, value)  # noqa: E731
        p_value = item["p_value"]
        verdict = ("no spread to compare with (identical runs)" if p_value is None else
                   f"p = {p_value:.3g}: " + ("larger than the seed spread" if item["larger_than_spread"]
                                             else "within the seed spread"))
        subject = item["dataset"] if item["setting"] == "model" else f"{item['model']} on {item['dataset']}"
        lines.append(f"  {subject}, {item['setting']} {item['a']} → {item['b']}: "
                     f"{HEADINGS[metric]} {show(item['mean_a'])} ± {show(item['std_a'])} (n={item['n_a']}) → "
                     f"{show(item['mean_b'])} ± {show(item['std_b'])} (n={item['n_b']}), "
                     f"difference {item['difference']:+.5g}; {verdict}")
    return lines


# -- output -------------------------------------------------------------------

def _number(key, value):
    if value is None:
        return "—"
    if key == "probe_accuracy" or key.startswith(("anomaly_", FEW_LABELS)):
        return f"{value:.4f}"
    return metrics.format_value(key, value)


def _is_metric(key):
    return key in METRIC_COLUMNS or key.startswith(FEW_LABELS)


def _cell(row, key, multiline=False):
    value = row.get(key)
    if _is_metric(key):
        if isinstance(value, dict) or (value is None and "n" in row):
            return _spread_cell(row, key, multiline)
        text = _number(key, value)
        spread_over_draws = row.get(f"{key}_std") if key.startswith(FEW_LABELS) else None
        if spread_over_draws is not None and value is not None:
            text += ("\n± " if multiline else " ± ") + _number(key, spread_over_draws)
        stale = row.get(stale_key(key)) if stale_key(key) else None
        return f"{text} (stale)" if stale and value is not None else text
    if key == "run":
        return _run_cell(row)
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _run_cell(row):
    """The configuration in one cell: model and dataset, then the optimizer and what else names it."""
    if row.get("damage") and not row.get("config"):  # nothing but the folder's place is known
        return f"{row.get('model')} ?\n{row.get('comment')}"
    parts = [f"{row['optimizer']} lr={row['lr']:g}" if isinstance(row.get("lr"), float) else str(row.get("optimizer"))]
    if row.get("l2"):
        parts.append(f"l2={row['l2']:g}")
    parts += [text for text in (row.get("options"), row.get("comment")) if text]
    return f"{row.get('model')} {row.get('dataset')}\n" + " ".join(parts)


def _spread_cell(row, key, multiline, interval=True):
    """A group's metric: mean ± std [interval], and how many of its runs it comes from when
    not all of them have it; a dagger on an interval bound beyond the metric's range."""
    summary = row.get(key)
    notes = []
    if summary and summary["n"] < row["n"]:
        notes.append(f"{summary['n']} of {row['n']} runs")
    if key == "probe_accuracy" and row.get("stale_probes"):
        notes.append(f"{row['stale_probes']} stale left out")
    note = f" ({'; '.join(notes)})" if notes else ""
    if not summary:
        return "—" + note
    if summary["std"] is None:
        return _number(key, summary["mean"]) + note
    text = f"{_number(key, summary['mean'])}{chr(10) if multiline else ' '}± {_number(key, summary['std'])}"
    if not interval:
        return text + note
    dagger = DAGGER if summary.get("ci_note") else ""
    bounds = f"[{_number(key, summary['ci_low'])}, {_number(key, summary['ci_high'])}]{dagger}"
    return f"{text}\n{bounds}{note}" if multiline else f"{text} {bounds}{note}"


def table_columns(rows, grouped, wide, columns):
    """The table's column keys: every one with --wide; otherwise the configuration folded into
    one "run" column, the secondary metrics left out, and columns no row fills dropped."""
    metric_keys = list(columns)
    if wide:
        return [*CONFIG_COLUMNS, "n" if grouped else "seed", "epochs", *metric_keys, "status"]
    keys = ["run", "n" if grouped else "seed", "epochs"]
    keys += [key for key in metric_keys if key not in NARROW_LEFT_OUT]
    if any(row.get("status") != "finished" for row in rows):
        keys.append("status")
    return keys


def _heading(key, columns):
    return columns[key][0] if key in columns else HEADINGS[key]


def render_table(rows, title, grouped=False, wide=False, columns=None):
    """A rich Table, the best value of each metric column on each dataset bold and starred.

    Narrow (the default) fits 100 columns: metric cells are never cut (they keep their
    width; the run column wraps), each spread on a line of its own."""
    from rich import box

    columns = columns or metric_columns(rows)
    best = best_rows(rows, columns)
    keys = table_columns(rows, grouped, wide, columns)
    table = Table(title=title, title_justify="left", box=box.HEAVY_HEAD if wide else box.SIMPLE_HEAD,
                  collapse_padding=not wide, pad_edge=wide)
    cells = [[_table_cell(row, key, index, best, grouped, wide) for key in keys] for index, row in enumerate(rows)]
    for position, key in enumerate(keys):
        numeric = _is_metric(key) or key in ("lr", "l2", "epochs", "seed", "n")
        longest = max([len(line) for row in cells for line in _plain(row[position]).splitlines()] + [1])
        table.add_column("ep" if key == "epochs" and not wide else _heading(key, columns),
                         justify="right" if numeric else "left",
                         no_wrap=_is_metric(key), min_width=longest if _is_metric(key) else None,
                         overflow="fold", ratio=1 if key == "run" else None)
    for row in cells:
        table.add_row(*row)
    return table


def _plain(markup):
    return markup.replace("[bold]", "").replace("[/bold]", "")


def _table_cell(row, key, index, best, grouped, wide):
    text = _spread_cell(row, key, True, interval=wide) if grouped and _is_metric(key) else _cell(row, key, True)
    return f"[bold]*{text}[/bold]" if index in best.get(key, ()) else text


def render_markdown(rows, grouped=False, columns=None):
    """A Markdown table, the best value of each metric column on each dataset in bold."""
    columns = columns or metric_columns(rows)
    best = best_rows(rows, columns)
    keys = table_columns(rows, grouped, True, columns)
    lines = ["| " + " | ".join(_heading(key, columns) for key in keys) + " |",
             "|" + "|".join("---:" if _is_metric(key) else "---" for key in keys) + "|"]
    for index, row in enumerate(rows):
        cells = [f"**{_cell(row, key)}**" if index in best.get(key, ()) else _cell(row, key) for key in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_fields(grouped, columns):
    """The CSV header: the configuration, then each metric (a group's as mean, std, ci_low, ci_high)."""
    if not grouped:
        extra = [f"{key}_std" for key in columns if key.startswith(FEW_LABELS)]
        return [*CONFIG_COLUMNS, "seed", "epochs", *columns, *extra, "status", "probe_stale", "path"]
    return ([*CONFIG_COLUMNS, "n", "epochs", "status", "seeds"]
            + [f"{key}_{part}" for key in columns for part in ("n", "mean", "std", "ci_low", "ci_high")]
            + ["ci_notes", "paths"])


def _flat(row, grouped, fields):
    """A row as CSV fields: full precision; a group's metrics as mean, std, ci_low, ci_high."""
    if not grouped:
        return {key: row.get(key) for key in fields}
    flat = {key: row.get(key) for key in fields}
    flat["seeds"] = " ".join(map(str, row["seeds"]))
    for field in fields:
        key, _, part = field.rpartition("_")
        if part in ("n", "mean", "std", "low", "high") and _is_metric(key.removesuffix("_ci")):
            summary = row.get(key.removesuffix("_ci")) or {}
            flat[field] = summary.get(f"ci_{part}" if part in ("low", "high") else part)
    flat["ci_notes"] = "; ".join(f"{key}: {row[key]['ci_note']}" for key in row
                                 if _is_metric(key) and isinstance(row[key], dict) and row[key].get("ci_note"))
    flat["paths"] = " ".join(row["paths"])
    return flat


def render_csv(rows, grouped=False, columns=None):
    """CSV with a header of column keys and full-precision values."""
    fields = csv_fields(grouped, columns or metric_columns(rows))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_flat(row, grouped, fields) for row in rows)
    return buffer.getvalue().rstrip("\n")


def _label(row):
    return row.get("path") or " ".join(str(row[key]) for key in CONFIG_COLUMNS if row.get(key) not in (None, ""))


def render_json(rows, grouped=False, found=()):
    """JSON: the runs (or groups, with their spread and Welch's t-tests) at full precision,
    and the best of each metric on each dataset."""
    best = {}
    for key, indices in best_rows(rows).items():
        best[key] = {rows[index]["dataset"]: _label(rows[index]) for index in sorted(indices)}
    document = {"groups" if grouped else "runs": rows, "best": best}
    if grouped:
        document["differences"] = list(found)
    return json.dumps(document, indent=2, sort_keys=True, default=str)


def plot_rows(rows, path, grouped=False):
    """The validation error curves of `rows` in one PNG, one panel per dataset (a group's mean
    with a ± std band); returns how many curves it drew."""
    from bench import pictures

    panels = {}
    for row in rows:
        if not row["history"]:
            continue
        epochs = [h["epoch"] for h in row["history"]]
        errors = [h["validation_error"] for h in row["history"]]
        label = _run_cell(row).replace("\n", " ").removeprefix(f"{row['model']} {row['dataset']} ")
        label = f"{row['model']} {label}"
        if grouped:
            band = ([e - h["std"] for e, h in zip(errors, row["history"])],
                    [e + h["std"] for e, h in zip(errors, row["history"])])
            panels.setdefault(row["dataset"], []).append((f"{label} (n={row['n']})", epochs, errors, band))
        else:
            panels.setdefault(row["dataset"], []).append((f"{label} seed={row['seed']}", epochs, errors, None))
    if not panels:
        raise BenchUsageError("none of the selected runs has finished an epoch yet: nothing to plot")
    count = sum(len(series) for series in panels.values())
    what = "mean validation error (± std over seeds)" if grouped else "validation error"
    try:
        pictures.save_curve_panels(path, panels, f"{what} of {count} {'configuration' if grouped else 'run'}(s)")
    except OSError as error:
        raise BenchError(f"cannot write {path}: {error.strerror or error}") from error
    return count, len(panels)


def _legend_lines(rows, grouped, wide, columns):
    lines = [LEGEND]
    lines += [text for key, text in EXTRA_LEGENDS.items() if any(column.startswith(key) for column in columns)]
    if grouped:
        lines.append(GROUP_LEGEND if wide else GROUP_NARROW_LEGEND)
        lines += interval_notes(rows, columns) if wide else []
    if any(row.get("status") == STOPPED for row in rows):
        lines.append(STOPPED_LEGEND)
    if not wide:
        lines.append(NARROW_LEGEND)
    return lines


def show(rows, title, output_format="table", group=None, plot=None, sort_key="validation_error", wide=False):
    """Print `rows` (runs) in `output_format`, grouped over seeds when `group` is True
    (or None and some configuration has several seeds); with `plot`, draw their curves.
    A table fits the terminal (100 columns and more) unless `wide`."""
    if output_format not in FORMATS:
        raise BenchUsageError(f"unknown --format '{output_format}'; choose one of {', '.join(FORMATS)}")
    for row in rows:
        if row.get("damage"):
            print(f"warning: {row['damage']}", file=sys.stderr)
    columns = metric_columns(rows)
    grouped = should_group(rows) if group is None else group
    if grouped:
        rows = group_rows(rows, columns)
    rows = sort_rows(rows, sort_key)
    found = differences(rows) if grouped else []
    if output_format == "table":
        console = make_console(unbounded=wide)
        if "status" not in table_columns(rows, grouped, wide, columns):
            title = title.replace(" run(s) under ", " run(s), all finished, under ", 1)
        console.print(textwrap.fill(title, console.width), markup=False, highlight=False, soft_wrap=True)
        console.print(render_table(rows, None, grouped, wide, columns))
        for line in _legend_lines(rows, grouped, wide, columns) + difference_lines(found):
            console.print(textwrap.fill(line, console.width, subsequent_indent="  " if line.startswith("  ") else ""),
                          markup=False, highlight=False, soft_wrap=True)
    elif output_format == "markdown":
        print(render_markdown(rows, grouped, columns))
        for line in interval_notes(rows, columns) if grouped else []:
            print("\n" + line)
        lines = difference_lines(found)
        if lines:
            print("\n" + lines[0] + "\n\n" + "\n".join(f"- {line.strip()}" for line in lines[1:]))
    elif output_format == "csv":
        print(render_csv(rows, grouped, columns))
    else:
        print(render_json(rows, grouped, found))
    if plot:
        curves, datasets = plot_rows(rows, plot, grouped)
        print(f"wrote the validation curves of {curves} {'configuration' if grouped else 'run'}(s) on {datasets} "
              f"dataset(s) to {plot}", file=sys.stderr if output_format != "table" else sys.stdout)
    return rows


def compare_runs(log_dir, model, dataset, sort_key, where=(), output_format="table", plot=None, group=None,
                 wide=False):
    """Print the comparison of the runs under `log_dir` in `output_format`; with
    `plot`, also draw their validation curves into that PNG file.

    Args:
        group: True for one row per configuration over its seeds, False for one
            row per run, None to group when some configuration has several seeds.
    """
    sort_rows([], sort_key)  # an unknown column is refused before anything is read
    rows = collect_rows(log_dir, model, dataset, where)
    if not rows:
        if plot:
            raise BenchUsageError("none of the selected runs has finished an epoch yet: nothing to plot")
        if output_format == "table":  # (another format prints an empty document)
            if model or dataset or where:
                make_console().print(f"no run under {log_dir} is selected by "
                                     + " ".join([f"--model {model}"] * bool(model) + [f"--dataset {dataset}"] *
                                                bool(dataset) + [f"--where {w}" for w in where]))
            else:
                make_console().print(f"no runs under {log_dir}; start one with: "
                                     "bench train --model SingleLayerCAE --dataset Digits --epochs 5")
            return rows
    return show(rows, f"{len(rows)} run(s) under {log_dir}, sorted by {sort_key}", output_format, group, plot,
                sort_key, wide)
