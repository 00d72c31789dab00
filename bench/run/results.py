"""results.json: its schema, the named records that change it, and its readable twin.

results.json holds one object, changed only through the records below (`epoch_done`,
`final_metrics`, `progress`, `data_used`, `evaluation`, and each FIELDS entry's
`stored`), under the run folder's lock (bench.run.runs.RunFolder.update_results).
Every number carries its provenance (`measured`): the checkpoint, its epoch and
step, the split, clean or noisy input, and when.

What `bench eval` adds beyond the metrics (a probe, anomaly scores) is a Field:
one entry in FIELDS holds everything bench does with it (its schema, its record,
its lines in results.txt and on the console, its columns in `bench compare`), so
a new one is one entry plus its own code.

Nothing here imports TensorFlow.
"""

import hashlib
import json
import math
import time

from bench import schema
from bench.model import metrics
from bench.schema import Invalid, digits, flag, integer, list_of, map_of, number, record, text

STATUSES = ("running", "interrupted", "diverged", "finished", "pruned")
SPLIT_NAMES = ("train", "validation", "test")
FRACTION = number(0, 1)

PROVENANCE = {"checkpoint": text(("best", "last")), "epoch": integer(), "step": integer(), "split": text(SPLIT_NAMES)}
"""Where a number came from: every measurement carries it (`measured`)."""
PROVENANCE_OPTIONAL = {"noise_factor": number(0), "when": text()}


def _metric_checker(metric):
    """A bounded-below, unbounded-above metric (an error) is finite in a measurement: only a
    diverged loss is not, and a diverged run has no best model."""
    low, high = metric.valid
    return number(low, high, finite=low is not None and high is None)


MEASUREMENT = record({**{metric.name: _metric_checker(metric) for metric in metrics.METRICS if metric.always},
                      **PROVENANCE},
                     {**{metric.name: _metric_checker(metric) for metric in metrics.METRICS if not metric.always},
                      **PROVENANCE_OPTIONAL})


# -- the records ---------------------------------------------------------------------

def epoch_done(results, entry, best_validation=None):
    """An epoch has ended: its history entry ({epoch, step, train_error, validation_<metric>
    for each of bench.model.metrics.METRICS, elapsed_s}) replaces any entry of that epoch or later;
    a new best model's validation metrics replace the best ones."""
    history = [kept for kept in results.get("history", []) if kept["epoch"] < entry["epoch"]]
    results["history"] = history + [entry]
    if best_validation is not None:
        results["best"] = {"validation": best_validation}
    return results


def final_metrics(results, validation, test):
    """The best model's validation and test metrics, measured at the end of training."""
    results["best"] = {"validation": validation, "test": test}
    return results


def progress(results, status, epochs_done, epochs_planned, best_epoch, steps, **facts):
    """Where training stands ("running", "interrupted", "diverged", "finished"), and facts
    about it (train_images_per_second, train_step_traces, seconds_to_first_step; None: left as is)."""
    results.update({key: value for key, value in facts.items() if value is not None})
    results.update(status=status, epochs_done=epochs_done, epochs_planned=epochs_planned,
                   best_epoch=best_epoch, steps=steps)
    results.setdefault("best", {})
    return results


def data_used(results, images, dataset=None):
    """Record the images each split really had ({split: count}) and, for an image folder
    (`dataset` with a listing), the hashes of its listing, whole and by split."""
    hashes = {}
    if getattr(dataset, "files_sha256", None):
        hashes = {"files_sha256": dataset.files_sha256, "splits_sha256": dict(dataset.splits_sha256)}
    results["data"] = {"images": dict(images), **hashes}
    return results


def evaluation(results, key, values):
    """`bench eval`'s metrics of one checkpoint, split and input, under `key`."""
    results.setdefault("evaluations", {})[key] = values
    return results


def measured(checkpoint, epoch, step, split, noise_factor=0.0):
    """The provenance of a number: which checkpoint (best/last, epoch, step), which
    split, clean or noisy input, and when it was measured."""
    return {"checkpoint": checkpoint, "epoch": int(epoch), "step": int(step), "split": split,
            "noise_factor": float(noise_factor), "when": time.strftime("%Y-%m-%d %H:%M:%S")}


