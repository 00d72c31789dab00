"""`bench compare`: the runs under a log folder side by side, one row each, or one
row per configuration with its spread over seeds (no TensorFlow).

The pieces: bench.study.columns (what a column is), rows (a run as a row;
choosing, sorting, marking the best), statistics (groups over seeds, Welch's
t-test), render (table, Markdown, CSV, JSON) and plot (the curves).
"""

import sys
import textwrap

from bench.console import Reporter, make_console
from bench.errors import BenchUsageError
from bench.study.columns import metric_columns
from bench.study.plot import plot_rows
from bench.study.render import (
    FORMATS,
    legend_lines,
    render_csv,
    render_json,
    render_blocks,
    render_markdown,
    render_table,
    table_columns,
    table_width,
)
from bench.study.rows import check_sort_key, collect_rows, sort_rows
from bench.study.statistics import difference_lines, differences, group_rows, interval_notes, should_group, versus


def _print_table(rows, title, grouped, wide, columns, found, notes=()):
    console = make_console(unbounded=wide)
    if "status" not in table_columns(rows, grouped, wide, columns):
        title = title.replace(" run(s) under ", " run(s), all finished, under ", 1)
    console.print(textwrap.fill(title, console.width), markup=False, highlight=False, soft_wrap=True)
    if not wide and console.width < table_width(rows, grouped, wide, columns):  # too narrow: a block per run
        for line in render_blocks(rows, grouped, columns):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        console.print(render_table(rows, None, grouped, wide, columns))
    for line in legend_lines(rows, grouped, wide, columns) + difference_lines(found) + list(notes):
        console.print(textwrap.fill(line, console.width, subsequent_indent="  " if line.startswith("  ") else ""),
                      markup=False, highlight=False, soft_wrap=True)


def _print_markdown(rows, grouped, columns, found):
    print(render_markdown(rows, grouped, columns))
    for line in interval_notes(rows, columns) if grouped else []:
        print("\n" + line)
    lines = difference_lines(found)
    if lines:
        print("\n" + lines[0] + "\n\n" + "\n".join(f"- {line.strip()}" for line in lines[1:]))


def show(rows, title, output_format="table", group=None, plot=None, sort_key="validation_error", wide=False,
         report=None, pairs=None, notes=()):
    """Print `rows` (runs) in `output_format`, grouped over seeds when `group` is True
    (or None and some configuration has several seeds); with `plot`, draw their curves.
    A table fits the terminal (100 columns and more) unless `wide`. A damaged run's
    reason is a warning through `report` (a bench.console.Reporter). `pairs`: two --versus
    selectors, whose groups are tested against each other; `notes`: lines printed under a
    table or a Markdown document (a study's confirmation)."""
    if output_format not in FORMATS:
        raise BenchUsageError(f"unknown --format '{output_format}'; choose one of {', '.join(FORMATS)}")
    report = report or Reporter(interactive=False)
    for row in rows:
        if row.get("damage"):
            report.warning(row["damage"])
    columns = metric_columns(rows)
    grouped = should_group(rows) if group is None else group
    if grouped:
        rows = group_rows(rows, columns)
    rows = sort_rows(rows, sort_key)
    found = differences(rows) if grouped else []
    if pairs:
        if not grouped:
            raise BenchUsageError("--versus tests groups of runs over their seeds; leave out --no-group")
        found += versus(rows, pairs)
    if output_format == "table":
        _print_table(rows, title, grouped, wide, columns, found, notes)
    elif output_format == "markdown":
        _print_markdown(rows, grouped, columns, found)
        print("\n".join(["", *notes]) if notes else "", end="\n" if notes else "")
    else:
        print(render_csv(rows, grouped, columns) if output_format == "csv" else render_json(rows, grouped, found))
    if plot:
        curves, datasets = plot_rows(rows, plot, grouped)
        print(f"wrote the validation curves of {curves} {'configuration' if grouped else 'run'}(s) on {datasets} "
              f"dataset(s) to {plot}", file=sys.stderr if output_format != "table" else sys.stdout)
    return rows


def _nothing_selected(log_dir, model, dataset, where):
    if model or dataset or where:
        chosen = [f"--model {model}"] * bool(model) + [f"--dataset {dataset}"] * bool(dataset)
        return f"no run under {log_dir} is selected by " + " ".join(chosen + [f"--where {w}" for w in where])
    return f"no runs under {log_dir}; start one with: bench train --model SingleLayerCAE --dataset Digits --epochs 5"


def compare_runs(log_dir, model, dataset, sort_key, where=(), output_format="table", plot=None, group=None,
                 wide=False, study=None, storage=None, pairs=None):
    """Print the comparison of the runs under `log_dir` in `output_format`; with
    `plot`, also draw their validation curves into that PNG file.

    Args:
        group: True for one row per configuration over its seeds, False for one
            row per run, None to group when some configuration has several seeds.
        study, storage: only the runs of this `bench search` study (its trials' and its
            confirmation's), grouped, with the confirmation's figures under the table.
        pairs: two --versus selectors to test against each other.
    """
    check_sort_key(sort_key)  # an unknown column is refused before anything is read
    rows = collect_rows(log_dir, model, dataset, where)
    notes, title = [], f"{len(rows)} run(s) under {log_dir}, sorted by {sort_key}"
    if study:
        rows, notes = _study_rows(rows, log_dir, study, storage)
        group = True if group is None else group
        title = f"{len(rows)} run(s) of study {study} under {log_dir}, sorted by {sort_key}"
    if not rows:
        if plot:
            raise BenchUsageError("none of the selected runs has finished an epoch yet: nothing to plot")
        if output_format == "table":  # (another format prints an empty document)
            make_console().print(_nothing_selected(log_dir, model, dataset, where))
            return rows
    return show(rows, title, output_format, group, plot, sort_key, wide, pairs=pairs, notes=notes)


def _study_rows(rows, log_dir, study, storage):
    """The rows of a study's runs, and its confirmation in words (bench.study.confirmation)."""
    from pathlib import Path

    from bench.study.confirmation import confirmation_lines
    from bench.study.search_results import confirmation_of, load_study, objective_of, study_runs
    from bench.study.study import SearchSettings

    found = load_study(SearchSettings(study=study, storage=storage, log_dir=log_dir))
    wanted = {Path(path).resolve() for path in study_runs(found)}
    chosen = [row for row in rows if Path(row["path"]).resolve() in wanted]
    confirmation = confirmation_of(found, objective_of(found))
    notes = ["The groups above hold the search's own runs too; the confirmation below is of fresh seeds only:",
             *confirmation_lines(confirmation)] if confirmation else [
        f"study {study} has no confirmation: bench search --space FILE --study {study} --confirm 2 retrains its best "
        "trials over fresh seeds"]
    return chosen, notes
