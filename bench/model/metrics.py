"""The reconstruction metrics bench reports: one table, METRICS, that everything else reads.

Each epoch's history, results.json's best and evaluations (and their schema), results.txt,
the console's epoch line, `bench eval`'s table, TensorBoard's validation scalars and the
HParams columns, `bench compare`'s columns and `bench search --objective` are all derived
from it. A new metric is one Metric entry (and, when it needs a sum no metric takes yet,
one entry in SUMS): nothing else changes.

A metric is computed from a sum over a split: each batch adds (total, count) of one of
SUMS, and the metric is a function of total / count. The sums' functions take the clean
images and the reconstructions, both on [-1, 1] (bench's range), and import TensorFlow
only when called, so that this table is read without it.
"""

import math
from dataclasses import dataclass
from typing import Callable

from rich.table import Table


def _squared_error(images, reconstructions):
    import tensorflow as tf

    return tf.reduce_sum(tf.square(reconstructions - images)), tf.cast(tf.size(images), tf.float32)


SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def _window_matrix(size, window):
    """The (size − window + 1, size) matrix whose rows slide the normalised 1-D Gaussian
    (σ SSIM_SIGMA) along `size` pixels without padding."""
    import numpy as np

    offsets = np.arange(window) - (window - 1) / 2.0
    gauss = np.exp(-offsets ** 2 / (2.0 * SSIM_SIGMA ** 2))
    matrix = np.zeros((size - window + 1, size), np.float32)
    for row in range(size - window + 1):
        matrix[row, row:row + window] = gauss / gauss.sum()
    return matrix


def _ssim(images, reconstructions):
    """Each image's SSIM in the data's own pixel range ([0, 1], max 1), with the usual 11×11
    Gaussian window, σ 1.5 (smaller images: a window as large as they are), as tf.image.ssim
    computes it; the window is applied as two matrix products (a separable Gaussian), which
    is several times faster on a CPU than its 2-D convolution."""
    import tensorflow as tf

    height, width = images.shape[1], images.shape[2]
    window = min(SSIM_WINDOW, height, width)
    to_unit = lambda values: tf.clip_by_value((values + 1.0) / 2.0, 0.0, 1.0)  # noqa: E731 (two uses)
    x, y = to_unit(images), to_unit(reconstructions)
    stack = tf.transpose(tf.stack([x, y, x * x, y * y, x * y]), [0, 1, 4, 2, 3])  # (5, n, c, h, w)
    down, across = _window_matrix(height, window), _window_matrix(width, window)
    local = tf.matmul(tf.matmul(tf.constant(down), stack), tf.constant(across), transpose_b=True)
    mean_x, mean_y, square_x, square_y, product = tf.unstack(local)
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    luminance = (2.0 * mean_x * mean_y + c1) / (tf.square(mean_x) + tf.square(mean_y) + c1)
    structure = (2.0 * (product - mean_x * mean_y) + c2) / (
        square_x - tf.square(mean_x) + square_y - tf.square(mean_y) + c2)
    per_image = tf.reduce_mean(luminance * structure, axis=[1, 2, 3])
    return tf.reduce_sum(per_image), tf.cast(tf.shape(images)[0], tf.float32)


SUMS = {"squared_error": _squared_error, "ssim": _ssim}
"""{name: f(images, reconstructions) → (total, count)} for one batch, both tensors on [-1, 1]."""


