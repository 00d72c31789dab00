"""Measuring a trained run again (behind `bench eval`): its metrics on splits, then what
was asked beyond them (each a bench.run.results.Field), each recorded in results.json
with its provenance as soon as it is measured, and shown."""

from dataclasses import dataclass

import numpy as np

from bench import pictures
from bench.data import datasets
from bench.errors import BenchUsageError
from bench.files import atomic_write_with
from bench.model import anomaly, metrics, probe
from bench.run import compute
from bench.run.results import BY_KEY, evaluation, field_result
from bench.run.runs import ANOMALY_PNG, ANOMALY_SCORES


@dataclass(frozen=True)
class Asked:
    """What `bench eval` was asked to measure.

    Attributes:
        splits: the splits whose metrics to measure, e.g. ("test",) or ("validation", "test").
        noise_factor: score reconstructions of inputs corrupted with this much Gaussian
            noise (std on [0, 1] pixels) against the clean images.
        batch_size: images per batch (None: the run's).
        probe_limit: training images for the linear probe of the codes (0: no probe).
        probe_labels: labelled training images per class for the few-label probes (none: no such probe).
        probe_draws: seeded draws of those images for each count.
        anomaly: score the whole test split for anomaly detection (a run trained with --classes).
    """

    splits: tuple = ("test",)
    noise_factor: float = 0.0
    batch_size: int | None = None
    probe_limit: int = 0
    probe_labels: tuple = ()
    probe_draws: int = 5
    anomaly: bool = False

    def check(self):
        """BenchUsageError for an impossible value, before anything is loaded."""
        if self.noise_factor < 0:
            raise BenchUsageError(f"--noise-factor must be zero or positive, got {self.noise_factor}")
        if self.batch_size is not None and self.batch_size <= 0:
            raise BenchUsageError(f"--batch-size must be a positive integer, got {self.batch_size}")

    def check_run(self, trained):
        """BenchUsageError for what the run's data cannot give, before any work."""
        config, dataset = trained.config, trained.dataset
        if self.anomaly and not config.class_subset():
            raise BenchUsageError(f"--anomaly needs a run trained on some classes only (bench train ... --classes 0,1);"
                                  f" {trained.folder.path} was trained on every class")
        if (self.probe_labels or self.probe_limit) and not dataset.num_classes:
            raise BenchUsageError(f"--probe and --probe-labels need a labelled dataset; {config.dataset} has no labels")
        if self.anomaly:
            anomaly.check_classes(dataset.every_class_test.labels, config.class_subset(),
                                  f"the test split of {config.dataset}")


def evaluate(trained, asked, report):
    """Measure a bench.run.loading.TrainedRun as `asked` (Asked): the metrics first, recorded
    and shown, then each Field asked for, each recorded as it ends; returns {split: metrics
    and their provenance}."""
    asked.check_run(trained)
    run, splits = trained.folder, trained.splits
    batch_size = asked.batch_size or trained.config.batch_size
    noisy = f", noise {asked.noise_factor!r}" if asked.noise_factor else ""
    with compute.device_scope(trained.config.device), datasets.damaged_files_named(splits, report):
        view = trained.view(asked.noise_factor)
        measured_now = {split: dict(view.measure(splits[split], batch_size),
                                    **trained.measured(split, asked.noise_factor))
                        for split in dict.fromkeys(asked.splits)}
        run.update_results(lambda results: _evaluations(results, measured_now, trained.loaded["checkpoint"], noisy))
        report.info(f"{run.path}: {trained.checkpoint_words(asked.noise_factor)}")
        report.table(metrics.metrics_table({f"{split} ({len(splits[split]):,} images)": values
                                            for split, values in measured_now.items()}))
        for name, text in metrics.DEFINITIONS.items():
            report.info(f"  {name}: {text}")
        for key, work in _fields_asked(trained, asked, batch_size, report):
            record = dict(work(), **trained.measured("test"))
            run.update_results(lambda results: field_result(results, key, record))
            for line in BY_KEY[key].lines(BY_KEY[key].stored(record), run.path):
                report.info(line)
    return measured_now


def _evaluations(results, measured_now, checkpoint, noisy):
    for split, values in measured_now.items():
        evaluation(results, f"{checkpoint} checkpoint, {split}{noisy}", values)
    return results


def _fields_asked(trained, asked, batch_size, report):
    """[(a Field's key, the work that measures it)] of what was asked beyond the metrics, each
    announcing itself before its work starts."""
    view, splits = trained.view(), trained.splits
    work = []
    if asked.probe_limit:
        def linear():
            report.info(f"linear probe: encoding up to {asked.probe_limit:,} training and every test image, then "
                        "fitting a logistic regression on the codes and one on raw pixels...")
            return probe.linear_probe(view, splits, batch_size, asked.probe_limit, progress=report.info)
        work.append(("probe", linear))
    if asked.probe_labels:
        def few_labels():
            report.info(f"few-label probes: {', '.join(map(str, asked.probe_labels))} labelled images per class, "
                        f"{asked.probe_draws} draws each...")
            return probe.few_label_probe(view, splits, batch_size, asked.probe_labels, asked.probe_draws)
        work.append(("probe_labels", few_labels))
    if asked.anomaly:
        def scores():
            report.info(f"anomaly scores of the {len(trained.dataset.every_class_test):,} test images...")
            return anomaly_figures(trained, view, batch_size)
        work.append(("anomaly", scores))
    return work


def anomaly_figures(trained, view, batch_size):
    """Score the whole test split, save the scores and their histogram in the run, return the figures."""
    run, test = trained.folder, trained.dataset.every_class_test
    scores = view.scores(test, batch_size)
    labels = np.asarray(test.labels)
    seen_classes = trained.config.class_subset()
    figures = anomaly.figures(scores, labels, seen_classes)
    seen = np.isin(labels, seen_classes)
    atomic_write_with(run.sub(ANOMALY_SCORES), lambda file: np.savez(file, scores=scores, labels=labels,
                                                                      unseen=~seen))
    pictures.save_score_histogram(run.sub(ANOMALY_PNG), scores[seen], scores[~seen],
                                  f"{run.path}: ROC AUC {figures['roc_auc']:.4f}, "
                                  f"average precision {figures['average_precision']:.4f}")
    return figures
