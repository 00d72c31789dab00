"""One split of a dataset, however it is held: NumPy arrays in memory, image files
decoded as they are read, or a plugin's own tf.data.Dataset.

Every consumer (the training step, the evaluator, the pictures, the projector,
the probe) reads a split through this one interface, so a dataset of any size
trains the same way: `images()` in a fixed order, `shuffled(seed)` in an order
that depends only on the seed, `first(n)` as arrays for the pictures and codes.
"""

import os

import numpy as np
import tensorflow as tf

from bench.errors import DataInputError

SHUFFLE_BUFFER = 10_000  # elements of a streamed dataset held for shuffling (files shuffle by name, fully)


class Split:
    """The images (and labels) of one split.

    Attributes:
        count: how many images it has.
        labels: an int array of the labels, None for unlabelled data (or a stream's, read by `first`).
        image_shape: (height, width, channels) of every image it yields.
    """

    count = 0
    labels = None
    image_shape = ()
    held = ""  # how, in words (bench inspect)
    full_shuffle = False  # whether `shuffled` is one shuffle of all `images()` (a cache can then replay it)

    def images(self):
        """The images, unbatched, always in the same order (uint8, or float32 in [-1, 1])."""
        raise NotImplementedError

    def shuffled(self, seed):
        """The images in an order that depends only on `seed`."""
        raise NotImplementedError

    def shuffled_batches(self, seed, batch_size):
        """`shuffled(seed)` in batches (a split may make them more cheaply itself)."""
        return self.shuffled(seed).batch(batch_size)

    def shuffled_shard(self, seed, count, index):
        """The images index, index + count, ... of `shuffled(seed)` (a split of files reads only those)."""
        return self.shuffled(seed).shard(count, index)

    def first(self, count):
        """(images, labels) of the first `count` images as arrays (labels None when unlabelled)."""
        images = np.stack(list(self.images().take(count).as_numpy_iterator()))
        return images, (self.labels[:count] if self.labels is not None else None)

    def undecodable(self):
        """The files of this split that cannot be decoded (none for data that is not files)."""
        return []

    def of_classes(self, classes):
        """This split's images whose label is in `classes`, in the same order (--classes).
        Only splits whose labels are known before reading can be narrowed."""
        raise DataInputError(f"--classes needs labels known before the images are read ({self.held}: not "
                             "so); use a dataset held in memory or an image folder")

    def _kept(self, classes):
        if self.labels is None:
            raise DataInputError("--classes needs a labelled dataset; this one has no labels")
        return np.isin(self.labels, list(classes))

    def resized(self, size):
        """This split with every image resized to `size` = (height, width)."""
        if tuple(size) == self.image_shape[:2]:
            return self
        return MappedSplit(self, lambda image: resize(image, size), tuple(size) + self.image_shape[-1:])

    def __len__(self):
        return self.count


def resize(image, size):
    """An image resized (area-averaged when smaller, bilinear when larger) to `size`, kept in its dtype."""
    if tuple(image.shape[-3:-1]) == tuple(size):
        return image
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    if image.dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    return tf.cast(resized, image.dtype)


class ArraySplit(Split):
    """A split held in memory, as the plugin's `load` returned it."""

    held = "in memory"
    full_shuffle = True

    def __init__(self, images, labels):
        self.array = images
        self.labels = labels
        self.count = len(images)
        self.image_shape = tuple(images.shape[1:])
        self._tensor = None

    def images(self):
        if self._tensor is None:  # copied into TensorFlow once, in its stored dtype (uint8: 4x smaller)
            self._tensor = tf.convert_to_tensor(self.array)
        return tf.data.Dataset.from_tensor_slices(self._tensor)

    def shuffled(self, seed):
        # Every image in the shuffle buffer: a full, exact shuffle (the order DTB-era runs were measured with).
        return self.images().shuffle(self.count, seed=seed, reshuffle_each_iteration=False)

    def first(self, count):
        return self.array[:count], (self.labels[:count] if self.labels is not None else None)

    def of_classes(self, classes):
        kept = self._kept(classes)
        return ArraySplit(self.array[kept], self.labels[kept])

    def resized(self, size):
        if tuple(size) == self.image_shape[:2]:
            return self
        resized = np.concatenate([resize(tf.convert_to_tensor(self.array[start:start + 1024]), size).numpy()
                                  for start in range(0, self.count, 1024)])
        return ArraySplit(resized, self.labels)


