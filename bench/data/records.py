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

from bench import files, schema
from bench.data import splits
from bench.data.input import SPLITS, Input
from bench.errors import BenchUsageError, DataInputError

MANIFEST = "manifest.json"
FORMAT = "bench-tfrecord-1"
IMAGES_PER_SHARD = 10_000
PARSE_BATCH = 256
SHARD_FILES = "*-of-*.tfrecord"  # the names bench gives its shards
_FEATURES = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64)}


def check_out(out, overwrite):
    """Refuse to write shards into a folder that holds a preparation (a manifest, or shards)
    unless `overwrite`; with it, remove that preparation's files (its manifest first)."""
    out = Path(out)
    found = [out / MANIFEST] if (out / MANIFEST).exists() else []
    found += sorted(out.glob(SHARD_FILES)) if out.is_dir() else []
    if found and not overwrite:
        raise BenchUsageError(f"--out {out} already holds a preparation ({found[0].name}, {len(found)} file(s)); "
                              "choose another folder, or replace it with --overwrite")
    for path in found:  # the manifest first: from then on the folder is incomplete
        path.unlink()


def write(dataset, held, out, report, images_per_shard=IMAGES_PER_SHARD):
    """Write every split of a loaded dataset ({split: Split}) as shards under `out` (`check_out`
    has said it may); returns the manifest, written last."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"format": FORMAT, "source": dataset.name, "image_shape": list(dataset.image_shape),
                "dtype": "uint8", "num_classes": int(dataset.num_classes),
                "class_names": list(dataset.class_names), "splits": {}}
    try:
        for split in SPLITS:
            manifest["splits"][split] = _write_split(held[split], split, out, images_per_shard, report)
        files.atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    except BaseException:  # a full disk, Ctrl-C: no shards without their manifest are left behind
        for shard in out.glob(SHARD_FILES):  # (check_out left none from before)
            shard.unlink(missing_ok=True)
        raise
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


SHARD = schema.record({"name": schema.text(), "count": schema.integer(), "bytes": schema.integer(),
                       "sha256": schema.text()})
MANIFEST_SCHEMA = schema.record({
    "format": schema.text((FORMAT,)), "dtype": schema.text(("uint8",)),
    "image_shape": schema.list_of(schema.integer(1)), "num_classes": schema.integer(),
    "class_names": schema.list_of(schema.text()),
    "splits": schema.record({split: schema.record({"count": schema.integer(1), "shards": schema.list_of(SHARD)})
                             for split in SPLITS})})


def read_manifest(folder):
    """The manifest of a prepared folder, checked as data from elsewhere: its schema, shard
    names that are plain names inside the folder, counts that add up, each shard's size,
    and the first record of each holding an image of the stated shape. DataInputError
    names what is wrong (and the shard)."""
    folder = Path(folder)
    where = f"tfrecord:{folder}"
    if not (folder / MANIFEST).is_file():
        raise DataInputError(f"{where}: no {MANIFEST}" + (" (no such folder)" if not folder.is_dir() else "")
                             + "; write it with: bench prepare DATASET --out " + str(folder))
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        MANIFEST_SCHEMA(manifest, "manifest")
    except RecursionError:
        raise DataInputError(f"{where}: {MANIFEST} is nested too deeply; prepare the folder again") from None
    except schema.Invalid as error:
        raise DataInputError(f"{where}: {MANIFEST} is not a {FORMAT} manifest ({error}); prepare the folder "
                             "again") from error
    except ValueError as error:
        raise DataInputError(f"{where}: {MANIFEST} is not valid JSON ({error}); prepare the folder again") from error
    if len(manifest["image_shape"]) != 3:
        raise DataInputError(f"{where}: {MANIFEST}'s image_shape {manifest['image_shape']} is not (height, width, "
                             "channels); prepare the folder again")
    for split in SPLITS:
        _check_shards(folder, where, split, manifest)
    return manifest


def _check_shards(folder, where, split, manifest):
    entry = manifest["splits"][split]
    if sum(shard["count"] for shard in entry["shards"]) != entry["count"]:
        raise DataInputError(f"{where}: {MANIFEST} says the {split} split has {entry['count']:,} images, but its "
                             f"shards' counts add up to {sum(shard['count'] for shard in entry['shards']):,}; "
                             "prepare the folder again")
    for shard in entry["shards"]:
        name = shard["name"]
        if name != Path(name).name or name in ("", ".", "..") or name.startswith("."):
            raise DataInputError(f"{where}: {MANIFEST} names a shard {name!r} outside the folder (shard names must "
                                 "be plain file names in it); prepare the folder again")
        path = folder / name
        size = path.stat().st_size if path.is_file() else None
        if size != shard["bytes"]:
            state = "is missing" if size is None else f"has {size:,} bytes, not {shard['bytes']:,}"
            raise DataInputError(f"{where}: shard {name} {state}; prepare the folder again")
    if entry["shards"]:
        _check_first_record(folder / entry["shards"][0]["name"], where, manifest["image_shape"])


def _check_first_record(path, where, shape):
    """The shard's first record parsed: an image of `shape` and a label (cheap: one record)."""
    try:
        record = next(iter(tf.data.TFRecordDataset(str(path)).take(1)))
        pixels = tf.io.parse_single_example(record, _FEATURES)["image"].numpy()
    except (StopIteration, tf.errors.OpError) as error:
        raise DataInputError(f"{where}: shard {path.name} cannot be read ({_first_line(error)}); prepare the "
                             "folder again") from error
    if len(pixels) != math.prod(shape):
        raise DataInputError(f"{where}: shard {path.name} holds images of {len(pixels):,} bytes, but the manifest's "
                             f"shape {'x'.join(map(str, shape))} needs {math.prod(shape):,}; prepare the folder again")


