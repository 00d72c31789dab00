"""TensorBoard event files of a run: train/ and validation/ share tags, so curves overlay.

Per run: scalars (error, loss terms, learning rate, gradient norm) in train/
every --summary-every steps; validation metrics, the input | [noisy |]
reconstruction grid, first-layer filters and pre/post-activation feature maps
(DTB's pre_post_activation) in validation/ every epoch; weight and activation
histograms and zero fractions; the run's hyperparameters and final metrics
for the HParams dashboard in the run folder itself.
"""

import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp
from tensorboard.plugins.hparams import plugin_data_pb2

from bench import pictures
from bench.model import architecture, metrics
from bench.run import runs
from bench.run.options import HPARAMS
from bench.tf_runtime import compiled

MAX_FEATURE_MAP_LAYERS = 4
EAGER_CALLS = 10  # activation summaries written eagerly before they are compiled (RunWriters.activations)
FINAL_METRICS = ("best_validation_error", *(f"test_{metric.name}" for metric in metrics.METRICS))


def image_grid(columns):
    """One image: a row per example, the columns side by side, pixels mapped to [0, 1].

    Args:
        columns: (k, h, w, c) tensors in [-1, 1]: inputs, [noisy inputs,] reconstructions.
    """
    pairs = tf.concat([tf.cast(column, tf.float32) for column in columns], axis=2)
    rows = tf.reshape(pairs, (1, -1, pairs.shape[2], pairs.shape[3]))
    return tf.clip_by_value((rows + 1.0) / 2.0, 0.0, 1.0)


def _maps_grid(maps):
    """A layer's (h, w, c) feature maps tiled into one grey image, scaled together to [0, 1]."""
    maps = np.moveaxis(np.asarray(maps, np.float32), -1, 0)[..., np.newaxis]
    low, high = maps.min(), maps.max()
    return pictures.tile((maps - low) / (high - low if high > low else 1.0))


def hparams_of(config):
    """The run's hyperparameters as HParams values: dicts and lists as JSON text, and integers
    as text too, because the HParams table prints every number with five significant digits
    (an epoch count of 5 as "5.0000"); fractional values stay numbers."""
    values = config.to_dict()
    values["learning_rate"] = config.optimizer_args.get("learning_rate")

    def shown(value):
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True)
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    return {key: shown(values[key]) for key in HPARAMS}


SHOWN_FIRST = ("model", "dataset", "learning_rate", "l2_penalty", "model_args")
"""The hyperparameters the HParams table shows when it opens (it ticks five, those marked as
differing first, then by name; unmarked, it would tick augment, batch_size, channels...)."""


def write_experiment_config(log_dir):
    """The HParams dashboard's column list, once per log root: SHOWN_FIRST marked as the
    settings that differ between runs, so that the table opens on them."""
    root = Path(log_dir)
    if any(root.glob("events.out.tfevents.*")):
        return
    metrics = [hp.Metric("error", group="validation", display_name="validation error (last)"),
               hp.Metric("error", group="train", display_name="train error (last)")]
    metrics += [hp.Metric(name, display_name=name.replace("_", " ")) for name in FINAL_METRICS]
    summary = hp.hparams_config_pb(hparams=[hp.HParam(name) for name in HPARAMS], metrics=metrics)
    value = summary.value[0]
    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in SHOWN_FIRST
    value.metadata.plugin_data.content = data.SerializeToString()
    writer = tf.summary.create_file_writer(str(root))
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(summary.SerializeToString(), step=0)
    writer.close()


DESCRIPTIONS = {
    runs.TRAIN_EVENTS: {
        "error": "The error of one training batch at this step, ½·mean((x − x̃)²) on [-1, 1]: noisy, and not the "
                 "console's train error, which is the mean over the epoch's batches (epoch_error).",
        "epoch_error": "The mean error over the epoch's training batches, as the console prints it: ½·mean((x − "
                       "x̃)²) on [-1, 1], with the weights changing during the epoch.",
    },
    runs.VALIDATION_EVENTS: {metric.name: f"Over the whole validation split at the end of the epoch: {metric.formula}."
                             for metric in metrics.METRICS},
}
"""Each events folder's {tag: description} of its scalars."""


