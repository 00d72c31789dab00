"""The tf.data input pipeline: images stay uint8 in memory and are scaled per batch."""

import tensorflow as tf


def to_model_range(images):
    """uint8 [0, 255] → float32 [-1, 1]; float32 images are taken as already in [-1, 1]."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    return tf.cast(images, tf.float32)


def in_memory(images):
    """The split's images as one tensor, kept in their stored dtype (uint8: 4x smaller)."""
    return tf.convert_to_tensor(images)


def training_batches(images, batch_size, seed, epoch, skip_batches=0):
    """One epoch of shuffled batches in [-1, 1].

    The order depends only on (seed, epoch), so a run resumed in the middle
    of an epoch skips exactly the batches it had already trained on.
    """
    order_seed = seed * 100003 + epoch  # a distinct, reproducible order per epoch
    batches = (
        tf.data.Dataset.from_tensor_slices(images)
        .shuffle(len(images), seed=order_seed, reshuffle_each_iteration=False)
        .batch(batch_size)
        .skip(skip_batches)
        .map(to_model_range, num_parallel_calls=tf.data.AUTOTUNE)
    )
    return batches.prefetch(tf.data.AUTOTUNE)


def evaluation_batches(images, batch_size):
    """The split in order, in batches in [-1, 1]."""
    return (
        tf.data.Dataset.from_tensor_slices(images)
        .batch(batch_size)
        .map(to_model_range, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
