"""Measuring a model: the reconstruction metrics over a whole split, and `bench eval`."""

import tensorflow as tf
from rich.table import Table

from bench import (checkpoints, compute, embedding, experiment, fingerprint, metrics, pipeline, plugins, probe,
                   runs)
from bench.errors import BenchUsageError
from bench.runs import BEST, CHECKPOINT_FOLDERS, CHECKPOINTS, PROJECTOR, RunFolder, measured, provenance


class Evaluator:
    """Sums (x − x̃)² over a split in one compiled function (traced once per image shape).

    Images are scaled to [-1, 1] (the model sees them in its own pixel range,
    its reconstruction is mapped back) and resized to the model's input_size; with a
    noise factor, the model sees corrupted images (the same noise every time)
    and is scored against the clean ones.
    """

    NOISE_SEED = 20161231

    def __init__(self, model, noise_factor=0.0):
        self.model = model
        self.noise_factor = noise_factor
        self._squared_error = tf.function(self._batch_squared_error, reduce_retracing=True)
        self._reconstruct = tf.function(self._batch_reconstruction, reduce_retracing=True)

    def _inputs(self, stored_images, batch_index):
        images = pipeline.to_bench_range(stored_images, self.model.input_size)
        if not self.noise_factor:
            return images, images
        return images, pipeline.corrupt(images, self.noise_factor, self.NOISE_SEED, batch_index)

    def _reconstruction(self, inputs):
        """The model's reconstruction of [-1, 1] inputs, on [-1, 1]."""
        return self.model.bench_pixels(self.model.forward(self.model.own_pixels(inputs)).reconstruction)

    def _batch_squared_error(self, stored_images, batch_index):
        images, inputs = self._inputs(stored_images, batch_index)
        return tf.reduce_sum(tf.square(self._reconstruction(inputs) - images)), tf.size(images)

    def _batch_reconstruction(self, stored_images):
        images, inputs = self._inputs(stored_images, 0)
        return inputs, self._reconstruction(inputs)

    def reconstruct(self, images):
        """(model inputs, reconstructions) of a batch, both in [-1, 1] at the model's size."""
        return self._reconstruct(images)

    def measure(self, images, batch_size):
        """{error, mse, psnr} of the model over `images` (a uint8 or float32 tensor)."""
        total, count = 0.0, 0
        for index, batch in enumerate(pipeline.evaluation_batches(images, batch_size)):
            squared_error, size = self._squared_error(batch, tf.constant(index, tf.int64))
            total += float(squared_error)
            count += int(size)
        return metrics.from_squared_error(total, count)


def metrics_table(rows):
    """A rich Table of {label: {error, mse, psnr}}."""
    table = Table()
    table.add_column("")
    for name in ("error", "mse", "psnr"):
        table.add_column(name, justify="right")
    for label, values in rows.items():
        table.add_row(label, *(metrics.format_value(n, values.get(n)) for n in ("error", "mse", "psnr")))
    return table


def restore(weights, run, checkpoint):
    """Load the `checkpoint` ("best" or "last") of `run` into a model's {path: weight},
    strictly; returns what was loaded: {"checkpoint", "epoch", "step"}."""
    path = checkpoints.latest(run.sub(CHECKPOINT_FOLDERS[checkpoint]))
    if path is None:
        trained = checkpoint == "best" and checkpoints.latest(run.sub(CHECKPOINTS)) is not None
        raise checkpoints.CheckpointError(
            f"{run.path} has no {checkpoint} checkpoint"
            + (f" ({run.sub(BEST)} is missing or empty, though {run.sub(CHECKPOINTS)} holds a trained state); "
               f"{checkpoints.RESTART_HINT}" if trained else " yet; train it first (or choose --checkpoint)"))
    scalars = checkpoints.load_weights(path, weights)
    epoch = scalars.get("epoch") if checkpoint == "best" else scalars.get("epochs_done")
    return {"checkpoint": checkpoint, "epoch": int(epoch or 0), "step": int(scalars.get("step", 0))}


def load_run_model(run_path, checkpoint, data_dir, report, model_file=None):
    """A run's (RunFolder, config, dataset, splits, model with the checkpoint's weights,
    where they came from: {"checkpoint", "epoch", "step"}).

    Args:
        model_file: build the model from this file (e.g. the run's recorded copy
            in model_source/) instead of the plugin found by name.
    """
    run = RunFolder(run_path)
    config = run.read_config()
    run.read_results()  # a damaged results.json is refused before any work
    dataset_spec = plugins.find("dataset", config.dataset)
    model_spec = fingerprint.spec_for_file(config.model, model_file) if model_file else \
        plugins.find("model", config.model)
    compute.set_precision(config.precision)  # measured as it was trained
    with experiment.device_scope(config.device):
        dataset, splits = experiment.load_data(dataset_spec, data_dir or config.data_dir, report)
        model = experiment.build_model(model_spec, dataset.image_shape, model_args=config.model_args)
        weights, _ = checkpoints.model_groups(model)
        fingerprint.check(run, model, weights, report)
        loaded = restore(weights, run, checkpoint)
    return run, config, dataset, splits, model, loaded


def embed_run(run_path, split, limit, checkpoint, report, data_dir=None, model_file=None):
    """`bench embed`: write a run's codes of a split for TensorBoard's projector."""
    if limit <= 0:
        raise BenchUsageError(f"--limit must be a positive integer, got {limit}")
    run, config, dataset, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file)
    images, labels = splits[split]
    with experiment.device_scope(config.device):
        count, features = embedding.write_projector(run, model, images, labels, dataset.class_names,
                                                    config.batch_size, limit)
    report.info(f"wrote the codes of {count:,} {split} images ({features:,} features) from the "
                f"{provenance(loaded, with_split=False)} to {run.sub(PROJECTOR)}; "
                f"see them with: tensorboard --logdir {config.log_dir}")


def evaluate_run(run_path, splits_wanted, checkpoint, batch_size, report, data_dir=None, noise_factor=0.0,
                 probe_limit=probe.DEFAULT_LIMIT, model_file=None):
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
    if noise_factor < 0:
        raise BenchUsageError(f"--noise-factor must be zero or positive, got {noise_factor}")
    if batch_size is not None and batch_size <= 0:
        raise BenchUsageError(f"--batch-size must be a positive integer, got {batch_size}")
    run, config, dataset, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file)
    batch_size = batch_size or config.batch_size
    measured_now = {}
    with experiment.device_scope(config.device):
        evaluator = Evaluator(model, noise_factor)
        for split in dict.fromkeys(splits_wanted):
            values = evaluator.measure(pipeline.in_memory(splits[split][0]), batch_size)
            measured_now[split] = dict(values, **measured(loaded["checkpoint"], loaded["epoch"], loaded["step"],
                                                          split, noise_factor))
        labelled = dataset.num_classes > 0 and splits["train"][1] is not None and splits["test"][1] is not None
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
    report.table(metrics_table({f"{split} ({len(splits[split][0]):,} images)": values
                                for split, values in measured_now.items()}))
    for name, text in metrics.DEFINITIONS.items():
        report.info(f"  {name}: {text}")
    if probed is not None:
        report.info(f"linear probe (logistic regression fitted on {probed['train_images']:,} training images, "
                    f"scored on test): codes {probed['codes']:.4f} ({probed['features']:,} features), "
                    f"raw pixels {probed['pixels']:.4f}"
                    + ("" if probed["converged"] else f" (stopped at {probe.MAX_ITERATIONS} iterations, not converged)"))
    return measured_now
