"""Ready-made dataset bases for the common file formats: IDX (MNIST) and CIFAR binary.

A dataset stored in one of these formats is a subclass that names its files,
checksums and mirrors; see inputs/MNIST.py and inputs/Cifar10.py.
"""

import gzip
import zlib
from pathlib import Path

import numpy as np

from bench.data.download import extract_tar, fetch, md5_of
from bench.data.input import Input
from bench.errors import DatasetError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


def validation_count(n_train_file):
    """Images set aside for validation: 5,000, or 10% when fewer than 50,000 are present."""
    return 5000 if n_train_file >= 50000 else max(1, n_train_file // 10)


class CachedFilesMixin:
    """Files kept under `<data_dir>/<folder>/`, verified by MD5, downloaded when absent."""

    folder = ""
    mirrors = ()

    def cache_path(self, filename):
        """Where `filename` lives in the cache."""
        return Path(self.data_dir) / self.folder / filename

    def ensure_file(self, filename, md5, size=None):
        """The verified local path of `filename`, downloading it if needed (`size`, its
        size in bytes when known, bounds the download).

        A cached file that fails its checksum is deleted and downloaded again.
        """
        path = self.cache_path(filename)
        if path.exists():
            if md5_of(path) == md5:
                return path
            self.warn(f"{path} does not match its published checksum; downloading it again")
            try:
                path.unlink()
            except OSError as error:
                raise DatasetError(
                    f"{path} is corrupt (wrong checksum) and cannot be deleted ({error.strerror}); "
                    "replace it, or use another --data-dir"
                ) from error
        return fetch(filename, md5, self.mirrors, path, self.report, size)


class IdxImageInput(CachedFilesMixin, Input):
    """A dataset in MNIST's four gzipped IDX files.

    Splits (DTB's): validation = the first 5,000 images of the training file
    (10% when it holds fewer than 50,000), train = the rest, test = the test file.

    Subclasses set `folder` (cache sub-folder), `mirrors` (base URLs tried in
    order), and `files`: {"train_images", "train_labels", "test_images",
    "test_labels"} → (file name, published MD5[, size in bytes]).
    """

    image_shape = (28, 28, 1)
    num_classes = 10
    files = {}

    def __init__(self, data_dir, report=None):
        super().__init__(data_dir, report)
        self._arrays = {}

    def _read(self, key, magic):
        if key not in self._arrays:
            path = self.ensure_file(*self.files[key])
            self._arrays[key] = read_idx(path, magic)
        return self._arrays[key]

    def load(self, split):
        """(images uint8 (n, 28, 28, 1), labels) of "train", "validation" or "test"."""
        prefix = "test" if split == "test" else "train"
        images = self._read(f"{prefix}_images", IDX_IMAGES_MAGIC)[..., np.newaxis]
        labels = self._read(f"{prefix}_labels", IDX_LABELS_MAGIC)
        if len(images) != len(labels):
            raise DatasetError(f"{self.name}: {len(images)} {prefix} images but {len(labels)} labels")
        if split == "test":
            return images, labels
        n_validation = validation_count(len(images))
        part = slice(None, n_validation) if split == "validation" else slice(n_validation, None)
        return images[part], labels[part]


def read_idx(path, magic):
    """Parse a gzipped IDX file of unsigned bytes into an array.

    Raises:
        DatasetError: the file is not IDX, or is truncated.
    """
    try:
        with gzip.open(path, "rb") as file:
            raw = file.read()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"{path} is corrupt or truncated ({error}); delete it to download it again") from error
    header = np.frombuffer(raw[:4], dtype=">u4")
    if len(header) != 1 or header[0] != magic:
        raise DatasetError(f"{path} is not an IDX file of the expected kind; delete it to download it again")
    n_dims = magic & 0xFF
    dims = tuple(int(d) for d in np.frombuffer(raw[4:4 + 4 * n_dims], dtype=">u4"))
    body = raw[4 + 4 * n_dims:]
    if len(dims) != n_dims or len(body) != int(np.prod(dims)):
        raise DatasetError(f"{path} is truncated (header says {dims}); delete it to download it again")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims)


class CifarBinaryInput(CachedFilesMixin, Input):
    """A dataset in CIFAR-10's binary version: records of 1 label byte + 32·32·3 pixels.

    The archive is downloaded and verified, extracted safely, and its records
    parsed directly; nothing is ever unpickled. Splits: validation = the last
    5,000 training images (10% when fewer than 50,000 are present), train =
    the rest, test = the test batch. A folder with only some training batches
    is used with a warning naming the missing ones.
    """

    image_shape = (32, 32, 3)
    num_classes = 10
    class_names = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
    archive = ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530", 170052171)  # name, MD5, bytes
    batches_folder = "cifar-10-batches-bin"
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)

    def __init__(self, data_dir, report=None):
        super().__init__(data_dir, report)
        self._splits = None

    def batches_dir(self):
        """The folder of .bin files, downloaded and extracted when absent."""
        folder = self.cache_path(self.batches_folder)
        if not any(folder.glob("*.bin")):
            archive = self.ensure_file(*self.archive)
            extract_tar(archive, self.batches_folder, folder)
            archive.unlink()
        missing = [name for name in self.train_files + self.test_files if not (folder / name).exists()]
        present_train = [name for name in self.train_files if name not in missing]
        if not present_train or any(name in missing for name in self.test_files):
            raise DatasetError(
                f"{folder} lacks {', '.join(missing)}; delete the folder to download the dataset again"
            )
        if missing:
            self.warn(f"{folder} lacks {', '.join(missing)}: training on the batches that are present")
        return folder

    def _read_records(self, path):
        record = 1 + int(np.prod(self.image_shape))
        raw = np.fromfile(path, dtype=np.uint8)
        if raw.size == 0 or raw.size % record:
            raise DatasetError(
                f"{path} is truncated or corrupt ({raw.size} bytes is not a whole number of "
                f"{record}-byte records); delete it to download the dataset again"
            )
        records = raw.reshape(-1, record)
        labels = records[:, 0].astype(np.int64)
        if labels.max() >= self.num_classes:
            raise DatasetError(f"{path} is corrupt (label {labels.max()}); delete it to download the dataset again")
        height, width, depth = self.image_shape
        images = records[:, 1:].reshape(-1, depth, height, width).transpose(0, 2, 3, 1)
        return np.ascontiguousarray(images), labels

    def _read_all(self, folder, names):
        parts = [self._read_records(folder / name) for name in names if (folder / name).exists()]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def load(self, split):
        """(images uint8 (n, 32, 32, 3), labels) of "train", "validation" or "test"."""
        if self._splits is None:
            folder = self.batches_dir()
            images, labels = self._read_all(folder, self.train_files)
            n_train = len(images) - validation_count(len(images))
            self._splits = {
                "train": (images[:n_train], labels[:n_train]),
                "validation": (images[n_train:], labels[n_train:]),
                "test": self._read_all(folder, self.test_files),
            }
        return self._splits[split]
