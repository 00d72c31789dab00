"""TFRecord shards: `bench prepare DATASET --out DIR` writes any dataset as sharded
TFRecord files, and `--dataset tfrecord:DIR` trains from them, streamed.

    DIR/
        train-00000-of-00004.tfrecord ...   tf.train.Example records: "image" (the
        validation-00000-of-00001.tfrecord  raw uint8 pixels, row-major), "label" (int64,
        test-00000-of-00001.tfrecord        -1 when unlabelled)
        manifest.json                       MANIFEST: format, image shape, classes, and per
                                            split its count and each shard's name, count,
                                            size and sha256; written last (its presence
                                            means the shards are complete)

Raw pixels rather than PNG: reading needs no decoding, which is what lets a
cluster's shared storage feed training at the speed of memory. TensorFlow checks
every record's CRC as it reads; the shards' sizes are checked against the
manifest before training, and `bench prepare --verify DIR` checks their sha256.
"""

import json
import math
import os
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench import files, splits
from bench.errors import DataInputError
from bench.input import SPLITS, Input

MANIFEST = "manifest.json"
FORMAT = "bench-tfrecord-1"
IMAGES_PER_SHARD = 10_000
PARSE_BATCH = 256


def write(dataset, held, out, report, images_per_shard=IMAGES_PER_SHARD):
    """Write every split of a loaded dataset ({split: Split}) as shards under `out`; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # until it is written again, the folder is incomplete
    manifest = {"format": FORMAT, "source": dataset.name, "image_shape": list(dataset.image_shape),
                "dtype": "uint8", "num_classes": int(dataset.num_classes),
                "class_names": list(dataset.class_names), "splits": {}}
    for split in SPLITS:
        manifest["splits"][split] = _write_split(held[split], split, out, images_per_shard, report)
    files.atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_split(split_images, split, out, images_per_shard, report):
    count = len(split_images)
    shards = max(1, math.ceil(count / images_per_shard))
    written, batches = [], split_images.images().batch(images_per_shard).as_numpy_iterator()
    labels = split_images.labels
    with report.epoch(f"{split}: {count:,} images", shards) as show:
        for index, images in enumerate(batches):
            if images.dtype != np.uint8:  # float32 in [-1, 1] → uint8, as the bench stores images
                images = np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)
            first = index * images_per_shard
            shard_labels = labels[first:first + len(images)] if labels is not None else [-1] * len(images)
            name = f"{split}-{index:05d}-of-{shards:05d}.tfrecord"
            handle, temporary = files.temporary_beside(out / name, ".tmp")
            handle.close()
            try:
                with tf.io.TFRecordWriter(temporary) as writer:
                    for image, label in zip(images, shard_labels):
                        writer.write(_example(image, int(label)))
                os.replace(temporary, out / name)
            finally:
                if os.path.exists(temporary):
                    os.remove(temporary)
            written.append({"name": name, "count": len(images), "bytes": (out / name).stat().st_size,
                            "sha256": _sha256(out / name)})
            show(index + 1, name)
    return {"count": count, "shards": written}


def _example(image, label):
    feature = {"image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image.tobytes()])),
               "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _sha256(path):
    return files.digest_of(path, "sha256")


def read_manifest(folder):
    """The manifest of a prepared folder, its shards' sizes checked; DataInputError says what is wrong."""
    folder = Path(folder)
    where = f"tfrecord:{folder}"
    if not (folder / MANIFEST).is_file():
        raise DataInputError(f"{where}: no {MANIFEST}" + (" (no such folder)" if not folder.is_dir() else "")
                             + "; write it with: bench prepare DATASET --out " + str(folder))
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataInputError(f"{where}: {MANIFEST} is not valid JSON ({error}); prepare the folder again") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataInputError(f"{where}: {MANIFEST} is not a {FORMAT} manifest; prepare the folder again")
    for split in SPLITS:
        for shard in manifest["splits"][split]["shards"]:
            path = folder / shard["name"]
            size = path.stat().st_size if path.is_file() else None
            if size != shard["bytes"]:
                state = "is missing" if size is None else f"has {size:,} bytes, not {shard['bytes']:,}"
                raise DataInputError(f"{where}: shard {shard['name']} {state}; prepare the folder again")
    return manifest