class RunWriters:
    """The summary writers of one run: its folder, train/ and validation/."""

    def __init__(self, run):
        self.run_root = tf.summary.create_file_writer(str(run.path))
        self.train = tf.summary.create_file_writer(str(run.sub(runs.TRAIN_EVENTS)))
        self.validation = tf.summary.create_file_writer(str(run.sub(runs.VALIDATION_EVENTS)))
        self._activation_summaries, self._activation_calls = None, 0

    def scalars(self, writer, step, values):
        """Write {tag: number} at `step`, each tag with its description (TensorBoard shows it
        beside the chart)."""
        folder = runs.TRAIN_EVENTS if writer is self.train else runs.VALIDATION_EVENTS if writer is self.validation else ""
        descriptions = DESCRIPTIONS.get(folder, {})
        with writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value, description=descriptions.get(tag))

    def hparams(self, config, trial):
        """The run's hyperparameters, for the HParams dashboard."""
        with self.run_root.as_default():
            hp.hparams(hparams_of(config), trial_id=trial)

    def final_metrics(self, step, validation, test):
        """The best model's metrics, the HParams dashboard's result columns."""
        self.scalars(self.run_root, step, {"best_validation_error": validation["error"],
                                           **metrics.history_entry(test, prefix="test_")})

    def weights(self, step, model):
        """Histograms of every trainable variable, under its layer path."""
        with self.train.as_default(step=step):
            for variable in model.trainable_variables:
                tf.summary.histogram(f"weights/{variable.path}", variable)

    def reconstructions(self, step, columns):
        """The input | [noisy |] reconstruction grid of the fixed validation images."""
        with self.validation.as_default(step=step):
            tf.summary.image("input | reconstruction", image_grid(columns))

    def activations(self, step, model, images):
        """Each layer's activation histogram and fraction of zeros on fixed images.

        This runs every --summary-every steps. Its first EAGER_CALLS calls run eagerly
        (4–90 ms each); later ones call it compiled (1–5 ms), since compiling costs
        0.3–4 s (ConvAE 2 s, StackedCAE 4 s here), more than a short run's summaries
        take eagerly. Its cost grows with the activations' size: the bench passes 8
        images (on 64 MNIST images SingleLayerCAE's are 1.8 M numbers and one compiled
        summary took 136 ms).
        """
        self._activation_calls += 1
        if self._activation_calls <= EAGER_CALLS:
            self._write_activations(model, images, tf.constant(step, tf.int64))
            return
        if self._activation_summaries is None:
            self._activation_summaries = compiled(lambda images, step: self._write_activations(model, images, step))
        self._activation_summaries(images, tf.constant(step, tf.int64))

    def _write_activations(self, model, images, step):
        recorded = architecture.record_layers(model, images)
        with self.train.as_default(step=step):
            for layer, _, output in recorded.values():
                if output.dtype.is_floating:
                    output = tf.cast(output, tf.float32)  # mixed precision computes in 16 bits
                    tf.summary.histogram(f"activations/{architecture.layer_name(layer)}", output)
                    tf.summary.scalar(f"zero_fraction/{architecture.layer_name(layer)}", tf.math.zero_fraction(output))

    def filters_and_feature_maps(self, step, model, image):
        """First-layer filters, and the feature maps of one image before and after each
        convolution's activation (up to MAX_FEATURE_MAP_LAYERS layers)."""
        recorded = architecture.record_layers(model, image)
        convolutions = [(layer, inputs) for layer, inputs, _ in recorded.values()
                        if isinstance(layer, keras.layers.Conv2D) and inputs is not None]
        with self.validation.as_default(step=step):
            kernel = architecture.first_kernel(model)
            filters = pictures.filter_images(kernel.numpy(), image.shape[1:]) if kernel is not None else None
            if filters is not None:
                tf.summary.image(f"filters/{kernel.path}", pictures.tile(filters))
            for layer, inputs in convolutions[:MAX_FEATURE_MAP_LAYERS]:
                activation = layer.activation
                layer.activation = keras.activations.linear
                try:
                    before = layer(inputs)
                finally:
                    layer.activation = activation
                before = tf.cast(before, tf.float32)
                tf.summary.image(f"feature_maps/{architecture.layer_name(layer)}/pre_activation", _maps_grid(before[0]))
                tf.summary.image(f"feature_maps/{architecture.layer_name(layer)}/post_activation",
                                 _maps_grid(activation(before)[0]))

    def flush(self):
        """Make everything written so far visible to TensorBoard."""
        for writer in (self.run_root, self.train, self.validation):
            writer.flush()

    def close(self):
        """Flush and close the writers."""
        for writer in (self.run_root, self.train, self.validation):
            writer.close()
