"""Your own images: folders of PNG/JPEG/BMP/GIF files (`--dataset folder:PATH`), a plugin
that streams its own tf.data.Dataset or lists files, and --image-size for any dataset."""

import json
import os
import re
import struct
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from bench.data import folders
from conftest import assert_one_line_error, bench, bench_process, read_results, run_dir, write_plugin, unit_but

FORMATS = ("png", "jpg", "bmp", "gif")


def write_images(folder, count, seed=0, sizes=((20, 24), (22, 24), (24, 20)), mode="RGB"):
    """`count` random images under `folder`, in every format and several sizes; returns their paths."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        height, width = sizes[index % len(sizes)]
        shape = (height, width, 3) if mode == "RGB" else (height, width)
        path = folder / f"{index:03d}.{FORMATS[index % len(FORMATS)]}"
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)
        paths.append(path)
    return paths


def folder_run(workspace, parts="_size=12"):
    """The one run under log/SingleLayerCAE/ (its name starts with folder-<name>-<hash>)."""
    runs = [path for path in (workspace / "log" / "SingleLayerCAE").iterdir() if not path.name.startswith(".")]
    assert len(runs) == 1 and re.sub(r"_epochs=\d+$", "", runs[0].name).endswith(parts), runs
    return runs[0]


@pytest.mark.extras
def test_a_class_folder_of_mixed_formats_and_sizes_trains_and_evaluates_in_another_process(workspace):
    for index, name in enumerate(("cats", "dogs", "owls")):
        write_images(workspace / "pets" / name, 20, seed=index)
    (workspace / "pets" / "notes.txt").write_text("not an image, not an image name: left alone")
    result = bench("train", "-m", "SingleLayerCAE", "-d", "folder:pets", "--image-size", "12", "--epochs", "1")
    assert result.exit_code == 0, result
    assert "44 train, 11 validation, 5 test images" in result.stdout and "3 classes" in result.stdout
    assert "at 12x12x3" in result.stdout
    run = folder_run(workspace)
    assert run.name.startswith("folder-pets-")
    results = read_results(run)
    assert results["data"]["images"] == {"train": 44, "validation": 11, "test": 5}
    listing = (run / "data_files.tsv").read_text().splitlines()
    assert listing[0] == "split\tlabel\tpath" and len(listing) == 61
    assert {line.split("\t")[1] for line in listing[1:]} == {"0", "1", "2"}
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["dataset"] == f"folder:{workspace / 'pets'}" and config["image_size"] == "12"
    assert (run / "reconstructions.png").is_file() and (run / "projector" / "metadata.tsv").is_file()

    # a new process reads the files again and measures the best model as training did
    evaluated = bench_process("eval", run, "--split", "validation", cwd=workspace)
    out, err = evaluated.communicate(timeout=300)
    assert evaluated.returncode == 0, err
    assert "validation, 5 test images" not in out  # the folder's scan line was said when it trained
    again = read_results(run)["evaluations"]["best checkpoint, validation"]
    assert again["error"] == pytest.approx(results["best"]["validation"]["error"], rel=1e-6)

    # the run is tied to its files: one more file and it neither resumes nor evaluates
    write_images(workspace / "pets" / "owls", 1, seed=9)[0].rename(workspace / "pets" / "owls" / "new.png")
    result = bench("train", "-m", "SingleLayerCAE", "-d", "folder:pets", "--image-size", "12", "--epochs", "2")
    assert_one_line_error(result, "files differ from those", "data_files.tsv", "--restart", exit_code=1)
    assert read_results(run)["epochs_done"] == 1


def test_split_folders_are_used_and_a_missing_validation_is_carved_from_train(workspace):
    write_images(workspace / "faces" / "train", 30, mode="L", sizes=((16, 16),))
    write_images(workspace / "faces" / "test", 7, seed=1, mode="L", sizes=((16, 16),))
    result = bench("train", "-m", "SingleLayerCAE", "-d", f"folder:{workspace / 'faces'}", "--epochs", "1")
    assert result.exit_code == 0, result
    assert "28 train, 2 validation, 7 test images" in result.stdout and "unlabelled" in result.stdout
    assert "at 16x16x1" in result.stdout  # grey files give one channel
    run = folder_run(workspace, parts="lr=0.001")
    listing = (run / "data_files.tsv").read_text().splitlines()[1:]
    assert sum(line.startswith("test\t-1\ttest/") for line in listing) == 7
    assert sum(line.startswith("validation\t-1\ttrain/") for line in listing) == 2


def test_files_that_are_not_images_are_named_and_refused_or_skipped(workspace):
    write_images(workspace / "shots", 12)
    (workspace / "shots" / "broken.png").write_bytes(b"")
    (workspace / "shots" / "text.jpg").write_text("hello")
    args = ("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--image-size", "8", "--epochs", "1")
    result = bench(*args)
    assert_one_line_error(result, "2 files cannot be used as images", "broken.png (empty)", "text.jpg", "--on-bad-file skip",
                          exit_code=2)
    assert not (workspace / "log").exists()
    result = bench(*args, "--on-bad-file", "skip")
    assert result.exit_code == 0, result
    assert "broken.png" in result.stderr and "8 train, 1 validation, 3 test images" in result.stdout


def test_a_damaged_image_behind_a_good_header_is_named_skipped_or_removed(workspace):
    paths = write_images(workspace / "shots", 30, sizes=((16, 16),))
    damaged = paths[4]  # a PNG: its first bytes are right, its data is cut short
    damaged.write_bytes(damaged.read_bytes()[:60])
    args = ("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--epochs", "1")
    result = bench(*args)
    assert_one_line_error(result, "1 image files cannot be decoded", str(damaged), "Remove or replace them",
                          "--on-bad-file skip", exit_code=2)
    skipped = bench(*args, "--on-bad-file", "skip")  # decoded once before training: left out, named
    assert skipped.exit_code == 0, skipped
    assert "left out 1 image file(s) that cannot be decoded" in skipped.stderr and str(damaged) in skipped.stderr
    listing = (next((workspace / "log" / "SingleLayerCAE").glob("*_bad_files=skip_epochs=1")) / "data_files.tsv").read_text()
    assert damaged.name not in listing and listing.count("\n") == 30
    damaged.unlink()  # the advice: remove it and run the same command
    again = bench(*args)
    assert again.exit_code == 0, again
    assert "the image folder changed in splits not read yet" in again.stdout


def png_header(path, width, height):
    """A PNG file whose header says width x height (and whose data is a few bytes): what a
    decompression bomb looks like to a reader of headers."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def test_an_image_too_large_to_decode_is_refused_from_its_header(workspace):
    write_images(workspace / "shots", 12, sizes=((16, 16),))
    png_header(workspace / "shots" / "000_bomb.png", 10_000, 10_000)
    args = ("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--epochs", "1")
    assert_one_line_error(bench(*args), "000_bomb.png (10000x10000 pixels, more than --max-image-pixels 40,000,000",
                          "--on-bad-file skip", exit_code=2)
    assert not (workspace / "log").exists()
    assert_one_line_error(bench(*args, "--max-image-pixels", "100"), "16x16 pixels, more than --max-image-pixels 100",
                          exit_code=2)
    skipped = bench(*args, "--on-bad-file", "skip")
    assert skipped.exit_code == 0 and "000_bomb.png (10000x10000 pixels" in skipped.stderr, skipped