def provenance(record, with_split=True):
    """A record's provenance in words: "best checkpoint (epoch 3, step 30), test, clean input"."""
    text = f"{record['checkpoint']} checkpoint (epoch {record['epoch']}, step {record['step']})"
    if with_split:
        text += f", {record['split']}"
    noise = record.get("noise_factor") or 0.0
    return text + (f", noisy input (noise {noise:g})" if noise else ", clean input")


def stale_reason(record, results):
    """Why a measurement no longer describes the run's checkpoint of its kind, or None when it does."""
    if record["checkpoint"] == "best" and record["epoch"] != results.get("best_epoch"):
        return f"the best checkpoint is now epoch {results.get('best_epoch')}"
    if record["checkpoint"] == "last" and record["step"] != results.get("steps"):
        return f"the last checkpoint is now step {results.get('steps')}"
    return None


# -- what bench eval adds beyond the metrics --------------------------------------------

class Column:
    """A figure `bench compare` shows in a column of its own.

    Args:
        heading: the column's heading.
        narrow: whether the narrow table shows it (the others: --wide).
        higher_is_better: which end of the column is marked best.
        valid: (low, high), what the figure can be (None: no bound); a group's interval
            reaching beyond it is marked.
        decimals: how it is printed.
        position: its place among its Field's columns.
    """

    def __init__(self, heading, narrow=True, higher_is_better=True, valid=(0, 1), decimals=4, position=0):
        self.heading, self.narrow, self.higher_is_better = heading, narrow, higher_is_better
        self.valid, self.decimals, self.position = valid, decimals, position

    def text(self, value):
        """A value as the tables show it ("—" for none)."""
        return "—" if value is None else f"{value:.{self.decimals}f}"


class Field:
    """A record `bench eval` adds to results.json beyond the metrics: everything bench does
    with it. A subclass sets `key` (its key in results.json), `option` (what measures it),
    `checker` (its schema, bench.schema's checkers, provenance included) and `legend`
    (its line in compare's legend), and says the rest in its methods."""

    key = ""
    option = ""
    checker = None
    legend = ""
    column_names = ()
    """Its column keys as `bench compare --sort` names them."""

    def stored(self, record):
        """What results.json holds of a record just measured."""
        return record

    def lines(self, record, run_path):
        """Its lines for people (results.txt, bench eval's output): a heading, then the figures."""
        raise NotImplementedError

    def values(self, record):
        """{column key: number} for bench compare (and "<column key>_std": a spread shown beside it)."""
        raise NotImplementedError

    def column(self, key):
        """The Column of one of its column keys, or None when the key is not its own."""
        raise NotImplementedError


class LinearProbe(Field):
    """The linear probe: a logistic regression on the codes against one on raw pixels."""

    key, option = "probe", "--probe"
    COLUMNS = {"probe_accuracy": Column("probe"), "probe_pixels": Column("pixels", position=1)}
    column_names = tuple(COLUMNS)
    checker = staticmethod(record(
        {"codes": FRACTION, "pixels": FRACTION, "train_images": integer(), "features": integer(), **PROVENANCE},
        {"converged": flag(), **PROVENANCE_OPTIONAL}))
    legend = ("probe: test accuracy of a logistic regression on each run's codes (bench eval --probe; (stale): "
              "measured on a checkpoint since replaced, left out of the statistics); pixels: the same regression "
              "on raw pixels, the baseline the codes must beat.")

    def lines(self, record, run_path):
        lines = [f"linear probe (logistic regression fitted on {record['train_images']:,} training images, test "
                 "accuracy):",
                 f"  codes ({record['features']:,} features): {record['codes']:.4f}",
                 f"  raw pixels: {record['pixels']:.4f}"]
        if record.get("converged") is False:
            lines.append("  not converged: the solver stopped at its iteration limit before it settled")
        return lines

    def values(self, record):
        return {"probe_accuracy": record["codes"], "probe_pixels": record["pixels"]}

    def column(self, key):
        return self.COLUMNS.get(key)


