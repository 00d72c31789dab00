"""Reconstruction metrics, each with its scale stated, and a table of them."""

import math

from rich.table import Table

DEFINITIONS = {
    "error": "DTB's error: ½·mean((x − x̃)²) over all pixels, pixels in [-1, 1] (the DTB blog's number)",
    "mse": "mean((x − x̃)²) over all pixels, pixels in [0, 1] (= error / 2)",
    "psnr": "10·log10(1 / mse) in dB, from the dataset-wide mse on [0, 1]",
}


def from_squared_error(sum_squared_error, n_values):
    """{error, mse, psnr} from the sum of (x − x̃)² over `n_values` pixels on [-1, 1]."""
    mean_square = sum_squared_error / n_values
    mse = mean_square / 4.0  # [-1, 1] → [0, 1] halves each difference
    psnr = 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf
    return {"error": 0.5 * mean_square, "mse": mse, "psnr": psnr}


def format_value(name, value):
    """A metric as the tables show it."""
    if value is None:
        return "—"
    return f"{value:.2f}" if name.endswith("psnr") else f"{value:.5f}"


def metrics_table(rows):
    """A rich Table of {label: {error, mse, psnr}}."""
    table = Table()
    table.add_column("")
    for name in ("error", "mse", "psnr"):
        table.add_column(name, justify="right")
    for label, values in rows.items():
        table.add_row(label, *(format_value(n, values.get(n)) for n in ("error", "mse", "psnr")))
    return table