def gif_of_frames(path, side, frames):
    """An animated GIF of `frames` frames (alternately black and white) on a side x side screen."""
    from PIL import Image

    images = [Image.new("L", (side, side), 255 * (k % 2)) for k in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=10, optimize=False)


def test_a_gif_is_limited_by_its_frames_times_its_pixels(workspace):
    """A GIF decodes to every frame at the screen's size: a small file of many frames is refused
    before decoding, like a large image (here at a limit of 100,000 pixels)."""
    write_images(workspace / "shots", 12, sizes=((16, 16),))
    gif_of_frames(workspace / "shots" / "000_frames.gif", 100, 30)
    args = ("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--epochs", "1", "--max-image-pixels", "100000")
    assert_one_line_error(bench(*args), "000_frames.gif (100x100 pixels x 30 frames, more than "
                          "--max-image-pixels 100,000", exit_code=2)
    skipped = bench(*args, "--on-bad-file", "skip")
    assert skipped.exit_code == 0 and "000_frames.gif (100x100 pixels x 30 frames" in skipped.stderr, skipped


def test_a_file_name_that_is_not_utf8_is_trained_and_listed_as_its_bytes(workspace):
    paths = write_images(workspace / "shots", 12, sizes=((16, 16),))
    odd = os.fsencode(str(paths[0].parent)) + b"/caf\xe9.png"
    os.rename(paths[0], odd)
    result = bench("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--epochs", "1")
    assert result.exit_code == 0, result
    assert b"caf\xe9.png" in (folder_run(workspace, "lr=0.001") / "data_files.tsv").read_bytes()
    os.truncate(odd, 60)  # damaged, it is named with its odd byte shown
    assert_one_line_error(bench("train", "-m", "SingleLayerCAE", "-d", "folder:shots", "--epochs", "1",
                                "--comment", "again"), "caf\\xe9.png", exit_code=2)


