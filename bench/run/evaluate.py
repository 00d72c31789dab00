"""Measuring a model: the reconstruction metrics over a whole split, and a run's
saved model loaded strictly (for `bench eval` and `bench embed`)."""

from pathlib import Path

import tensorflow as tf
from rich.table import Table

from bench import plugins
from bench.data import datasets, pipeline, sources
from bench.errors import BenchUsageError
from bench.model import building, checkpoints, metrics
from bench.run import compute, fingerprint, loading, runs
from bench.run.runs import BEST, CHECKPOINT_FOLDERS, CHECKPOINTS, RunFolder


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


def _recorded_model(run, name):
    """The model plugin a run names, found from here; not found, BenchUsageError says where
    the run's model came from and how to use it."""
    try:
        return plugins.find("model", name)
    except BenchUsageError as error:
        document = fingerprint.read(run) or {}
        source = next(iter(document.get("sources", [])), {})
        if not source:
            raise
        copy = run.sub(source["copy"]) if source.get("copy") else None
        raise BenchUsageError(
            f"{run.path} was trained with model {name} from {source.get('file')} ({document.get('origin')}), "
            f"which is not found from {Path.cwd()}: run bench from the folder that holds models/{name}.py"
            + (f", or use the run's copy: --model-file {copy}" if copy else "")) from error


def load_run_model(run_path, checkpoint, data_dir, report, model_file=None, writing=False):
    """A run's (RunFolder, config, dataset, splits, model with the checkpoint's weights,
    where they came from: {"checkpoint", "epoch", "step"}).

    Args:
        model_file: build the model from this file (e.g. the run's recorded copy
            in model_source/) instead of the plugin found by name.
        writing: the caller will write into the run folder: refuse now when it cannot.
    """
    run = RunFolder(run_path)
    config = run.read_config()
    run.read_results()  # a damaged results.json is refused before any work
    if writing:
        run.check_writable()
    dataset_spec = sources.find_dataset(config.dataset)
    model_spec = fingerprint.spec_for_file(config.model, model_file) if model_file else \
        _recorded_model(run, config.model)
    compute.set_precision(config.precision)  # measured as it was trained
    with compute.device_scope(config.device):
        dataset, splits = datasets.load_data(dataset_spec, data_dir or config.data_dir, report,
                                            **loading.data_options(config))
        runs.check_same_data(run, run.read_results(), dataset)
        model = building.build_model(model_spec, dataset.image_shape, model_args=config.model_args)
        weights, _ = checkpoints.model_groups(model)
        fingerprint.check(run, model, weights, report)
        loaded = restore(weights, run, checkpoint)
    return run, config, dataset, splits, model, loaded