class FewLabelProbes(Field):
    """The linear probe fitted on N labelled images per class, over seeded draws."""

    key, option = "probe_labels", "--probe-labels"
    prefix = "probe_labels_"
    column_names = (f"{prefix}<N>", f"{prefix}<N>_pixels")
    checker = staticmethod(record(
        {"draws": integer(1), "test_images": integer(), "skipped": map_of(text(), key=digits),
         "per_class": map_of(record({"codes_mean": FRACTION, "pixels_mean": FRACTION,
                                     "codes_std": number(0, nullable=True), "pixels_std": number(0, nullable=True),
                                     "codes": list_of(FRACTION), "pixels": list_of(FRACTION)}), key=digits),
         **PROVENANCE}, {"features": integer(), **PROVENANCE_OPTIONAL}))
    legend = ("p@N: the probe fitted on N labelled training images per class, mean ± std over seeded draws "
              "(bench eval --probe-labels); px@N: the same on raw pixels.")

    def stored(self, record):
        return {**record, "per_class": {str(n): value for n, value in record["per_class"].items()},
                "skipped": {str(n): why for n, why in record.get("skipped", {}).items()}}

    def lines(self, record, run_path):
        lines = [f"few-label probes (test accuracy on {record['test_images']:,} images; mean ± standard deviation "
                 f"over {record['draws']} seeded draws of the labelled images):"]
        for count, result in record["per_class"].items():
            lines.append(f"  {int(count):>5,} per class: codes {result['codes_mean']:.4f} ± "
                         f"{result['codes_std']:.4f}, raw pixels {result['pixels_mean']:.4f} ± "
                         f"{result['pixels_std']:.4f}")
        for count, why in record["skipped"].items():
            lines.append(f"  {int(count):>5,} per class: not measured ({why})")
        return lines

    def values(self, record):
        values = {}
        for count, result in record["per_class"].items():
            for of, suffix in (("codes", ""), ("pixels", "_pixels")):
                values[f"{self.prefix}{count}{suffix}"] = result[f"{of}_mean"]
                values[f"{self.prefix}{count}{suffix}_std"] = result[f"{of}_std"]
        return values

    def column(self, key):
        count = key[len(self.prefix):] if key.startswith(self.prefix) else ""
        pixels = count.endswith("_pixels")
        count = count.removesuffix("_pixels")
        if not count.isdigit():
            return None
        return Column(f"px@{count}" if pixels else f"p@{count}", narrow=not pixels, position=2 * int(count) + pixels)


ANOMALY_PNG = "anomaly_scores.png"
ANOMALY_SCORES = "anomaly_scores.npz"
"""The files beside results.json that the anomaly record names (the run folder's schema,
bench.run.runs, lists them with the others)."""


class AnomalyScores(Field):
    """Telling unseen classes from trained ones by each test image's error."""

    key, option = "anomaly", "--anomaly"
    checker = staticmethod(record(
        {"roc_auc": FRACTION, "average_precision": FRACTION, "seen_classes": list_of(integer()),
         "seen_images": integer(1), "unseen_images": integer(1), **PROVENANCE}, PROVENANCE_OPTIONAL))
    legend = ("AUROC, AP: ROC AUC and average precision of telling unseen classes from trained ones by each test "
              "image's error (bench eval --anomaly).")
    COLUMNS = {"anomaly_auroc": Column("AUROC"), "anomaly_ap": Column("AP", narrow=False, position=1)}
    column_names = tuple(COLUMNS)

    def lines(self, record, run_path):
        return [f"anomaly detection (score: each test image's error; positive: the {record['unseen_images']:,} images "
                f"of classes not trained on, against {record['seen_images']:,} of classes "
                f"{','.join(map(str, record['seen_classes']))}):",
                f"  ROC AUC: {record['roc_auc']:.4f}", f"  average precision: {record['average_precision']:.4f}",
                f"  histogram: {run_path / ANOMALY_PNG}, scores: {run_path / ANOMALY_SCORES}"]

    def values(self, record):
        return {"anomaly_auroc": record["roc_auc"], "anomaly_ap": record["average_precision"]}

    def column(self, key):
        return self.COLUMNS.get(key)


FIELDS = (LinearProbe(), AnomalyScores(), FewLabelProbes())
"""Everything `bench eval` can add to results.json beyond the metrics."""
BY_KEY = {field.key: field for field in FIELDS}


def field_result(results, key, record):
    """A Field's record (its key in results.json) just measured, as results.json holds it."""
    results[key] = BY_KEY[key].stored(record)
    return results


# -- the schema ------------------------------------------------------------------------

