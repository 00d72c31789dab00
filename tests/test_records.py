"""TFRecord shards: `bench prepare` writes any dataset with a manifest, `--dataset
tfrecord:DIR` trains from them, and damaged shards are named."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import assert_one_line_error, bench, bench_process, read_results, unit_but


@pytest.fixture(scope="module")
def prepared_digits(tmp_path_factory):
    """Digits written as shards of 500 images by a `bench prepare` process, once for this file."""
    folder = tmp_path_factory.mktemp("prepared")
    process = bench_process("prepare", "Digits", "--out", "shards", "--images-per-shard", "500", cwd=folder,
                            env={"BENCH_DATA_DIR": str(folder / "cache")})
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "1,257 train, 180 validation, 360 test images of 8x8x1" in out
    return folder / "shards"


@pytest.fixture
def digits_shards(workspace, prepared_digits):
    """A copy of the shards in the workspace, as `shards/`."""
    return Path(shutil.copytree(prepared_digits, workspace / "shards"))


@pytest.mark.extras
def test_prepared_shards_hold_the_same_images_and_labels_and_train(workspace, digits_shards):
    from bench.data import datasets, sources
    from bench.console import Reporter

    manifest = json.loads((digits_shards / "manifest.json").read_text())
    assert [shard["count"] for shard in manifest["splits"]["train"]["shards"]] == [500, 500, 257]
    assert manifest["image_shape"] == [8, 8, 1] and manifest["num_classes"] == 10
    original = datasets.load_data(sources.find_dataset("Digits"), workspace / "cache", Reporter())[1]
    shards = datasets.load_data(sources.find_dataset(f"tfrecord:{digits_shards}"), workspace, Reporter())[1]
    for split in ("train", "validation", "test"):
        images, labels = shards[split].first(len(original[split]))
        assert np.array_equal(images, original[split].array) and np.array_equal(labels, original[split].labels)
        assert np.array_equal(shards[split].labels, original[split].labels)
    shuffled = np.stack(list(shards["train"].shuffled(7).as_numpy_iterator()))
    assert sorted(map(bytes, shuffled)) == sorted(map(bytes, original["train"].array))  # every image, once
    batched = np.concatenate(list(shards["train"].shuffled_batches(7, 100).as_numpy_iterator()))
    assert np.array_equal(batched, shuffled)  # training's batches, parsed a batch at a time: the same order

    result = bench("train", "-m", "SingleLayerCAE", "-d", "tfrecord:shards", "--epochs", "1")
    assert result.exit_code == 0, result
    run = next((workspace / "log" / "SingleLayerCAE").glob("tfrecord-shards-*"))
    assert read_results(run)["data"]["images"] == {"train": 1257, "validation": 180, "test": 360}
    assert (run / "projector" / "metadata.tsv").read_text().count("\n") == 361


def test_damaged_shards_are_named(workspace, digits_shards):
    shard = digits_shards / "train-00001-of-00003.tfrecord"
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF  # the same size: only the checksums see it
    shard.write_bytes(bytes(data))
    result = bench("prepare", "--verify", "tfrecord:shards")
    assert_one_line_error(result, "1 shards differ", "train-00001-of-00003.tfrecord", exit_code=1)

    shard.write_bytes(bytes(data[:-10]))
    result = bench("train", "-m", "SingleLayerCAE", "-d", "tfrecord:shards", "--epochs", "1")
    assert_one_line_error(result, "shard train-00001-of-00003.tfrecord has", "prepare the folder again", exit_code=2)
    assert not (workspace / "log").exists()


def test_a_flipped_byte_is_named_with_its_shard_when_it_is_read(workspace, digits_shards):
    shard = digits_shards / "train-00001-of-00003.tfrecord"
    data = bytearray(shard.read_bytes())
    data[1000] ^= 0xFF
    shard.write_bytes(bytes(data))
    result = bench("train", "-m", "SingleLayerCAE", "-d", "tfrecord:shards", "--epochs", "1")
    assert_one_line_error(result, "1 TFRecord shard(s) cannot be read", "train-00001-of-00003.tfrecord",
                          "DataLossError", "prepare the folder again", exit_code=2)
    assert read_results(next((workspace / "log" / "SingleLayerCAE").glob("tfrecord-*")))["status"] == "interrupted"


def edit_manifest(shards, change):
    manifest = json.loads((shards / "manifest.json").read_text())
    change(manifest)
    (shards / "manifest.json").write_text(json.dumps(manifest))


def _recount(manifest, count):
    manifest["splits"]["train"]["shards"][2]["count"] = count
    manifest["splits"]["train"]["count"] = 1000 + count


MANIFEST_DAMAGES = {
    "an absolute shard name": (lambda m: m["splits"]["test"]["shards"][0].update(name="/etc/passwd"),
                               ["names a shard '/etc/passwd' outside the folder"]),
    "a shard name with ..": (lambda m: m["splits"]["test"]["shards"][0].update(name="../x.tfrecord"),
                             ["names a shard '../x.tfrecord' outside the folder"]),
    "counts that do not add up": (lambda m: m["splits"]["train"].update(count=5),
                                  ["says the train split has 5 images", "add up to 1,257"]),
    "another image shape": (lambda m: m.update(image_shape=[4, 4, 1]),
                            ["shard train-00000-of-00003.tfrecord holds images of 64 bytes", "4x4x1 needs 16"]),
    "a count the shard does not hold": (lambda m: _recount(m, 300),
                                        ["train-00002-of-00003.tfrecord: holds 257 records, the manifest says 300"]),
    "a manifest of another kind": (lambda m: m.update(splits=[]), ["not a bench-tfrecord-1 manifest", "splits"]),
}


@pytest.mark.parametrize("damage", MANIFEST_DAMAGES)
def test_a_manifest_is_data_checked_before_it_is_trusted(workspace, digits_shards, damage):
    change, fragments = MANIFEST_DAMAGES[damage]
    edit_manifest(digits_shards, change)
    result = bench("train", "-m", "SingleLayerCAE", "-d", "tfrecord:shards", "--epochs", "1")
    assert_one_line_error(result, *fragments, exit_code=2)


def test_prepare_does_not_write_over_a_preparation_unless_asked(workspace, digits_shards):
    before = (digits_shards / "manifest.json").read_text()
    result = bench("prepare", "Digits", "--out", "shards", "--images-per-shard", "2000")
    assert_one_line_error(result, "--out shards already holds a preparation", "--overwrite", exit_code=2)
    assert (digits_shards / "manifest.json").read_text() == before
    assert bench("prepare", "Digits", "--out", "shards", "--images-per-shard", "2000", "--overwrite").exit_code == 0
    assert sorted(path.name for path in digits_shards.glob("*.tfrecord")) == [
        "test-00000-of-00001.tfrecord", "train-00000-of-00001.tfrecord", "validation-00000-of-00001.tfrecord"]


@pytest.mark.parametrize("args, fragments", unit_but([
    (("train", "-m", "SingleLayerCAE", "-d", "tfrecord:nowhere"), ["no manifest.json (no such folder)", "bench prepare"]),
    (("prepare", "Digits"), ["needs --out DIR"]),
    (("prepare", "--verify", "Digits"), ["give tfrecord:DIR"]),
    (("prepare", "folder:nowhere", "--out", "x"), ["no such folder"]),
], 0, 3))  # a dataset's own errors come once TensorFlow loads it
def test_bad_prepare_and_tfrecord_input_is_one_line(workspace, args, fragments):
    assert_one_line_error(bench(*args), *fragments, exit_code=2)
    assert not (workspace / "log").exists() and not (workspace / "x").exists()
