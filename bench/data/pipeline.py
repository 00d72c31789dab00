"""The tf.data input pipeline: images stay uint8 in memory and travel as uint8
batches; the compiled step scales them to the bench's [-1, 1] (`to_bench_range`;
a model with another pixel range maps them with `own_pixels`), which is
cheaper than a separate tf.data map stage and moves 4x fewer bytes."""

import tensorflow as tf

from bench.data import seeds


def to_bench_range(images, size=None):
    """uint8 [0, 255] → float32 [-1, 1] (float32 images are taken as already in
    [-1, 1]), resized (bilinear) to `size` = (height, width) when given."""
    if images.dtype == tf.uint8:
        images = tf.cast(images, tf.float32) * (2.0 / 255.0) - 1.0
    images = tf.cast(images, tf.float32)
    if size is not None and tuple(images.shape[1:3]) != tuple(size):
        images = tf.image.resize(images, size, method="bilinear")
    return images


def corrupt(images, noise_factor, stream, counter):
    """Denoising's input: Gaussian noise added, clipped to [-1, 1].

    `noise_factor` is the noise's standard deviation on the [0, 1] pixel scale
    (the denoising tutorial's convention), so 2·noise_factor on [-1, 1]. The
    noise is stateless: the same (stream, counter) integers give the same
    noise, so training (stream from the seed and replica, counter the step)
    and evaluation (a fixed stream, counter the batch) are reproducible.
    """
    seed = tf.stack([tf.cast(stream, tf.int64), tf.cast(counter, tf.int64)])
    noise = tf.random.stateless_normal(tf.shape(images), seed=seed, dtype=images.dtype)
    return tf.clip_by_value(images + (2.0 * noise_factor) * noise, -1.0, 1.0)


def steps_per_epoch(count, batch_size, replicas=1):
    """Batches in an epoch of `count` images: the last, partial one only when
    every replica gets at least one of its images."""
    full, rest = divmod(count, batch_size)
    return full + (rest >= replicas)


def training_batches(split, batch_size, seed, epoch, skip_batches=0, steps=None, augment=(), shard=None):
    """One epoch of shuffled batches of a bench.data.splits.Split, in its stored dtype (the
    first `steps` batches, then the first `skip_batches` of those skipped), each
    image augmented (`augmented`) when `augment` names augmentations.

    The order and the augmentations depend only on (seed, epoch), so a run resumed
    in the middle of an epoch skips exactly the batches it had already trained on.
    `shard` = (count, index): only the images index, index + count, ... of that order
    (a worker's part; no augmentation).
    """
    order_seed = seeds.epoch_order(seed, epoch)
    if shard is not None:
        batches = split.shuffled_shard(order_seed, *shard).batch(batch_size)
    elif augment:
        images = split.shuffled(order_seed).enumerate().map(
            lambda index, image: augmented(image, augment, order_seed, index),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        batches = images.batch(batch_size)
    else:
        batches = split.shuffled_batches(order_seed, batch_size)
    if steps is not None:
        batches = batches.take(steps)
    return batches.skip(skip_batches).prefetch(tf.data.AUTOTUNE)


def augmented(image, augment, order_seed, index):
    """One training image, augmented by each of `augment` ("flip", "crop") with stateless
    random numbers drawn from (order_seed, index, which augmentation): reproducible."""
    order_seed, index = tf.cast(order_seed, tf.int64), tf.cast(index, tf.int64)

    def seed(which):
        return tf.stack(seeds.augmentation(order_seed, index, which))

    if "flip" in augment:
        image = tf.image.stateless_random_flip_left_right(image, seed=seed(0))
    if "crop" in augment:
        height, width, depth = image.shape
        pad_y, pad_x = max(1, height // 8), max(1, width // 8)
        padded = tf.pad(image, [[pad_y, pad_y], [pad_x, pad_x], [0, 0]], mode="REFLECT")
        image = tf.image.stateless_random_crop(padded, (height, width, depth), seed=seed(1))
    return image