@pytest.mark.unit
def test_adding_or_removing_a_file_moves_no_other_between_splits():
    def where(paths):
        listing = folders._split(paths, []).splits
        return {path: split for split, entries in listing.items() for path, _ in entries}

    paths = [Path(f"{name}/{index:03d}.png") for name in ("cats", "dogs") for index in range(150)]
    before = where(paths)
    after = where(paths[:57] + paths[58:] + [Path("cats/new.png")])
    assert all(after[path] == split for path, split in before.items() if path in after)
    assert 15 <= list(before.values()).count("validation") <= 45 and 15 <= list(before.values()).count("test") <= 45
    tiny = where([Path(f"{index}.png") for index in range(3)])  # each split gets a file, however few
    assert sorted(tiny.values()) == ["test", "train", "validation"]


@pytest.mark.parametrize("make, dataset, fragments", unit_but([
    (lambda ws: None, "folder:nowhere", ["folder:", "nowhere: no such folder"]),
    (lambda ws: (ws / "empty").mkdir(), "folder:empty", ["holds no PNG, JPEG, BMP or GIF images"]),
    (lambda ws: (ws / "afile").write_text("x"), "folder:afile", ["is a file, not a folder of images"]),
    (lambda ws: write_images(ws / "two", 2), "folder:two", ["2 images cannot be split"]),
    (lambda ws: None, "web:http://example.com", ["unknown dataset prefix 'web:'", "folder:"]),
    (lambda ws: None, "folder:", ["names no folder"]),
], 0, 1, 2, 3))
def test_bad_folders_are_one_line_and_exit_code_2(workspace, make, dataset, fragments):
    make(workspace)
    result = bench("train", "-m", "SingleLayerCAE", "-d", dataset, "--epochs", "1")
    assert_one_line_error(result, *fragments, exit_code=2)
    assert not (workspace / "log").exists()


@pytest.mark.parametrize("args, fragments", unit_but([
    (("--image-size", "12x"), ["--image-size must be H or HxW"]),
    (("--image-size", "0"), ["--image-size must be H or HxW"]),
    (("--channels", "2"), ["--channels must be 1 or 3"]),
    (("--channels", "3"), ["Digits has 1 channels", "image folders only"]),
], 3))
def test_bad_image_options_are_one_line_and_exit_code_2(workspace, args, fragments):
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", *args)
    assert_one_line_error(result, *fragments, exit_code=2)
    assert not (workspace / "log").exists()


@pytest.mark.extras
def test_image_size_resizes_an_in_memory_dataset(workspace):
    result = bench("train", "-m", "FullyConnectedAE", "-d", "Digits", "--epochs", "1", "--image-size", "16x12")
    assert result.exit_code == 0, result
    run = workspace / run_dir("FullyConnectedAE", "_size=16x12", epochs=1)
    weights = json.loads((run / "model.json").read_text())["weights"]
    assert weights["hidden/0/kernel"][0] == weights["output_layer/kernel"][1] == 16 * 12  # Digits are 8x8
    with Image.open(run / "reconstructions.png") as grid:
        assert grid.size[0] > 0


STREAMS = '''
    import numpy as np
    import tensorflow as tf
    from bench import ImageFiles, Input

    def digits(split):
        from sklearn.datasets import load_digits
        images = (load_digits().images * 255 / 16).round().astype(np.uint8)[..., None]
        labels = load_digits().target
        part = {"train": slice(0, 300), "validation": slice(300, 360), "test": slice(360, 420)}[split]
        return images[part], labels[part]

    class Arrays(Input):
        """The first 420 digits as arrays."""
        image_shape = (8, 8, 1)
        num_classes = 10

        def load(self, split):
            return digits(split)

    class Streamed(Input):
        """The same digits: train as a tf.data.Dataset, validation as PNG files, test as raw
        files of 64 bytes with a decode function of its own."""
        image_shape = (8, 8, 1)
        num_classes = 10

        def load(self, split):
            images, labels = digits(split)
            if split == "train":
                return tf.data.Dataset.from_tensor_slices((images, labels))
            folder = self.data_dir / "streamed" / split
            folder.mkdir(parents=True, exist_ok=True)
            raw = split == "test"
            paths = [folder / f"{index}.{'raw' if raw else 'png'}" for index in range(len(images))]
            for path, image in zip(paths, images):
                path.write_bytes(image.tobytes()) if raw else tf.io.write_file(str(path), tf.io.encode_png(image))
            if raw:
                return ImageFiles(paths, labels, decode=lambda data: tf.reshape(tf.io.decode_raw(data, tf.uint8),
                                                                                 (8, 8, 1)))
            return ImageFiles(paths, labels)
'''


