"""The dataset plugin interface."""

from dataclasses import dataclass

import numpy as np

from bench.errors import DatasetError

SPLITS = ("train", "validation", "test")


class Input:
    """Base class of a dataset plugin: `inputs/<Name>.py` holding `class <Name>(Input)`.

    A dataset tells the bench what its images look like and hands over each
    split, in one of three forms (see `load`): NumPy arrays (small data),
    `ImageFiles` (a list of image files, decoded as they are read), or a
    `tf.data.Dataset` of its own (streamed). The bench builds the rest of the
    pipeline (shuffle, batch, scale, prefetch) itself. Set the class attributes
    and implement `load`::

        import numpy as np
        from bench import Input
        from bench.data.input import SPLITS

        class Tiny(Input):
            '''Four random 8x8 images (one line shown by `bench list`).'''
            image_shape = (8, 8, 1)
            num_classes = 2

            def load(self, split):
                rng = np.random.default_rng(SPLITS.index(split))
                n = {"train": 2, "validation": 1, "test": 1}[split]
                return (rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8),
                        rng.integers(0, 2, n))

    Attributes:
        image_shape: (height, width, channels) of every image.
        num_classes: number of label classes (0 for unlabelled data).
        class_names: optional names of the classes, index = label.
        data_dir: the cache folder (a `pathlib.Path`) where downloaded files
            live, as given by `--data-dir` / `BENCH_DATA_DIR`.
        report: a `bench.console.Reporter` for warnings and download progress.
    """

    image_shape: tuple = ()
    num_classes: int = 0
    class_names: tuple = ()
    # Set by the bench before `load`, from --image-size, --channels, --on-bad-file and --max-image-pixels:
    # a dataset that decodes files may use them (the bench resizes whatever `load` returns to image_size).
    image_size: tuple | None = None
    channels: int | None = None
    on_bad_file: str = "fail"
    max_image_pixels: int = 40_000_000  # --max-image-pixels: files whose header says more are not decoded

    def __init__(self, data_dir, report=None):
        """Args:
        data_dir: the dataset cache folder (need not exist yet).
        report: where to send warnings and progress; None prints nothing.
        """
        self.data_dir = data_dir
        self.report = report

    @property
    def name(self):
        """The dataset's name, the class name (used in run folder names)."""
        return type(self).__name__

    def load(self, split):
        """Return one split, in one of three forms.

        Args:
            split: "train", "validation" or "test".

        Returns:
            `(images, labels)`: images, an array of shape (n, *image_shape),
                either uint8 in [0, 255] (preferred: 4x less memory; the bench
                scales it to [-1, 1] in the pipeline) or float32 already in
                [-1, 1]; labels, an int array of shape (n,), or None for
                unlabelled data. The whole split is held in memory.
            `ImageFiles(paths, labels[, decode])`: files read and decoded in
                parallel as training needs them, at image_shape: PNG, JPEG, BMP
                or GIF by bench, any other format by your `decode` function.
            a `tf.data.Dataset` of uint8 (or float32) images of image_shape,
                or of (image, label) pairs, with a known cardinality (use
                `dataset.apply(tf.data.experimental.assert_cardinality(n))`
                when TensorFlow cannot know it): shuffled through a bounded buffer.

        Raises:
            bench.errors.DatasetError: the data cannot be had or is corrupt;
                its message says what to do.
        """
        raise NotImplementedError(f"{self.name}.load(split) is not implemented")

    def warn(self, message):
        """Show a warning to the user (and in the run's train.log)."""
        if self.report is not None:
            self.report.warning(message)


@dataclass
class ImageFiles:
    """A split as a list of image files (PNG, JPEG, BMP, GIF), for `Input.load` to return.

    Attributes:
        paths: the files, in the split's order.
        labels: an int per file, or None for unlabelled data.
        decode: a TensorFlow function of a file's bytes (a string tensor) → a uint8
            image of the dataset's image_shape, for files in another format; None:
            bench's own decoder of PNG, JPEG, BMP and GIF (resized to image_shape).
    """

    paths: list
    labels: object = None
    decode: object = None


def check_split(dataset, split, images, labels):
    """Check what a plugin's `load` returned; DatasetError names what is wrong."""
    where = f"dataset {dataset.name}, split {split}"
    if not isinstance(images, np.ndarray) or images.ndim != 4:
        raise DatasetError(f"{where}: images must be an array of shape (n, h, w, c), got {_shape(images)}")
    if tuple(images.shape[1:]) != tuple(dataset.image_shape):
        raise DatasetError(f"{where}: images have shape {images.shape[1:]}, the dataset declares {dataset.image_shape}")
    if len(images) == 0:
        raise DatasetError(f"{where}: the split is empty")
    if images.dtype != np.uint8 and images.dtype != np.float32:
        raise DatasetError(f"{where}: images must be uint8 or float32, got {images.dtype}")
    if labels is not None:
        _check_labels(dataset, where, np.asarray(labels), len(images))
    if images.dtype == np.float32:
        _check_float_pixels(where, images)


def _check_labels(dataset, where, labels, count):
    if labels.ndim != 1 or len(labels) != count:
        raise DatasetError(f"{where}: {count} images but labels of shape {labels.shape}; give one integer per image")
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{where}: labels must be integers (class numbers), got {labels.dtype} "
                           f"(e.g. {labels[0]!r}); map class names to 0..n-1 and set class_names")
    low, high = int(labels.min()), int(labels.max())
    if dataset.num_classes and (low < 0 or high >= dataset.num_classes):
        raise DatasetError(f"{where}: labels run from {low} to {high}, but num_classes is {dataset.num_classes} "
                           f"(labels 0 to {dataset.num_classes - 1})")


def _check_float_pixels(where, images):
    """float32 images must be finite and in [-1, 1] (checked a chunk at a time: no copy of the split)."""
    low, high = np.inf, -np.inf
    for start in range(0, len(images), 4096):
        chunk = images[start:start + 4096]
        if not np.isfinite(chunk).all():
            raise DatasetError(f"{where}: the float32 images hold NaN or infinite pixels (from image {start} on)")
        low, high = min(low, float(chunk.min())), max(high, float(chunk.max()))
    if low < -1.0 - 1e-6 or high > 1.0 + 1e-6:
        raise DatasetError(f"{where}: float32 images must be in [-1, 1], got pixels from {low:g} to {high:g}; "
                           "return uint8 pixels (0..255), or scale them to [-1, 1]")


def _shape(value):
    return getattr(value, "shape", type(value).__name__)