class FileSplit(Split):
    """A split of image files, read and decoded in parallel as they are needed.

    Args:
        paths: the files (str), in the split's order.
        labels: an int array, or None.
        decode: a TensorFlow function of a file's bytes → an image of `image_shape`.
        image_shape: the decoded images' (height, width, channels).
    """

    held = "image files, decoded as read"
    full_shuffle = True

    def __init__(self, paths, labels, decode, image_shape):
        self.paths = [str(path) for path in paths]
        # TensorFlow gets the bytes the file system holds: a name need not be UTF-8
        self.names = tf.constant([os.fsencode(path) for path in self.paths], tf.string)
        self.labels = labels
        self.decode = decode
        self.count = len(self.paths)
        self.image_shape = tuple(image_shape)

    def _decoded(self, paths):
        return paths.map(lambda path: self.decode(tf.io.read_file(path)), num_parallel_calls=tf.data.AUTOTUNE,
                         deterministic=True)

    def images(self):
        return self._decoded(tf.data.Dataset.from_tensor_slices(self.names))

    def undecodable(self):
        """Decode every file (in parallel), keep the indices that work: the others are damaged."""
        indices = tf.data.Dataset.range(self.count).map(
            # a value of the pixels themselves: a shape alone could be known without decoding
            lambda index: (index, tf.reduce_max(self.decode(tf.io.read_file(tf.gather(self.names, index))))),
            num_parallel_calls=tf.data.AUTOTUNE).ignore_errors()
        good = {int(index) for index, _ in indices.as_numpy_iterator()}
        return [path for index, path in enumerate(self.paths) if index not in good]

    def without(self, paths):
        """This split without the files at `paths`."""
        gone = set(paths)
        kept = np.array([path not in gone for path in self.paths], bool)
        return FileSplit([path for path in self.paths if path not in gone],
                         self.labels[kept] if self.labels is not None else None, self.decode, self.image_shape)

    def of_classes(self, classes):
        kept = self._kept(classes)
        return FileSplit([path for path, keep in zip(self.paths, kept) if keep], self.labels[kept], self.decode,
                         self.image_shape)

    def shuffled(self, seed):
        # The names shuffle, all of them at once: an exact shuffle that costs no image memory.
        names = tf.data.Dataset.from_tensor_slices(self.names)
        return self._decoded(names.shuffle(self.count, seed=seed, reshuffle_each_iteration=False))

    def shuffled_shard(self, seed, count, index):
        names = tf.data.Dataset.from_tensor_slices(self.names)
        return self._decoded(names.shuffle(self.count, seed=seed, reshuffle_each_iteration=False).shard(count, index))


class StreamSplit(Split):
    """A split a plugin hands over as a tf.data.Dataset of images, or of (image, label) pairs."""

    held = "the plugin's tf.data stream"

    def __init__(self, dataset, count, image_shape, labelled):
        self.dataset = dataset
        self.count = count
        self.image_shape = tuple(image_shape)
        self.labelled = labelled

    def images(self):
        return self.dataset.map(lambda image, label: image) if self.labelled else self.dataset

    def shuffled(self, seed):
        return self.images().shuffle(min(self.count, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=False)

    def first(self, count):
        if not self.labelled:
            return super().first(count)
        pairs = list(self.dataset.take(count).as_numpy_iterator())
        return np.stack([image for image, _ in pairs]), np.array([label for _, label in pairs])


class CachedSplit(Split):
    """Another split, decoded once and then kept: in memory (`path` "") or in a file.

    A source that shuffles all of its images at once (files) is shuffled from the
    cache, in the source's own order (a full shuffle of the same count with the
    same seed); one that shuffles through a buffer (TFRecord shards, streams) is
    still read for training, and the cache serves its evaluations.
    """

    def __init__(self, source, path=""):
        self.source, self.path = source, str(path)
        self.count, self.image_shape, self.held = source.count, source.image_shape, f"{source.held}, cached"
        self._cached = None

    @property
    def labels(self):
        return self.source.labels

    def undecodable(self):
        return self.source.undecodable()

    def images(self):
        if self._cached is None:  # one cache for every pass: the first fills it
            self._cached = self.source.images().cache(self.path)
        return self._cached

    def shuffled(self, seed):
        if not self.source.full_shuffle:
            return self.source.shuffled(seed)
        return self.images().shuffle(self.count, seed=seed, reshuffle_each_iteration=False)

    def shuffled_batches(self, seed, batch_size):
        if not self.source.full_shuffle:
            return self.source.shuffled_batches(seed, batch_size)
        return super().shuffled_batches(seed, batch_size)

    def first(self, count):
        return self.source.first(count)


def cached(split, mode, folder=None):
    """`split` cached as --cache asks ("none", "memory", "disk": files in `folder`); arrays are already in memory."""
    if mode == "none" or isinstance(split, ArraySplit):
        return split
    return CachedSplit(split, "" if mode == "memory" else str(folder / f"{id(split)}.cache"))


class MappedSplit(Split):
    """Another split with a function applied to each of its images (a resize)."""

    held = "resized as read"

    def __init__(self, source, function, image_shape):
        self.source, self.function = source, function
        self.count, self.labels, self.image_shape = source.count, source.labels, tuple(image_shape)
        self.full_shuffle = source.full_shuffle

    def undecodable(self):
        return self.source.undecodable()

    def of_classes(self, classes):
        return MappedSplit(self.source.of_classes(classes), self.function, self.image_shape)

    def images(self):
        return self.source.images().map(self.function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def shuffled(self, seed):
        return self.source.shuffled(seed).map(self.function, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def shuffled_shard(self, seed, count, index):
        return self.source.shuffled_shard(seed, count, index).map(self.function, num_parallel_calls=tf.data.AUTOTUNE,
                                                                  deterministic=True)

    def first(self, count):
        images, labels = self.source.first(count)
        return np.stack([self.function(tf.convert_to_tensor(image)).numpy() for image in images]), labels