def test_a_streaming_plugin_trains_exactly_as_its_arrays_do(workspace):
    for name in ("Arrays", "Streamed"):  # each file holds both classes; its name picks one
        write_plugin(workspace / "inputs", name, STREAMS)
    histories = {}
    for name in ("Arrays", "Streamed"):
        result = bench("train", "-m", "SingleLayerCAE", "-d", name, "--epochs", "2", "--batch-size", "64")
        assert result.exit_code == 0, result
        results = read_results(workspace / run_dir("SingleLayerCAE", "_bs=64", dataset=name))
        histories[name] = [(entry["train_error"], entry["validation_error"]) for entry in results["history"]]
        histories[name].append((results["best"]["test"]["error"], results["best"]["validation"]["error"]))
        assert results["data"]["images"] == {"train": 300, "validation": 60, "test": 60}
    assert np.allclose(histories["Streamed"], histories["Arrays"], rtol=1e-6, atol=0)


def test_a_stream_of_unknown_length_is_one_line(workspace):
    write_plugin(workspace / "inputs", "Endless", '''
        import tensorflow as tf
        from bench import Input

        class Endless(Input):
            """Zeros, filtered: TensorFlow cannot know how many."""
            image_shape = (8, 8, 1)

            def load(self, split):
                return tf.data.Dataset.from_tensors(tf.zeros((8, 8, 1), tf.uint8)).repeat(5).filter(lambda x: True)
    ''')
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Endless", "--epochs", "1")
    assert_one_line_error(result, "length is unknown", "assert_cardinality")


def test_inspect_shows_a_dataset_and_writes_its_samples(workspace):
    for index, name in enumerate(("cats", "dogs")):
        write_images(workspace / "pets" / name, 10, seed=index)
    result = bench("inspect", "-d", "folder:pets", "--image-size", "12", "--samples", "pets.png")
    assert result.exit_code == 0, result
    assert "images of 12x12x3" in result.stdout and "2 classes: cats, dogs" in result.stdout
    assert "image files, decoded as read" in result.stdout and "15" in result.stdout
    with Image.open(workspace / "pets.png") as grid:
        assert grid.format == "PNG"
    assert not (workspace / "log").exists()
    result = bench("inspect", "-m", "ConvAE", "-d", "folder:pets")  # the shape comes from the files
    assert result.exit_code == 0 and "images (20, 24, 3)" in result.stdout, result


@pytest.mark.unit
def test_list_datasets_shows_the_prefixes(workspace):
    result = bench("list", "datasets")
    assert result.exit_code == 0
    assert "folder:" in result.stdout and "tfrecord:" in result.stdout and "folder:~/pictures/faces" in result.stdout


def test_augmentations_are_reproducible_and_change_training_only(workspace):
    def history(*extra, name="", comment=""):
        result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", *extra)
        assert result.exit_code == 0, result
        return read_results(f"{workspace / run_dir('SingleLayerCAE', name, epochs=1)}{comment}")["history"][0]

    plain = history()
    augmented = history("--augment", "flip,crop", name="_aug=flip,crop")
    again = history("--augment", "flip,crop", "--comment", "again", name="_aug=flip,crop", comment="_again")
    assert augmented["train_error"] != plain["train_error"]
    assert again["train_error"] == augmented["train_error"] and again["validation_error"] == augmented["validation_error"]
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--augment", "flip,spin")
    assert_one_line_error(result, "unknown --augment spin", "flip, crop", exit_code=2)


def test_a_cached_folder_trains_to_the_same_numbers_and_leaves_no_cache_behind(workspace, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "scratch"))  # where --cache disk keeps its files
    (tmp_path / "scratch").mkdir()
    for index, name in enumerate(("cats", "dogs")):
        write_images(workspace / "pets" / name, 20, seed=index)
    histories = {}
    for cache in ("none", "memory", "disk"):
        result = bench("train", "-m", "SingleLayerCAE", "-d", "folder:pets", "--image-size", "12", "--epochs", "2",
                       "--cache", cache, "--comment", cache)
        assert result.exit_code == 0, result
        run = next((workspace / "log" / "SingleLayerCAE").glob(f"*_{cache}"))
        histories[cache] = [(entry["train_error"], entry["validation_error"]) for entry in read_results(run)["history"]]
    assert histories["memory"] == histories["none"] == histories["disk"]
    assert list((tmp_path / "scratch").glob("bench-cache-*")) == []  # (TensorFlow leaves its own files there)
