"""`bench compare`'s four outputs of the same rows: a table for the terminal,
Markdown, CSV and JSON (full precision), and the legend under the table."""

import csv
import io
import json

from rich.table import Table

from bench.model import metrics
from bench.run.results import FIELDS
from bench.study.columns import CONFIG_COLUMNS, heading, is_metric, metric_columns, number
from bench.study.rows import STOPPED, best_rows
from bench.study.statistics import DAGGER, interval_notes

FORMATS = ("table", "csv", "json", "markdown")
LEGEND = (f"{metrics.legend()}. "
          "Metrics of each run's best model on validation; * marks the best of each column on each dataset.")
NARROW_LEGEND = (f"test {', '.join(metric.name for metric in metrics.METRICS if not metric.narrow)}, AP and the "
                 "separate configuration columns: --wide.")
GROUP_LEGEND = ("Grouped: one row per configuration over its seeds, runs of the same length only (epochs): "
                "mean ± sample standard deviation, [95% confidence interval of the mean, Student's t]; n runs; "
                "(k of n runs): a figure only k of them have.")
GROUP_NARROW_LEGEND = ("Grouped: one row per configuration over its seeds, runs of the same length only (epochs): "
                       "mean ± sample standard deviation; n runs; (k of n runs): a figure only k of them have "
                       "(95% confidence intervals: --wide, csv, json).")
STOPPED_LEGEND = (f"{STOPPED}: its results say running, but no process trains it (killed, or its disk full); "
                  "the same bench train command resumes it.")


# -- cells ------------------------------------------------------------------------------

def cell(row, key, multiline=False):
    """A row's value in one column as text."""
    value = row.get(key)
    if is_metric(key):
        if isinstance(value, dict) or (value is None and "n" in row):
            return spread_cell(row, key, multiline)
        text = number(key, value)
        spread_over_draws = row.get(f"{key}_std")
        if spread_over_draws is not None and value is not None:
            text += ("\n± " if multiline else " ± ") + number(key, spread_over_draws)
        return f"{text} (stale)" if row.get("stale", {}).get(key) and value is not None else text
    if key == "run":
        return run_cell(row)
    if value is None:
        return "—"
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_cell(row):
    """The configuration in one cell: model and dataset, then the optimizer and what else names it."""
    if row.get("damage") and not row.get("config"):  # nothing but the folder's place is known
        return f"{row.get('model')} ?\n{row.get('comment')}"
    parts = [f"{row['optimizer']} lr={row['lr']:g}" if isinstance(row.get("lr"), float) else str(row.get("optimizer"))]
    if row.get("l2"):
        parts.append(f"l2={row['l2']:g}")
    parts += [text for text in (row.get("options"), row.get("comment")) if text]
    return f"{row.get('model')} {row.get('dataset')}\n" + " ".join(parts)


def spread_cell(row, key, multiline, interval=True):
    """A group's metric: mean ± std [interval], and how many of its runs it comes from when
    not all of them have it; a dagger on an interval bound beyond the metric's range."""
    summary = row.get(key)
    notes = []
    if summary and summary["n"] < row["n"]:
        notes.append(f"{summary['n']} of {row['n']} runs")
    if row.get("stale", {}).get(key):
        notes.append(f"{row['stale'][key]} stale left out")
    note = f" ({'; '.join(notes)})" if notes else ""
    if not summary:
        return "—" + note
    if summary["std"] is None:
        return number(key, summary["mean"]) + note
    text = f"{number(key, summary['mean'])}{chr(10) if multiline else ' '}± {number(key, summary['std'])}"
    if not interval:
        return text + note
    dagger = DAGGER if summary.get("ci_note") else ""
    bounds = f"[{number(key, summary['ci_low'])}, {number(key, summary['ci_high'])}]{dagger}"
    return f"{text}\n{bounds}{note}" if multiline else f"{text} {bounds}{note}"


# -- the table --------------------------------------------------------------------------

def table_columns(rows, grouped, wide, columns):
    """The table's column keys: every one with --wide; otherwise the configuration folded into
    one "run" column, the columns narrow tables leave out left out, and "status" only when
    some run has not finished."""
    if wide:
        return [*CONFIG_COLUMNS, "n" if grouped else "seed", "epochs", *columns, "status"]
    keys = ["run", "n" if grouped else "seed", "epochs"]
    keys += [key for key, column in columns.items() if column.narrow]
    if any(row.get("status") != "finished" for row in rows):
        keys.append("status")
    return keys


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
        metric = is_metric(key)
        table.add_column("ep" if key == "epochs" and not wide else heading(key, columns),
                         justify="right" if metric or key in ("lr", "l2", "epochs", "seed", "n") else "left",
                         no_wrap=metric, min_width=_least_width(cells, position, whole_lines=metric),
                         overflow="fold", ratio=1 if key == "run" else None)
    for row in cells:
        table.add_row(*row)
    return table


