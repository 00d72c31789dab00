"""Loading a dataset: its plugin's splits checked and held as bench.data.splits.Split,
resized and narrowed as asked, and a damaged file named when it is read."""

import contextlib
import copy
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench.data import holding, records, splits
from bench.data.input import SPLITS, ImageFiles, Input, check_split
from bench.errors import BenchError, BenchUsageError, DataInputError, DatasetError, PluginError, describe_exception
from bench.files import shown


def load_data(dataset_spec, data_dir, report, image_size=None, channels=None, on_bad_file="fail", classes=(),
              max_image_pixels=Input.max_image_pixels, seed=None):
    """Load every split of a dataset plugin, resized to `image_size` = (height, width) when given,
    narrowed to the label numbers `classes` when given (`dataset.every_class_test` keeps
    the whole test split, for anomaly scores).

    `image_size`, `channels`, `on_bad_file` and `max_image_pixels` are also given to the
    dataset as its attributes of those names, before it loads, for a dataset that decodes
    files. With on_bad_file "skip", every image file is decoded once here, and those that
    cannot be are left out, named.

    A process forked from one that `hold`s this load (with `seed`, the seed the random
    generators were just given) finds the plugin's splits in memory.

    Returns:
        (dataset, {split: bench.data.splits.Split}); dataset.image_shape is the images' shape as trained.
    """
    options = _plugin_options(image_size, channels, on_bad_file, max_image_pixels)
    recalled = holding.recall(dataset_spec, data_dir, options, seed)
    if recalled is not None:
        dataset, held = copy.copy(recalled.dataset), dict(recalled.splits)
        dataset.report = report
    else:
        dataset, held = _plugin_splits(dataset_spec, data_dir, report, options)
    if on_bad_file == "skip":
        held = _undecodable_left_out(dataset, held, report)
    if channels is not None and dataset.image_shape[-1] != channels:
        raise BenchUsageError(f"dataset {dataset_spec.name} has {dataset.image_shape[-1]} channels; "
                              f"--channels {channels} applies to image folders only")
    if image_size is not None:
        held = {split: images.resized(image_size) for split, images in held.items()}
    dataset.image_shape = trained_shape(dataset_spec.name, held)
    dataset.every_class_test = held["test"]
    if classes:
        held = only_classes(dataset_spec.name, dataset, held, classes)
        report.info(f"--classes {','.join(map(str, classes))}: " + ", ".join(
            f"{len(images):,} {split}" for split, images in held.items()) + " images of those classes (bench eval "
            f"--anomaly scores all {len(dataset.every_class_test):,} test images)")
    return dataset, held


def _plugin_options(image_size=None, channels=None, on_bad_file="fail", max_image_pixels=Input.max_image_pixels,
                    classes=()):
    """What a dataset plugin sees of load_data's keywords (its attributes of those names, set
    before it loads); `classes` narrows its splits after."""
    return {"image_size": image_size, "channels": channels, "on_bad_file": on_bad_file,
            "max_image_pixels": max_image_pixels}


def _plugin_splits(dataset_spec, data_dir, report, options):
    """(the dataset plugin's instance, {split: Split}) as its `load` gives them, checked."""
    dataset_class = dataset_spec.load()
    if not (isinstance(dataset_class, type) and issubclass(dataset_class, Input)):
        raise PluginError(f"dataset {dataset_spec.name} ({dataset_spec.where()}) is not a subclass of bench.Input")
    try:
        dataset = dataset_class(Path(data_dir), report)
        for name, value in options.items():  # before it loads: a dataset that decodes files uses them
            setattr(dataset, name, value)
        return dataset, {split: as_split(dataset, split, dataset.load(split)) for split in SPLITS}
    except BenchError:
        raise
    except (Exception, SystemExit) as error:  # a plugin may raise anything
        raise PluginError(
            f"dataset plugin {dataset_spec.name} ({dataset_spec.where()}) raised {describe_exception(error)}"
        ) from error


def hold(dataset_spec, data_dir, seed, **load_options):
    """Load a dataset as `load_data` with `load_options` would after seeding the random
    generators with `seed`, and hold it in this process's memory for the processes it forks
    (bench.data.holding), when every split is arrays (a file list or a stream is read by the
    training, not here). Returns whether it is held; a plugin's error is the training's to report."""
    options = _plugin_options(**load_options)
    data_key = holding.key(dataset_spec, data_dir, options)
    if data_key is None or holding.holds(data_key, seed):
        return data_key is not None
    with holding.seeded(seed) as drawn:
        dataset, loaded = _plugin_splits(dataset_spec, data_dir, None, options)
    if not all(type(split) is splits.ArraySplit for split in loaded.values()):
        return False
    holding.keep(data_key, dataset, loaded, seed, drawn)
    return True


def trained_shape(name, held):
    """The one (height, width, channels) of every split's images, as the model sees them:
    where bench decides a dataset's shape (a plugin declares one; --image-size changes it)."""
    shapes = {tuple(images.image_shape) for images in held.values()}
    if len(shapes) != 1 or None in next(iter(shapes)):
        raise DatasetError(f"dataset {name}: its splits' images are of shapes {', '.join(sorted(map(str, shapes)))}, "
                           "not one; give --image-size")
    return shapes.pop()