def _first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


def damaged_shards(paths, counts, image_shape):
    """Each shard of a split read whole (records, checksums, image sizes), against the counts
    the manifest gives: ["<shard>: what is wrong"] (a training that failed reading calls this
    to name the shard)."""
    found = []
    size = math.prod(image_shape)
    for path, count in zip(paths, counts):
        name, read = Path(path).name, 0
        try:
            for record in tf.data.TFRecordDataset(path):
                pixels = tf.io.parse_single_example(record, _FEATURES)["image"]
                if len(pixels.numpy()) != size:
                    found.append(f"{name}: record {read} holds {len(pixels.numpy()):,} bytes of pixels, not {size:,}")
                    break
                read += 1
            else:
                if read != count:
                    found.append(f"{name}: holds {read:,} records, the manifest says {count:,}")
        except tf.errors.OpError as error:
            found.append(f"{name}: {_first_line(error)} after {read:,} records")
    return found


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
        return RecordSplit(paths, entry["count"], self.image_shape, labelled=self.num_classes > 0,
                           counts=[shard["count"] for shard in entry["shards"]])


class RecordSplit(splits.Split):
    """A split of TFRecord shards: the shards in a seeded order, read two at a time, then a bounded shuffle."""

    held = "TFRecord shards, streamed"

    def __init__(self, paths, count, image_shape, labelled, counts=None):
        self.paths, self.count, self.image_shape, self.labelled = list(paths), count, tuple(image_shape), labelled
        self.counts = counts  # each shard's, as the manifest gives them
        self._labels = None

    def undecodable(self):
        """The shards that cannot be read whole as the manifest describes them, each with why."""
        return damaged_shards(self.paths, self.counts or [None] * len(self.paths), self.image_shape)

    @property
    def labels(self):
        if self.labelled and self._labels is None:  # one pass over the labels, when asked for
            pairs = self._pairs(tf.data.TFRecordDataset(self.paths)).map(lambda image, label: label)
            labels = np.fromiter(pairs.as_numpy_iterator(), np.int64)
            if len(labels) != self.count:
                raise DataInputError(f"the shards hold {len(labels):,} records, the manifest says {self.count:,}: "
                                     f"{'; '.join(self.undecodable())}; prepare the folder again")
            self._labels = labels
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
        shape, features = self.image_shape, _FEATURES

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