def _least_width(cells, position, whole_lines):
    """The narrowest a column may be: its longest line (a number is never cut), or its longest
    word (a model's name is never broken)."""
    lines = [line for row in cells for line in _plain(row[position]).splitlines()]
    pieces = lines if whole_lines else [word for line in lines for word in line.split()]
    return max([len(piece) for piece in pieces] + [1])


def table_width(rows, grouped, wide, columns):
    """The narrowest the table can be drawn without cutting a number or a word."""
    keys = table_columns(rows, grouped, wide, columns)
    best = best_rows(rows, columns)
    cells = [[_table_cell(row, key, index, best, grouped, wide) for key in keys] for index, row in enumerate(rows)]
    return sum(max(_least_width(cells, position, is_metric(key)), len(heading(key, columns)) if is_metric(key)
                   else 2) + 1 for position, key in enumerate(keys))


def render_blocks(rows, grouped, columns):
    """The table as one block per run (or configuration), for a terminal too narrow for it:
    the run on its first line, then one `heading: value` line per column."""
    best = best_rows(rows, columns)
    keys = table_columns(rows, grouped, False, columns)
    lines = []
    for index, row in enumerate(rows):
        lines.append(_plain(_table_cell(row, "run", index, best, grouped, False)).replace("\n", " "))
        for key in keys[1:]:
            value = _plain(_table_cell(row, key, index, best, grouped, False)).replace("\n", " ")
            if value.strip():
                lines.append(f"  {heading(key, columns)}: {value}")
    return lines


def _plain(markup):
    return markup.replace("[bold]", "").replace("[/bold]", "")


def _table_cell(row, key, index, best, grouped, wide):
    text = spread_cell(row, key, True, interval=wide) if grouped and is_metric(key) else cell(row, key, True)
    return f"[bold]*{text}[/bold]" if index in best.get(key, ()) else text


def legend_lines(rows, grouped, wide, columns):
    """What the table's figures mean: the metrics, each Field's columns shown, the grouping,
    a stopped run, and what --wide adds."""
    lines = [LEGEND]
    lines += [field.legend for field in FIELDS if any(field.column(key) for key in columns)]
    if grouped:
        lines.append(GROUP_LEGEND if wide else GROUP_NARROW_LEGEND)
        lines += interval_notes(rows, columns) if wide else []
    if any(row.get("status") == STOPPED for row in rows):
        lines.append(STOPPED_LEGEND)
    if not wide:
        lines.append(NARROW_LEGEND)
    return lines


# -- documents --------------------------------------------------------------------------

def render_markdown(rows, grouped=False, columns=None):
    """A Markdown table, the best value of each metric column on each dataset in bold."""
    columns = columns or metric_columns(rows)
    best = best_rows(rows, columns)
    keys = table_columns(rows, grouped, True, columns)
    lines = ["| " + " | ".join(heading(key, columns) for key in keys) + " |",
             "|" + "|".join("---:" if is_metric(key) else "---" for key in keys) + "|"]
    for index, row in enumerate(rows):
        cells = [f"**{cell(row, key)}**" if index in best.get(key, ()) else cell(row, key) for key in keys]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def csv_fields(rows, grouped, columns):
    """The CSV header: the configuration, then each metric (a run's with the spread over draws
    some Fields give, "<key>_std"; a group's as n, mean, std, ci_low, ci_high)."""
    if not grouped:
        spreads = [f"{key}_std" for key in columns if any(f"{key}_std" in row for row in rows)]
        return [*CONFIG_COLUMNS, "seed", "epochs", *columns, *spreads, "status", "stale", "path"]
    return ([*CONFIG_COLUMNS, "n", "epochs", "status", "seeds"]
            + [f"{key}_{part}" for key in columns for part in ("n", "mean", "std", "ci_low", "ci_high")]
            + ["ci_notes", "paths"])


def _flat(row, grouped, fields, columns):
    """A row as CSV fields: full precision; a group's metrics as n, mean, std, ci_low, ci_high."""
    flat = {key: row.get(key) for key in fields}
    if not grouped:
        flat["stale"] = "; ".join(f"{key}: {why}" for key, why in row.get("stale", {}).items())
        return flat
    flat["seeds"] = " ".join(map(str, row["seeds"]))
    for key in columns:
        summary = row.get(key) or {}
        flat.update({f"{key}_{part}": summary.get(part) for part in ("n", "mean", "std", "ci_low", "ci_high")})
    flat["ci_notes"] = "; ".join(f"{key}: {row[key]['ci_note']}" for key in columns
                                 if isinstance(row.get(key), dict) and row[key].get("ci_note"))
    flat["paths"] = " ".join(row["paths"])
    return flat


def render_csv(rows, grouped=False, columns=None):
    """CSV with a header of column keys and full-precision values."""
    columns = columns or metric_columns(rows)
    fields = csv_fields(rows, grouped, columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    writer.writerows(_flat(row, grouped, fields, columns) for row in rows)
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
