"""`bench compare --plot`: the selected runs' validation curves in one PNG."""

from bench.errors import BenchError, BenchUsageError
from bench.study.render import run_cell


def _curve(row, grouped):
    """(label, epochs, errors, band) of a row's validation curve; band: (low, high) or None."""
    epochs = [h["epoch"] for h in row["history"]]
    errors = [h["validation_error"] for h in row["history"]]
    label = run_cell(row).replace("\n", " ").removeprefix(f"{row['model']} {row['dataset']} ")
    label = f"{row['model']} {label}"
    if not grouped:
        return f"{label} seed={row['seed']}", epochs, errors, None
    band = ([e - h["std"] for e, h in zip(errors, row["history"])],
            [e + h["std"] for e, h in zip(errors, row["history"])])
    return f"{label} (n={row['n']})", epochs, errors, band


def plot_rows(rows, path, grouped=False):
    """The validation error curves of `rows` in one PNG, one panel per dataset (a group's mean
    with a ± std band); returns (curves drawn, datasets)."""
    from bench import pictures

    panels = {}
    for row in rows:
        if row["history"]:
            panels.setdefault(row["dataset"], []).append(_curve(row, grouped))
    if not panels:
        raise BenchUsageError("none of the selected runs has finished an epoch yet: nothing to plot")
    count = sum(len(series) for series in panels.values())
    what = "mean validation error (± std over seeds)" if grouped else "validation error"
    try:
        pictures.save_curve_panels(path, panels, f"{what} of {count} {'configuration' if grouped else 'run'}(s)")
    except OSError as error:
        raise BenchError(f"cannot write {path}: {error.strerror or error}") from error
    return count, len(panels)