def _undecodable_left_out(dataset, held, report):
    """The splits without the image files that cannot be decoded (--on-bad-file skip), named in
    a warning; an image folder's listing loses them too."""
    damaged = {split: images.undecodable() if isinstance(images, splits.FileSplit) else []
               for split, images in held.items()}
    found = [path for paths in damaged.values() for path in paths]
    if not found:
        return held
    named = ", ".join(shown(path) for path in found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    report.warning(f"left out {len(found)} image file(s) that cannot be decoded (--on-bad-file skip): {named}")
    if hasattr(dataset, "leave_out"):
        dataset.leave_out(found)
    held = {split: images.without(damaged[split]) if damaged[split] else images for split, images in held.items()}
    empty = [split for split, images in held.items() if not len(images)]
    if empty:
        raise DataInputError(f"dataset {dataset.name}: no image of its {' and '.join(empty)} split can be decoded")
    return held


def only_classes(name, dataset, held, classes):
    """The splits narrowed to `classes` (--classes), checked against the dataset's labels."""
    if not dataset.num_classes:
        raise BenchUsageError(f"--classes needs a labelled dataset; {name} has no labels")
    outside = [number for number in classes if number >= dataset.num_classes]
    if outside:
        raise BenchUsageError(f"--classes {','.join(map(str, outside))}: {name} has classes 0 to "
                              f"{dataset.num_classes - 1} ({', '.join(dataset.class_names)})")
    narrowed = {split: images.of_classes(classes) for split, images in held.items()}
    empty = [split for split, images in narrowed.items() if not len(images)]
    if empty:
        raise BenchUsageError(f"--classes {','.join(map(str, classes))}: the {' and '.join(empty)} split of {name} "
                              "has no images of those classes")
    return narrowed


READ_FAULTS = (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError, tf.errors.DataLossError)
"""What reading a damaged file raises in a tf.data pipeline: an image that does not decode, a shard
shorter than its manifest says, a record whose checksum fails."""


@contextlib.contextmanager
def damaged_files_named(splits, report):
    """A file that cannot be read (an image whose first bytes were right, a TFRecord shard
    that does not match its manifest) becomes one line naming it: the splits' files are all
    read then, to find every such file (a file is known damaged only once it is read, and
    bench reads none before training)."""
    try:
        yield
    except READ_FAULTS as error:
        report.info("a file could not be read; looking for the damaged files...")
        damaged = [item for split in splits.values() for item in split.undecodable()]
        if not damaged:
            raise
        named = ", ".join(map(shown, damaged[:5])) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        if any(isinstance(_innermost(split), records.RecordSplit) for split in splits.values()):
            raise DataInputError(f"{len(damaged)} TFRecord shard(s) cannot be read as their manifest says: {named}; "
                                 "prepare the folder again (bench prepare --verify checks the shards)") from error
        raise DataInputError(f"{len(damaged)} image files cannot be decoded: {named}. Remove or replace them, or "
                             "leave them out with --on-bad-file skip; then run the same command") from error


def _innermost(split):
    """The split a cached or resized split reads from."""
    while hasattr(split, "source"):
        split = split.source
    return split


def as_split(dataset, split, loaded):
    """What a plugin's `load(split)` returned, checked, as a bench.data.splits.Split."""
    shape = tuple(dataset.image_shape)
    if isinstance(loaded, splits.Split):  # bench's own readers (bench.data.records)
        return loaded
    if isinstance(loaded, ImageFiles):
        if not loaded.paths:
            raise DatasetError(f"dataset {dataset.name}, split {split}: the split has no files")
        labels = np.asarray(loaded.labels) if loaded.labels is not None else None
        return splits.FileSplit(loaded.paths, labels, loaded.decode or image_decoder(shape), shape)
    if isinstance(loaded, tf.data.Dataset):
        return _stream_split(dataset, split, loaded)
    images, labels = loaded
    check_split(dataset, split, images, labels)
    return splits.ArraySplit(images, labels)


def _stream_split(dataset, split, stream):
    where = f"dataset {dataset.name}, split {split}"
    count = int(stream.cardinality())
    if count < 0:
        raise DatasetError(f"{where}: the tf.data.Dataset's length is unknown; return "
                           "dataset.apply(tf.data.experimental.assert_cardinality(n))")
    labelled = isinstance(stream.element_spec, tuple)
    spec = stream.element_spec[0] if labelled else stream.element_spec
    if tuple(spec.shape) != tuple(dataset.image_shape) or spec.dtype not in (tf.uint8, tf.float32):
        raise DatasetError(f"{where}: the stream's images are {spec.dtype.name} of shape {tuple(spec.shape)}; "
                           f"the dataset declares uint8 or float32 of {tuple(dataset.image_shape)}")
    return splits.StreamSplit(stream, count, dataset.image_shape, labelled)


def image_decoder(image_shape):
    """A TensorFlow function: a PNG, JPEG, BMP or GIF file's bytes → a uint8 image of
    `image_shape` (alpha dropped; grey from colour by luminance, colour from grey by copies)."""
    height, width, channels = image_shape
    luminance = tf.constant([0.299, 0.587, 0.114], tf.float32)  # sums to 1: a grey pixel stays itself

    def decode(contents):
        image = tf.io.decode_image(contents, channels=3, expand_animations=False)  # every format can give RGB
        image.set_shape((None, None, 3))
        if channels == 1:
            grey = tf.tensordot(tf.cast(image, tf.float32), luminance, axes=1)[..., None]
            image = tf.cast(tf.clip_by_value(tf.round(grey), 0, 255), tf.uint8)
        same_size = tf.reduce_all(tf.equal(tf.shape(image)[:2], [height, width]))
        image = tf.cond(same_size, lambda: image, lambda: splits.resize(image, (height, width)))
        return tf.ensure_shape(image, (height, width, channels))

    return decode
