"""Datasets: downloads from a loopback server in the real MNIST and CIFAR-10 formats."""

import io
import os
import tarfile
from pathlib import Path

import numpy as np

from conftest import (MNIST_NAMES, assert_one_line_error, bench, cifar_archive, cifar_records, closed_port_url,
                      mnist_files, read_results, run_dir, write_tiny_cifar, write_tiny_mnist)


def cache(workspace, folder):
    return Path(os.environ["BENCH_DATA_DIR"]) / folder


def leftovers(folder):
    """Temporary or partial files left in a cache folder."""
    return [p.name for p in Path(folder).rglob("*") if p.name.startswith(".")]


def train(dataset, *extra, env=None):
    return bench("train", "-m", "SingleLayerCAE", "-d", dataset, "--epochs", "1", "--batch-size", "32", *extra, env=env)


def test_mnist_format_downloads_verifies_and_then_works_offline(workspace, serve):
    files = mnist_files()
    server = serve(files)
    write_tiny_mnist(workspace, [server.url("good")], files)
    first = train("TinyMNIST")
    assert first.exit_code == 0, first
    assert "downloading train-images-idx3-ubyte.gz" in first.stdout
    for name in MNIST_NAMES.values():
        assert (cache(workspace, "tiny-mnist") / name).read_bytes() == files[name]
    assert leftovers(cache(workspace, "tiny-mnist")) == []
    server.stop()  # no network from now on: the cache alone must do
    offline = train("TinyMNIST", "--comment", "offline")
    assert offline.exit_code == 0, offline
    assert "downloading" not in offline.stdout


def test_mnist_splits_follow_dtb(workspace, serve):
    files = mnist_files(n_train=200, n_test=40)
    write_tiny_mnist(workspace, [serve(files).url("good")], files)
    from bench import plugins

    dataset = plugins.find("dataset", "TinyMNIST").load()(cache(workspace, ""), None)
    train_images, _ = dataset.load("train")
    validation_images, _ = dataset.load("validation")
    test_images, test_labels = dataset.load("test")
    assert (len(train_images), len(validation_images), len(test_images)) == (180, 20, 40)
    assert train_images.dtype == np.uint8 and train_images.shape[1:] == (28, 28, 1)
    everything = dataset._read("train_images", 0x803)
    assert np.array_equal(validation_images[..., 0], everything[:20])  # the first images of the file
    assert len(test_labels) == 40


def test_checksum_mismatch_is_deleted_and_next_mirror_used(workspace, serve):
    files = mnist_files()
    server = serve(files)
    write_tiny_mnist(workspace, [server.url("corrupt"), server.url("good")], files)
    result = train("TinyMNIST")
    assert result.exit_code == 0, result
    assert "checksum mismatch" in result.stderr
    assert any(path.startswith("/good/") for path in server.requests)
    assert leftovers(cache(workspace, "tiny-mnist")) == []


def test_interrupted_download_is_never_taken_for_complete(workspace, serve):
    files = mnist_files()
    server = serve(files)
    write_tiny_mnist(workspace, [server.url("truncated")], files)
    result = train("TinyMNIST")
    assert_one_line_error(result, "could not download", "train-images-idx3-ubyte.gz", exit_code=1)
    folder = cache(workspace, "tiny-mnist")
    assert not (folder / MNIST_NAMES["train_images"]).exists() and leftovers(folder) == []
    assert not (workspace / "log").exists()
    # The next attempt, with a mirror that works, falls back to it and succeeds.
    write_tiny_mnist(workspace, [server.url("truncated"), closed_port_url(), server.url("good")], files)
    again = train("TinyMNIST")
    assert again.exit_code == 0, again
    assert "interrupted" in again.stderr


def test_unreachable_download(workspace):
    write_tiny_mnist(workspace, [closed_port_url()], mnist_files())
    result = train("TinyMNIST")
    assert_one_line_error(result, "could not download", "BENCH_MIRRORS", exit_code=1)
    assert not (workspace / "log").exists()


def test_bench_mirrors_are_tried_first(workspace, serve):
    files = mnist_files()
    server = serve(files)
    write_tiny_mnist(workspace, [closed_port_url()], files)
    result = bench("train", "-m", "SingleLayerCAE", "-d", "TinyMNIST", "--epochs", "1",
                   env={"BENCH_MIRRORS": server.url("good")})
    assert result.exit_code == 0, result
    assert all(path.startswith("/good/") for path in server.requests)


