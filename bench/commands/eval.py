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
@click.option("--probe-limit", type=click.IntRange(min=0), default=5000, show_default=True,
              help="Training images for the linear probe of the codes (labelled datasets); 0 skips it.")
@click.option("--model-file", type=click.Path(dir_okay=False), default=None, help=MODEL_FILE_HELP)
@verbose_option
def eval_command(run_folder, splits, checkpoint, batch_size, data_dir, noise_factor, probe_limit, model_file):
    """Measure a run's model on a split; the figures are added to its results.

    Each figure is recorded with where it came from: the checkpoint (best or
    last, its epoch and step), the split, clean or noisy input, and when.
    On labelled datasets it also fits a logistic regression on the codes of the
    training images and reports its test accuracy, next to the same classifier
    on raw pixels: what the representation is worth, not only the reconstruction.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    evaluate_run(run_folder, splits, checkpoint, batch_size, Reporter(), data_dir, noise_factor, probe_limit,
                 model_file)


def evaluate_run(run_path, splits_wanted, checkpoint, batch_size, report, data_dir=None, noise_factor=0.0,
                 probe_limit=5000, model_file=None):
    """`bench eval`: measure a run's checkpoint on splits and record it in its results,
    each number with its provenance (checkpoint, epoch, step, split, input, time).

    Args:
        splits_wanted: the splits to measure, e.g. ("test",) or ("validation", "test").
        data_dir: the dataset cache; None uses the one the run was trained with.
        noise_factor: score reconstructions of inputs corrupted with this much
            Gaussian noise (std on the [0, 1] scale) against the clean images.
        probe_limit: training images for the linear probe of the codes (0: no probe).
        model_file: build the model from this file instead of the plugin found by name.

    Returns:
        {split: {error, mse, psnr, and the provenance}}.
    """
    from bench import compute, loading, metrics, probe, runs
    from bench.errors import BenchUsageError
    from bench.evaluate import Evaluator, load_run_model, metrics_table
    from bench.runs import measured, provenance

    if noise_factor < 0:
        raise BenchUsageError(f"--noise-factor must be zero or positive, got {noise_factor}")
    if batch_size is not None and batch_size <= 0:
        raise BenchUsageError(f"--batch-size must be a positive integer, got {batch_size}")
    run, config, dataset, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file)
    batch_size = batch_size or config.batch_size
    measured_now = {}
    with compute.device_scope(config.device), loading.damaged_files_named(splits, report):
        evaluator = Evaluator(model, noise_factor)
        for split in dict.fromkeys(splits_wanted):
            values = evaluator.measure(splits[split], batch_size)
            measured_now[split] = dict(values, **measured(loaded["checkpoint"], loaded["epoch"], loaded["step"],
                                                          split, noise_factor))
        labelled = dataset.num_classes > 0
        probed = probe.linear_probe(model, splits, batch_size, probe_limit) if probe_limit and labelled else None
    results = run.read_results()
    noisy = f", noise {noise_factor!r}" if noise_factor else ""
    for split, values in measured_now.items():
        runs.evaluation(results, f"{checkpoint} checkpoint, {split}{noisy}", values)
    if probed is not None:
        runs.probe_result(results, dict(probed, **measured(loaded["checkpoint"], loaded["epoch"], loaded["step"],
                                                           "test")))
    run.write_results(results)
    report.info(f"{run.path}: {provenance(loaded, with_split=False)}")
    report.table(metrics_table({f"{split} ({len(splits[split]):,} images)": values
                                for split, values in measured_now.items()}))
    for name, text in metrics.DEFINITIONS.items():
        report.info(f"  {name}: {text}")
    if probed is not None:
        report.info(f"linear probe (logistic regression fitted on {probed['train_images']:,} training images, "
                    f"scored on test): codes {probed['codes']:.4f} ({probed['features']:,} features), "
                    f"raw pixels {probed['pixels']:.4f}"
                    + ("" if probed["converged"] else f" (stopped at {probe.MAX_ITERATIONS} iterations, not converged)"))
    return measured_now
