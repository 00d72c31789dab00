"""TensorBoard event files of a run: train/ and validation/ share tags, so curves overlay."""

import tensorflow as tf


def image_grid(images, reconstructions):
    """One image: a row per example, input | reconstruction, pixels mapped to [0, 1].

    Args:
        images, reconstructions: (k, h, w, c) tensors in [-1, 1].

    Returns:
        a (1, k·h, 2·w, c) float32 tensor for tf.summary.image.
    """
    pairs = tf.concat([images, tf.cast(reconstructions, images.dtype)], axis=2)  # k, h, 2w, c
    rows = tf.reshape(pairs, (1, -1, pairs.shape[2], pairs.shape[3]))
    return tf.clip_by_value((rows + 1.0) / 2.0, 0.0, 1.0)


class RunWriters:
    """The train/ and validation/ summary writers of one run."""

    def __init__(self, run):
        self.train = tf.summary.create_file_writer(str(run.sub("train")))
        self.validation = tf.summary.create_file_writer(str(run.sub("validation")))

    def scalars(self, writer, step, values):
        """Write {tag: number} at `step`."""
        with writer.as_default(step=step):
            for tag, value in values.items():
                tf.summary.scalar(tag, value)

    def weights(self, step, model):
        """Histograms of every trainable variable, under its layer path."""
        with self.train.as_default(step=step):
            for variable in model.trainable_variables:
                tf.summary.histogram(f"weights/{variable.path}", variable)

    def reconstructions(self, step, images, reconstructions):
        """The input | reconstruction grid of the fixed validation images."""
        with self.validation.as_default(step=step):
            tf.summary.image("input | reconstruction", image_grid(images, reconstructions))

    def flush(self):
        """Make everything written so far visible to TensorBoard."""
        self.train.flush()
        self.validation.flush()

    def close(self):
        """Flush and close both writers."""
        self.train.close()
        self.validation.close()