def test_corrupt_cached_file_is_replaced_or_reported(workspace, serve):
    files = mnist_files()
    folder = cache(workspace, "tiny-mnist")
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    truncated = files[MNIST_NAMES["train_images"]][:500]
    (folder / MNIST_NAMES["train_images"]).write_bytes(truncated)
    write_tiny_mnist(workspace, [closed_port_url()], files)
    offline = train("TinyMNIST")
    assert_one_line_error(offline, "could not download", exit_code=1)
    assert "does not match its published checksum" in offline.stderr
    server = serve(files)
    write_tiny_mnist(workspace, [server.url("good")], files)
    repaired = train("TinyMNIST")
    assert repaired.exit_code == 0, repaired
    assert (folder / MNIST_NAMES["train_images"]).read_bytes() == files[MNIST_NAMES["train_images"]]


def test_cifar_binary_archive_is_downloaded_and_extracted(workspace, serve):
    archive = cifar_archive(n_per_batch=20, n_test=20)
    server = serve({"cifar-10-binary.tar.gz": archive})
    write_tiny_cifar(workspace, [server.url("good")], archive)
    result = train("TinyCifar")
    assert result.exit_code == 0, result
    folder = cache(workspace, "tiny-cifar") / "cifar-10-batches-bin"
    assert sorted(p.name for p in folder.glob("*.bin"))[0] == "data_batch_1.bin"
    assert not (cache(workspace, "tiny-cifar") / "cifar-10-binary.tar.gz").exists()
    assert leftovers(cache(workspace, "tiny-cifar")) == []
    from bench import plugins

    dataset = plugins.find("dataset", "TinyCifar").load()(cache(workspace, ""), None)
    images, labels = dataset.load("validation")
    assert images.shape == (10, 32, 32, 3) and images.dtype == np.uint8  # 10% of 100
    record = np.frombuffer(cifar_records(20, 5), np.uint8).reshape(20, 3073)[-1]
    assert labels[-1] == record[0]
    assert np.array_equal(images[-1][..., 0].ravel(), record[1:1025])  # red plane, row-major
    assert np.array_equal(images[-1][..., 2].ravel(), record[2049:])


def test_cifar_folder_with_missing_batches_is_used_with_a_warning(workspace):
    folder = cache(workspace, "tiny-cifar") / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "data_batch_1.bin").write_bytes(cifar_records(40, 1))
    (folder / "test_batch.bin").write_bytes(cifar_records(10, 2))
    write_tiny_cifar(workspace, [closed_port_url()], b"never downloaded")
    result = train("TinyCifar")
    assert result.exit_code == 0, result
    assert "lacks data_batch_2.bin, data_batch_3.bin, data_batch_4.bin, data_batch_5.bin" in result.stderr
    run = run_dir("SingleLayerCAE", "_bs=32", dataset="TinyCifar", epochs=1)
    results = read_results(run)
    assert results["status"] == "finished"
    assert "lacks data_batch_2.bin" in (run / "train.log").read_text()  # logged, though said before the run began
    assert sum(results["data"]["images"].values()) == 50  # what the splits really had


def test_truncated_cifar_batch_is_reported(workspace):
    folder = cache(workspace, "tiny-cifar") / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    (folder / "data_batch_1.bin").write_bytes(cifar_records(40, 1)[:-100])
    (folder / "test_batch.bin").write_bytes(cifar_records(10, 2))
    write_tiny_cifar(workspace, [closed_port_url()], b"never downloaded")
    result = train("TinyCifar")
    assert_one_line_error(result, "data_batch_1.bin is truncated or corrupt", exit_code=1)
    assert not (workspace / "log").exists()


def test_archive_with_unsafe_member_is_refused(workspace, serve):
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    archive = evil.getvalue()
    server = serve({"cifar-10-binary.tar.gz": archive})
    write_tiny_cifar(workspace, [server.url("good")], archive)
    result = train("TinyCifar")
    assert_one_line_error(result, "cannot extract", exit_code=1)
    assert not list(Path(os.environ["BENCH_DATA_DIR"]).parent.rglob("escaped.txt"))


def test_a_trickling_mirror_is_left_after_the_time_limit(workspace, serve):
    files = mnist_files()
    write_tiny_mnist(workspace, [serve(files).url("trickle")], files)
    result = train("TinyMNIST", env={"BENCH_DOWNLOAD_TIMEOUT": "2"})
    assert_one_line_error(result, "could not download train-images-idx3-ubyte.gz", "not done after 2 s",
                          "BENCH_DOWNLOAD_TIMEOUT", exit_code=1)
    assert leftovers(cache(workspace, "tiny-mnist")) == []


def test_a_mirror_sending_more_than_the_file_is_left_at_once(workspace, serve):
    files = mnist_files()
    write_tiny_mnist(workspace, [serve(files).url("endless")], files, sizes=True)
    result = train("TinyMNIST")
    size = len(files["train-images-idx3-ubyte.gz"])
    assert_one_line_error(result, "could not download train-images-idx3-ubyte.gz",
                          f"more than the {size:,} bytes expected were sent", exit_code=1)
    assert leftovers(cache(workspace, "tiny-mnist")) == []
