"""The trials of `bench search --show` on the terminal: a table as wide as the terminal
allows without cutting a word (each setting on a line of its own; the run folders only
when they fit), or below that width one block of lines per trial, as `bench compare`
does; a failed trial's reason under the table."""

import textwrap

from bench.study.confirmation import settings_text


def state_text(row):
    """`complete`, `fail (queued again)`, `running (retry 1 of #3)`."""
    state = row["state"].lower() + (" (queued again)" if row["retried"] else "")
    if row["retry_of"] is not None:
        state += f" (retry {row['attempt']} of #{row['retry_of']})" if row["attempt"] else f" (of #{row['retry_of']})"
    return state


def value_text(row):
    """The trial's figure: `0.05712`, or `0.05712 ± 0.00311 (n=3)` over repeats; marked when its
    run has changed since (never shown as if it held)."""
    text = "" if row["value"] is None else f"{row['value']:.5f}"
    if row.get("std") is not None and row["state"] == "COMPLETE":
        text += f" ± {row['std']:.5f} (n={row['n']})"
    return text + (" (run changed!)" if row["check"] else "")


def _cells(row, with_run):
    cells = [str(row["number"]), state_text(row), value_text(row).replace(" (n=", "\n(n="),
             str(row["epochs"] or ""), settings_text(row["params"]).replace(" ", "\n")]
    if with_run:
        cells.append(row["run"] if row["state"] != "FAIL" else "")
    return cells


def _table(rows, title, heading, with_run):
    from rich import box
    from rich.table import Table

    headings = ["#", "state", heading, "ep", "settings"] + (["run"] if with_run else [])
    cells = [_cells(row, with_run) for row in rows]
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    for position, name in enumerate(headings):
        words = [word for row in cells for line in row[position].splitlines() for word in line.split()]
        table.add_column(name, min_width=max([len(word) for word in words] + [len(name)]), overflow="fold",
                         justify="right" if name in ("#", "ep") else "left")
    for row in cells:
        table.add_row(*row)
    return table


def _least_width(console, table):
    from rich.measure import Measurement

    return Measurement.get(console, console.options.update(width=10_000), table).minimum


def print_trials(rows, study, heading, report):
    """Show the trials through `report`: the widest form that fits its console."""
    title = f"study {study}: {len(rows)} trial(s) ({_counts(rows)}), best first"
    console = report.console
    for with_run in (True, False):
        table = _table(rows, title, heading, with_run)
        if _least_width(console, table) <= console.width:
            report.table(table)
            if not with_run:
                report.info("each trial's run folder: --format csv, or bench compare --study " + study)
            break
    else:
        for line in record_lines(rows, title, heading, console.width):
            report.info(line)
    for row in rows:
        if row["state"] == "FAIL" and row["reason"]:
            report.info(textwrap.fill(f"trial {row['number']} failed: {row['reason']}", console.width,
                                      subsequent_indent="  ", break_long_words=False, break_on_hyphens=False))


def record_lines(rows, title, heading, width):
    """The trials as blocks of `label: value` lines, for a terminal narrower than the table."""
    lines = textwrap.wrap(title, width)
    for row in rows:
        lines.append(f"#{row['number']} {state_text(row)}")
        for label, value in ((heading, value_text(row)), ("epochs", row["epochs"]),
                             ("settings", settings_text(row["params"])),
                             ("run", row["run"] if row["state"] != "FAIL" else None)):
            if value not in (None, ""):
                lines += textwrap.wrap(f"{label}: {value}", width, initial_indent="  ", subsequent_indent="    ",
                                       break_long_words=False, break_on_hyphens=False)
    return lines


def _counts(rows):
    counts = {}
    for row in rows:
        counts[row["state"].lower()] = counts.get(row["state"].lower(), 0) + 1
    return ", ".join(f"{count} {state}" for state, count in counts.items())
