"""`bench eval`: measure a run's saved model on a split and record it with its provenance."""

import click

from bench import tf_runtime
from bench.commands.flags import MODEL_FILE_HELP, verbose_option


@click.command("eval")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--split", "splits", type=click.Choice(["validation", "test"]), multiple=True, default=["test"],
              show_default=True, help="Which split to measure (repeat for both).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="The best model on validation, or the latest state.")
@click.option("--batch-size", "--batch_size", type=int, default=None, help="Images per batch [the run's].")
@click.option("--data-dir", "--data_dir", default=None, envvar="BENCH_DATA_DIR",
              help="Dataset cache [the run's].")
@click.option("--noise-factor", "--noise_factor", type=float, default=0.0, show_default=True,
              help="Score reconstructions of inputs with this much Gaussian noise against the clean images.")
@click.option("--probe", "linear", is_flag=True,
              help="Also fit a logistic regression on the codes of training images (labelled datasets) and report "
                   "its test accuracy next to the same classifier on raw pixels (minutes on large codes).")
@click.option("--probe-limit", type=click.IntRange(min=1), default=5000, show_default=True,
              help="Training images for --probe.")
@click.option("--probe-labels", default="", metavar="N,N,...",
              help="Also probe with only N labelled training images per class, e.g. 10,100,1000: each over "
                   "--probe-draws seeded draws, codes next to raw pixels, mean ± standard deviation.")
@click.option("--probe-draws", type=click.IntRange(min=2, max=100), default=5, show_default=True,
              help="Seeded draws of the labelled images for each --probe-labels count.")
@click.option("--anomaly", is_flag=True,
              help="For a run trained with --classes: score every test image by its error and report ROC AUC and "
                   "average precision of the other classes against the trained ones, with a histogram PNG.")
@click.option("--model-file", type=click.Path(dir_okay=False), default=None, help=MODEL_FILE_HELP)
@verbose_option
def eval_command(run_folder, splits, checkpoint, batch_size, data_dir, noise_factor, linear, probe_limit,
                 probe_labels, probe_draws, anomaly, model_file):
    """Measure a run's model on a split; the figures are added to its results.

    Each figure is recorded with where it came from: the checkpoint (best or
    last, its epoch and step), the split, clean or noisy input, and when. The
    reconstruction metrics come first (seconds); with --probe, a logistic
    regression on the codes of the training images says what the
    representation is worth beyond reconstruction, next to the same
    classifier on raw pixels.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    evaluate_run(run_folder, splits, checkpoint, batch_size, Reporter(), data_dir, noise_factor,
                 probe_limit if linear else 0, model_file, label_counts(probe_labels), probe_draws, anomaly)


def label_counts(text):
    """--probe-labels "10,100" as (10, 100); BenchUsageError when malformed."""
    from bench.errors import BenchUsageError

    try:
        counts = tuple(sorted({int(item) for item in str(text).split(",") if item.strip()}))
    except ValueError:
        counts = None
    if counts is None or any(count < 1 for count in counts):
        raise BenchUsageError(f"--probe-labels must be positive integers separated by commas, e.g. 10,100,1000; "
                              f"got {text!r}")
    return counts


def evaluate_run(run_path, splits_wanted, checkpoint, batch_size, report, data_dir=None, noise_factor=0.0,
                 probe_limit=0, model_file=None, probe_labels=(), probe_draws=5, anomaly=False):
    """`bench eval`: measure a run's checkpoint on splits and record it in its results,
    each number with its provenance (checkpoint, epoch, step, split, input, time).
    The metrics are recorded and shown first; each probe is recorded as it ends.

    Args:
        splits_wanted: the splits to measure, e.g. ("test",) or ("validation", "test").
        data_dir: the dataset cache; None uses the one the run was trained with.
        noise_factor: score reconstructions of inputs corrupted with this much
            Gaussian noise (std on the [0, 1] scale) against the clean images.
        probe_limit: training images for the linear probe of the codes (0: no probe).
        model_file: build the model from this file instead of the plugin found by name.
        probe_labels: labelled training images per class for the few-label probes (none: no such probe).
        probe_draws: seeded draws of those images for each count.
        anomaly: score the whole test split for anomaly detection (a run trained with --classes).

    Returns:
        {split: {error, mse, psnr, and the provenance}}.
    """
    from bench.data import datasets
    from bench.errors import BenchUsageError
    from bench.model import metrics
    from bench.run import compute, runs
    from bench.run.evaluate import Evaluator, load_run_model, metrics_table
    from bench.run.runs import measured, provenance

    if noise_factor < 0:
        raise BenchUsageError(f"--noise-factor must be zero or positive, got {noise_factor}")
    if batch_size is not None and batch_size <= 0:
        raise BenchUsageError(f"--batch-size must be a positive integer, got {batch_size}")
    run, config, dataset, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file,
                                                                 writing=True)
    _check_asked(config, dataset, probe_limit, probe_labels, anomaly, run)
    batch_size = batch_size or config.batch_size
    noisy = f", noise {noise_factor!r}" if noise_factor else ""
    with compute.device_scope(config.device), datasets.damaged_files_named(splits, report):
        evaluator = Evaluator(model, noise_factor)
        measured_now = {split: dict(evaluator.measure(splits[split], batch_size),
                                    **measured(loaded["checkpoint"], loaded["epoch"], loaded["step"], split,
                                               noise_factor))
                        for split in dict.fromkeys(splits_wanted)}
        run.update_results(lambda results: _evaluations(results, measured_now, f"{checkpoint} checkpoint", noisy))
        report.info(f"{run.path}: {provenance(dict(loaded, noise_factor=noise_factor), with_split=False)}")
        report.table(metrics_table({f"{split} ({len(splits[split]):,} images)": values
                                    for split, values in measured_now.items()}))
        for name, text in metrics.DEFINITIONS.items():
            report.info(f"  {name}: {text}")
        provenance_of = measured(loaded["checkpoint"], loaded["epoch"], loaded["step"], "test")
        for name, work, lines in _records_asked(run, model, dataset, config, splits, batch_size, report,
                                                probe_limit, probe_labels, probe_draws, anomaly):
            record = dict(work(), **provenance_of)
            run.update_results(lambda results: runs.RECORDS[name](results, record))
            for line in lines(record):
                report.info(line)
    return measured_now


def _check_asked(config, dataset, probe_limit, probe_labels, anomaly, run):
    """Refuse, before any work, what the run's data cannot give."""
    from bench.errors import BenchUsageError

    labelled = dataset.num_classes > 0
    if anomaly and not config.class_subset():
        raise BenchUsageError(f"--anomaly needs a run trained on some classes only (bench train ... --classes 0,1); "
                              f"{run.path} was trained on every class")
    if (probe_labels or probe_limit) and not labelled:
        raise BenchUsageError(f"--probe and --probe-labels need a labelled dataset; {config.dataset} has no labels")
    if anomaly:
        from bench.model import anomaly as anomaly_scores

        anomaly_scores.check_classes(dataset.every_class_test.labels, config.class_subset(),
                                     f"the test split of {config.dataset}")


