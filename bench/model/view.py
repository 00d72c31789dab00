"""A trained model as every consumer uses it: one place that turns images as stored
into what bench reports.

Images come as stored (uint8 0..255, or float32 already on [-1, 1]) at any size the
model accepts. The view scales them to [-1, 1], resizes them to the model's
`input_size`, hands the model its own pixel range, and maps the reconstruction back
to [-1, 1], where every metric bench reports is measured. Its batch functions are
compiled once per image shape; each "over a split" function is the one loop over a
split's batches (evaluation metrics, codes for the probes, the projector and `bench
encode`, anomaly scores). The training step and the exports build on the same
`scaled` and `run` functions, so they see the images exactly as these do.
"""

import math

import numpy as np
import tensorflow as tf

from bench.data import pipeline, seeds
from bench.data.splits import Split
from bench.model import metrics
from bench.tf_runtime import compiled


class ModelView:
    """The compiled ways into a model.

    Args:
        model: a built bench.Autoencoder.
        noise_factor: evaluate on inputs with this much Gaussian noise (std on [0, 1]
            pixels; the same noise every time), scored against the clean images.
    """

    def __init__(self, model, noise_factor=0.0):
        self.model, self.noise_factor = model, noise_factor
        self._sums = compiled(self._batch_sums, reduce_retracing=True)
        self._reconstruct = compiled(self._batch_reconstruction, reduce_retracing=True)
        self._stored_outputs = compiled(lambda stored: self.outputs(self.scaled(stored)), reduce_retracing=True)
        self._errors = compiled(self._batch_errors, reduce_retracing=True)
        self._pooled = {}  # {max_features: compiled codes pooled to at most that many numbers}

    # -- plain TensorFlow: the steps every function below (and the training step) takes --------

    def scaled(self, stored):
        """Stored images → float32 on [-1, 1] at the model's size."""
        return pipeline.to_bench_range(stored, self.model.input_size)

    def model_pixels(self, images):
        """[-1, 1] images in the model's own pixel range (what its `get` takes)."""
        return self.model.own_pixels(images)

    def run(self, images, train_phase=False, l2_penalty=0.0, targets=None, random_seed=None):
        """One pass of the model on [-1, 1] images (and [-1, 1] targets): its Forward, with the
        reconstruction mapped back to [-1, 1] (the loss terms are the model's own)."""
        own_targets = None if targets is None else self.model.own_pixels(targets)
        result = self.model.forward(self.model.own_pixels(images), train_phase=train_phase, l2_penalty=l2_penalty,
                                    targets=own_targets, random_seed=random_seed)
        return result._replace(reconstruction=self.model.bench_pixels(result.reconstruction))

    def outputs(self, images):
        """{"code" (float32), "reconstruction" (on [-1, 1])} of [-1, 1] images."""
        result = self.run(images)
        return {"code": tf.cast(result.encoding, tf.float32), "reconstruction": result.reconstruction}

    def decode(self, codes):
        """Codes (as the model's `get` returns them) → reconstructions on [-1, 1]."""
        return self.model.bench_pixels(tf.cast(self.model.decode(codes), tf.float32))

    def _inputs(self, stored, batch_index):
        images = self.scaled(stored)
        if not self.noise_factor:
            return images, images
        return images, pipeline.corrupt(images, self.noise_factor, seeds.EVALUATION_NOISE, batch_index)

    # -- compiled batch functions ----------------------------------------------------------

    def _batch_sums(self, stored, batch_index):
        images, inputs = self._inputs(stored, batch_index)
        reconstructions = self.run(inputs).reconstruction
        return {name: total(images, reconstructions) for name, total in metrics.SUMS.items()}

    def _batch_reconstruction(self, stored):
        _, inputs = self._inputs(stored, 0)
        return inputs, self.run(inputs).reconstruction

    def _batch_errors(self, stored):
        images = self.scaled(stored)
        return 0.5 * tf.reduce_mean(tf.square(self.run(images).reconstruction - images), axis=[1, 2, 3])

    def reconstruct(self, stored):
        """(the model's inputs, their reconstructions), both on [-1, 1] at the model's size, of a batch."""
        return self._reconstruct(tf.convert_to_tensor(stored))

    # -- over a split: the one loop ----------------------------------------------------------

    def batches(self, images, batch_size, limit=None):
        """(index, batch) of a split (bench.data.splits.Split) or of an array of images, in
        order, in its stored dtype; the first `limit` images when given."""
        if isinstance(images, Split):
            dataset = images.images()
        else:
            dataset = tf.data.Dataset.from_tensor_slices(images)
        if limit is not None:
            dataset = dataset.take(limit)
        return enumerate(dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE))

    def measure(self, images, batch_size):
        """{metric name: value} (bench.model.metrics.METRICS) of the model over a split (or
        array), each summed over the whole split."""
        totals = dict.fromkeys(metrics.SUMS, (0.0, 0.0))
        for index, batch in self.batches(images, batch_size):
            for name, (total, count) in self._sums(batch, tf.constant(index, tf.int64)).items():
                totals[name] = (totals[name][0] + float(total), totals[name][1] + float(count))
        return metrics.from_sums(totals)

    def codes(self, images, batch_size, limit=None, reconstruct=False, max_features=None):
        """(codes, reconstructions or None) of a split's first `limit` images (all when None):
        float32 codes as the model returns them, or flattened and average-pooled over space
        to at most `max_features` numbers when given (a fixed linear map); reconstructions on
        [-1, 1] at the model's size."""
        codes, reconstructions = [], []
        for _, batch in self.batches(images, batch_size, limit):
            if max_features is not None and not reconstruct:  # pooled in the compiled call
                codes.append(self._pooled_codes(max_features)(batch).numpy())
                continue
            outputs = self._stored_outputs(batch)
            code = outputs["code"]
            if max_features is not None:
                code = flattened(pooled(code, max_features))
            codes.append(code.numpy())
            if reconstruct:
                reconstructions.append(outputs["reconstruction"].numpy())
        return np.concatenate(codes), (np.concatenate(reconstructions) if reconstruct else None)

    def _pooled_codes(self, max_features):
        if max_features not in self._pooled:
            self._pooled[max_features] = compiled(
                lambda stored: flattened(pooled(self.outputs(self.scaled(stored))["code"], max_features)),
                reduce_retracing=True)
        return self._pooled[max_features]

    def scores(self, images, batch_size):
        """Each image's error, ½·mean((x − x̃)²) on [-1, 1], in the split's order."""
        return np.concatenate([self._errors(batch).numpy() for _, batch in self.batches(images, batch_size)])


def pooled(codes, max_features):
    """(n, h, w, c) codes average-pooled over space until they have at most max_features numbers."""
    if codes.shape.rank != 4 or math.prod(codes.shape[1:]) <= max_features:
        return codes
    height, width, depth = codes.shape[1:]
    cells = max(1, max_features // depth)
    side = max(1, int(math.sqrt(cells * height / width)))
    size = (min(height, side), min(width, max(1, cells // side)))
    return tf.image.resize(codes, size, method="area")


def flattened(codes):
    """Codes of any rank as (n, features)."""
    return tf.reshape(codes, (tf.shape(codes)[0], -1))