def verify(folder):
    """The shards whose sha256 differs from the manifest's (names)."""
    manifest = read_manifest(folder)
    return [shard["name"] for split in SPLITS for shard in manifest["splits"][split]["shards"]
            if _sha256(Path(folder) / shard["name"]) != shard["sha256"]]


def record_input(folder):
    """A bench.Input class reading the prepared folder."""
    manifest = read_manifest(folder)
    attributes = {"folder": Path(folder), "manifest": manifest, "image_shape": tuple(manifest["image_shape"]),
                  "num_classes": manifest["num_classes"], "class_names": tuple(manifest["class_names"]),
                  "__doc__": RecordInput.__doc__}
    return type("TFRecordFolder", (RecordInput,), attributes)


class RecordInput(Input):
    """TFRecord shards written by `bench prepare` (`--dataset tfrecord:DIR`)."""

    folder = None
    manifest = None

    @property
    def name(self):
        return f"tfrecord:{self.folder}"

    def load(self, split):
        """The split, streamed from its shards."""
        entry = self.manifest["splits"][split]
        paths = [str(self.folder / shard["name"]) for shard in entry["shards"]]
        return RecordSplit(paths, entry["count"], self.image_shape, labelled=self.num_classes > 0)


class RecordSplit(splits.Split):
    """A split of TFRecord shards: the shards in a seeded order, read two at a time, then a bounded shuffle."""

    held = "TFRecord shards, streamed"

    def __init__(self, paths, count, image_shape, labelled):
        self.paths, self.count, self.image_shape, self.labelled = list(paths), count, tuple(image_shape), labelled
        self._labels = None

    @property
    def labels(self):
        if self.labelled and self._labels is None:  # one pass over the labels, when asked for
            pairs = self._pairs(tf.data.TFRecordDataset(self.paths)).map(lambda image, label: label)
            self._labels = np.fromiter(pairs.as_numpy_iterator(), np.int64, self.count)
        return self._labels

    def first(self, count):
        pairs = list(self._pairs(tf.data.TFRecordDataset(self.paths)).take(count).as_numpy_iterator())
        images = np.stack([image for image, _ in pairs])
        return images, (np.array([label for _, label in pairs]) if self.labelled else None)

    def _pairs(self, records):
        """(image, label) of each record, parsed PARSE_BATCH records at a time (one proto parse per
        record costs more than the training step's share of an image)."""
        parsed = records.batch(PARSE_BATCH).map(self._parser(), num_parallel_calls=tf.data.AUTOTUNE,
                                                deterministic=True)
        return parsed.unbatch()

    def _parser(self):
        """A function: a batch of serialized records → (images, labels)."""
        shape = self.image_shape
        features = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}

        def parse(batch):
            examples = tf.io.parse_example(batch, features)
            images = tf.reshape(tf.io.decode_raw(examples["image"], tf.uint8), (-1, *shape))
            return images, examples["label"]

        return parse

    def images(self):
        return self._pairs(tf.data.TFRecordDataset(self.paths)).map(lambda image, label: image)

    def _shuffled_records(self, seed):
        """The serialized records (compact) in the order of `seed`: shards in a seeded order, read
        two at a time, then a bounded shuffle."""
        names = tf.data.Dataset.from_tensor_slices(self.paths).shuffle(len(self.paths), seed=seed)
        records = names.interleave(tf.data.TFRecordDataset, cycle_length=min(len(self.paths), 2),
                                   num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return records.shuffle(min(self.count, splits.SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=False)

    def shuffled(self, seed):
        return self._pairs(self._shuffled_records(seed)).map(lambda image, label: image)

    def shuffled_batches(self, seed, batch_size):
        # parsed a training batch at a time: no per-image stage after the shuffle
        parse = self._parser()
        return self._shuffled_records(seed).batch(batch_size).map(lambda batch: parse(batch)[0],
                                                                   num_parallel_calls=tf.data.AUTOTUNE)