@dataclass(frozen=True)
class Metric:
    """One reconstruction metric.

    Args:
        name: its key in results.json (and `validation_<name>` in the history, `test_<name>`
            in `bench compare` and on TensorBoard).
        formula: what it is, on which scale (results.txt, `bench eval`, docs).
        short: the same in a few words, for a table's legend.
        higher_is_better: its direction (a search maximises it when true).
        valid: (low, high) it can take (None: no bound).
        decimals: how the tables print it.
        total: the entry of SUMS it is computed from.
        value: mean of that sum (total / count) → the metric.
        unit: printed after it on the console ("dB").
        narrow: whether `bench compare`'s narrow table shows it (else with --wide).
        objective: whether `bench search --objective validation_<name>` may optimise it.
        always: whether every results.json has it (False: added later; older runs lack it).
    """

    name: str
    formula: str
    short: str
    higher_is_better: bool
    valid: tuple
    decimals: int
    total: str
    value: Callable[[float], float]
    unit: str = ""
    narrow: bool = False
    objective: bool = True
    always: bool = True

    def text(self, value):
        """The value as the tables print it ("—" for none)."""
        return "—" if value is None else f"{value:.{self.decimals}f}"

    @property
    def direction(self):
        """Optuna's word for it: "maximize" or "minimize"."""
        return "maximize" if self.higher_is_better else "minimize"


def _psnr(mean_square):
    mse = mean_square / 4.0  # [-1, 1] → [0, 1] halves each difference
    return 10.0 * math.log10(1.0 / mse) if mse > 0 else math.inf


METRICS = (
    Metric("error", "DTB's error: ½·mean((x − x̃)²) over all pixels, pixels in [-1, 1] (the DTB blog's number)",
           short="½·mean((x − x̃)²) on [-1, 1] (DTB)", higher_is_better=False, valid=(0, None), decimals=5,
           total="squared_error", value=lambda mean: 0.5 * mean, narrow=True),
    Metric("mse", "mean((x − x̃)²) over all pixels, pixels in [0, 1] (= error / 2)",
           short="on [0, 1]", higher_is_better=False, valid=(0, None), decimals=5,
           total="squared_error", value=lambda mean: mean / 4.0),
    Metric("psnr", "10·log10(1 / mse) in dB, from the dataset-wide mse on [0, 1]",
           short="dB", higher_is_better=True, valid=(None, None), decimals=2,
           total="squared_error", value=_psnr, unit="dB"),
    Metric("ssim", "structural similarity (Wang et al. 2004), mean over images, pixels in [0, 1], 11×11 Gaussian window (smaller images: as wide as they are)",
           short="on [0, 1] pixels, 1: a perfect copy", higher_is_better=True, valid=(-1, 1), decimals=4,
           total="ssim", value=lambda mean: min(1.0, max(-1.0, mean)),  # float32 sums may stray past ±1 by an ulp
           always=False),
)
BY_NAME = {metric.name: metric for metric in METRICS}
DEFINITIONS = {metric.name: metric.formula for metric in METRICS}
OBJECTIVES = {f"validation_{metric.name}": metric.direction for metric in METRICS if metric.objective}
"""What a search may optimise, with its direction: a metric of the validation split that every
epoch records in the run's history, and whose value for the run is that of its best model
(results.json's best.validation, which `bench eval` measures again)."""


def from_sums(totals):
    """{metric name: value} from {sum name: (total, count)} over a split."""
    return {metric.name: metric.value(totals[metric.total][0] / totals[metric.total][1]) for metric in METRICS}


def history_entry(validation, prefix="validation_"):
    """{validation_<name>: value} of an epoch's validation metrics."""
    return {f"{prefix}{metric.name}": validation[metric.name] for metric in METRICS if metric.name in validation}


def epoch_words(validation):
    """The console's words for an epoch's validation metrics beyond the error."""
    return "  ".join(f"{metric.name} {metric.text(validation[metric.name])}{' ' + metric.unit if metric.unit else ''}"
                     for metric in METRICS[1:] if metric.name in validation)


def legend():
    """One line naming each metric's scale, for the foot of a table."""
    return "; ".join(f"{metric.name}: {metric.short}" for metric in METRICS)


def metrics_table(rows):
    """A rich Table of {label: {metric name: value}}."""
    table = Table()
    table.add_column("")
    for metric in METRICS:
        table.add_column(metric.name, justify="right")
    for label, values in rows.items():
        table.add_row(label, *(metric.text(values.get(metric.name)) for metric in METRICS))
    return table
