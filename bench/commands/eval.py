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
    from bench.run.runs import RunFolder

    counts = label_counts(probe_labels)
    RunFolder(run_folder).read_config_values()  # a folder that is not a run is told before TensorFlow starts
    report = Reporter()
    report.info(f"evaluating {run_folder} on {' and '.join(splits)}: starting TensorFlow, then the data and the model")
    tf_runtime.import_tensorflow()
    from bench.run.evaluation import Asked, evaluate
    from bench.run.loading import load_trained

    asked = Asked(splits=tuple(splits), noise_factor=noise_factor, batch_size=batch_size,
                  probe_limit=probe_limit if linear else 0, probe_labels=counts, probe_draws=probe_draws,
                  anomaly=anomaly)
    asked.check()
    evaluate(load_trained(run_folder, checkpoint, data_dir, report, model_file, writing=True, say_checkpoint=False),
             asked, report)


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