RESULTS = record({}, {
    "status": text(STATUSES),
    "epochs_done": integer(),
    "epochs_planned": integer(1),
    "best_epoch": integer(),
    "steps": integer(),
    "train_images_per_second": number(0),
    "train_step_traces": integer(),
    "seconds_to_first_step": number(0),
    "updated": text(),
    "history": list_of(record({"epoch": integer(1), "step": integer(), "train_error": number(),
                               "validation_error": number()},
                              {**{f"validation_{metric.name}": number(*metric.valid) for metric in metrics.METRICS[1:]},
                               "elapsed_s": number()})),
    "best": record({}, {"validation": MEASUREMENT, "test": MEASUREMENT}),
    "evaluations": map_of(MEASUREMENT),
    "data": record({"images": map_of(integer())}, {"files_sha256": text(), "splits_sha256": map_of(text())}),
    "identity": map_of(lambda value, where: None),
    "identity_sha256": text(),
    "continued_from": record({"run": text(), "epochs_done": integer(1), "steps": integer(), "status": text()}),
    **{field.key: field.checker for field in FIELDS},
})


def check_results(document):
    """Raise bench.schema.Invalid naming the first thing in a results.json document that
    bench never writes: another type at the top, a field of the wrong type or range, a
    record without its keys or its provenance, epochs out of order."""
    if not isinstance(document, dict):
        raise Invalid(f"it holds {schema.kind_of(document)}, not an object")
    RESULTS(document, "results")
    epochs = [entry["epoch"] for entry in document.get("history", [])]
    if any(later <= earlier for earlier, later in zip(epochs, epochs[1:])):
        raise Invalid(f"history's epochs are out of order ({epochs[:10]}...)")
    if document.get("best_epoch", 0) > document.get("epochs_done", math.inf):
        raise Invalid(f"best_epoch {document['best_epoch']} is after epochs_done {document['epochs_done']}")
    if "epochs_done" in document and epochs != list(range(1, document["epochs_done"] + 1)):
        raise Invalid(f"its history has {len(epochs)} epoch(s), but epochs_done is {document['epochs_done']}")
    if "identity" in document and document.get("identity_sha256") != identity_sha256(document["identity"]):
        raise Invalid("identity_sha256 is not the digest of its identity")


def identity_sha256(identity):
    """The digest of a run's identity ({key: value}, bench.run.config.TrainConfig.identity)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def identity_record(results, identity):
    """What the run is, as it was trained: its identity keys and their digest (a config.yaml
    edited since is told by them)."""
    results.update(identity=identity, identity_sha256=identity_sha256(identity))
    return results


# -- results.txt -----------------------------------------------------------------------

def _metric_rows(rows):
    lines = [f"  {'':12}" + "".join(f"{metric.name:>12}" for metric in metrics.METRICS)]
    for label, values in rows:
        lines.append(f"  {label:12}" + "".join(f"{metric.text(values.get(metric.name)):>12}"
                                               for metric in metrics.METRICS))
    return lines


def _measurement_lines(record, results):
    stale = stale_reason(record, results)
    return [f"  {provenance(record)}, {record.get('when', 'time unknown')}"
            + (f"  [STALE: {stale}]" if stale else "")]


def results_text(path, results):
    """The text of results.txt: every number with its checkpoint, split, input and time."""
    lines = [f"bench results: {path}",
             f"status: {results.get('status', '?')}, {results.get('epochs_done', 0)} of "
             f"{results.get('epochs_planned', '?')} epochs done"]
    best = results.get("best", {})
    if best:
        lines += ["", f"best model on validation (epoch {results.get('best_epoch')}):"]
        lines += _metric_rows([(split, best[split]) for split in ("validation", "test") if split in best])
        first = best.get("validation") or best.get("test")
        lines += [f"  measured on the {provenance(first, with_split=False)}, {first.get('when', 'time unknown')}"]
    evaluations = results.get("evaluations", {})
    if evaluations:
        lines += ["", "bench eval:"] + _metric_rows([])
        for key, value in sorted(evaluations.items()):
            lines += _measurement_lines(value, results) + _metric_rows([("", value)])[1:]
    for field in FIELDS:
        record_ = results.get(field.key)
        if record_:
            heading, *figures = field.lines(record_, path)
            lines += ["", heading] + _measurement_lines(record_, results) + figures
    lines += ["", "metrics:"] + [f"  {name}: {definition}" for name, definition in metrics.DEFINITIONS.items()]
    return "\n".join(lines) + "\n"