def _evaluations(results, measured_now, checkpoint, noisy):
    from bench.run import runs

    for split, values in measured_now.items():
        runs.evaluation(results, f"{checkpoint}, {split}{noisy}", values)
    return results


def _records_asked(run, model, dataset, config, splits, batch_size, report, probe_limit, probe_labels, probe_draws,
                   anomaly):
    """[(results.json key, the work that measures it, its lines for the user)] of what was asked beyond the
    metrics, each announced before its work starts."""
    from bench.model import probe

    asked = []
    if probe_limit:
        def linear():
            report.info(f"linear probe: encoding up to {probe_limit:,} training and every test image, then fitting "
                        "a logistic regression on the codes and one on raw pixels...")
            return probe.linear_probe(model, splits, batch_size, probe_limit, progress=report.info)
        asked.append(("probe", linear, _probe_lines))
    if probe_labels:
        def few_labels():
            report.info(f"few-label probes: {', '.join(map(str, probe_labels))} labelled images per class, "
                        f"{probe_draws} draws each...")
            return probe.few_label_probe(model, splits, batch_size, probe_labels, probe_draws)
        asked.append(("probe_labels", few_labels, _few_label_lines))
    if anomaly:
        def scores():
            report.info(f"anomaly scores of the {len(dataset.every_class_test):,} test images...")
            return _anomaly(run, model, dataset, config, batch_size)
        asked.append(("anomaly", scores, lambda record: _anomaly_lines(run, record)))
    return asked


def _anomaly(run, model, dataset, config, batch_size):
    """Score the whole test split, save the scores and their histogram, return the figures."""
    import numpy as np

    from bench import pictures
    from bench.files import atomic_write_with
    from bench.model import anomaly
    from bench.run.runs import ANOMALY_PNG, ANOMALY_SCORES

    test = dataset.every_class_test
    scores = anomaly.scores(model, test, batch_size)
    labels = np.asarray(test.labels)
    figures = anomaly.figures(scores, labels, config.class_subset())
    seen = np.isin(labels, config.class_subset())
    atomic_write_with(run.sub(ANOMALY_SCORES), lambda file: np.savez(file, scores=scores, labels=labels,
                                                                      unseen=~seen))
    pictures.save_score_histogram(run.sub(ANOMALY_PNG), scores[seen], scores[~seen],
                                  f"{run.path}: ROC AUC {figures['roc_auc']:.4f}, "
                                  f"average precision {figures['average_precision']:.4f}")
    return figures


def _probe_lines(probed):
    from bench.model import probe

    if not probed:
        return []
    return [f"linear probe (logistic regression fitted on {probed['train_images']:,} training images, "
            f"scored on test): codes {probed['codes']:.4f} ({probed['features']:,} features), "
            f"raw pixels {probed['pixels']:.4f}"
            + ("" if probed["converged"] else f" (stopped at {probe.MAX_ITERATIONS} iterations, not converged)")]


def _few_label_lines(record):
    if not record:
        return []
    lines = [f"few-label probes (test accuracy on {record['test_images']:,} images; mean ± standard deviation "
             f"over {record['draws']} seeded draws of the labelled images):"]
    for count, result in record["per_class"].items():
        lines.append(f"  {int(count):>5,} per class: codes {result['codes_mean']:.4f} ± {result['codes_std']:.4f}, "
                     f"raw pixels {result['pixels_mean']:.4f} ± {result['pixels_std']:.4f}")
    for count, why in record["skipped"].items():
        lines.append(f"  {int(count):>5,} per class: not measured ({why})")
    return lines


def _anomaly_lines(run, record):
    from bench.run.runs import ANOMALY_PNG, ANOMALY_SCORES

    if not record:
        return []
    return [f"anomaly detection (score: each test image's error; positive: the {record['unseen_images']:,} images "
            f"of classes not trained on, against {record['seen_images']:,} of classes "
            f"{','.join(map(str, record['seen_classes']))}): ROC AUC {record['roc_auc']:.4f}, average precision "
            f"{record['average_precision']:.4f}; histogram: {run.sub(ANOMALY_PNG)}, scores: {run.sub(ANOMALY_SCORES)}"]
