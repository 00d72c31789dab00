"""The columns of `bench compare`: a run's configuration, then its metrics.

The reconstruction metrics are always there; what `bench eval` adds (a probe,
anomaly scores, few-label probes) brings its own columns, described by its
Field in bench.run.results, shown when some run has them.
"""

from bench.model import metrics
from bench.run.results import FIELDS, Column

CONFIG_COLUMNS = {"model": "model", "dataset": "dataset", "optimizer": "optimizer", "lr": "lr", "l2": "l2",
                  "options": "options", "comment": "comment"}
"""{column key: heading} of what configures a run."""



def _column(heading, metric):
    return Column(heading, narrow=metric.narrow, higher_is_better=metric.higher_is_better, valid=metric.valid,
                  decimals=metric.decimals)


RECONSTRUCTION = {"validation_error": _column("val error", metrics.BY_NAME["error"]),
                  **{f"test_{metric.name}": _column(f"test {metric.name}", metric) for metric in metrics.METRICS}}
"""The metrics of each run's best model (bench.model.metrics.METRICS), in every table."""

OTHER_HEADINGS = {"seed": "seed", "n": "n", "epochs": "epochs", "status": "status", "run": "run"}
TESTED_METRICS = ("validation_error", "test_error")
"""The metrics Welch's t-test compares between configurations."""


def column_of(key):
    """The metric Column of a column key, or None when the key is not a metric's."""
    if key in RECONSTRUCTION:
        return RECONSTRUCTION[key]
    for field in FIELDS:
        column = field.column(key)
        if column is not None:
            return column
    return None


def is_metric(key):
    """Whether a column key is a metric's."""
    return column_of(key) is not None


def metric_columns(rows):
    """{key: Column} of the metrics the rows can show: the reconstruction metrics, then
    each Field's columns that some row has, in FIELDS' order."""
    present = {key for row in rows for key, value in row.items() if value is not None}
    columns = dict(RECONSTRUCTION)
    for field in FIELDS:
        own = [(key, field.column(key)) for key in present]
        columns.update(sorted(((key, column) for key, column in own if column), key=lambda pair: pair[1].position))
    return columns


def sortable_names():
    """The column keys `bench compare --sort` takes, as its error message lists them."""
    names = [*CONFIG_COLUMNS, "seed", "epochs", *RECONSTRUCTION]
    names += [name for field in FIELDS for name in field.column_names]
    return names + ["status", "n"]


def heading(key, columns=None):
    """A column's heading."""
    column = (columns or {}).get(key) or column_of(key)
    if column is not None:
        return column.heading
    return CONFIG_COLUMNS.get(key) or OTHER_HEADINGS[key]


def number(key, value):
    """A metric's value as the tables show it."""
    return column_of(key).text(value)
