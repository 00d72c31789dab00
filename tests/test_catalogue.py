"""The TensorFlow Datasets catalogue (`--dataset tfds:NAME`): a tiny TFDS dataset built and
prepared offline here, trained on by a bench process; what is missing is one line."""

import sys

import numpy as np
import pytest

from conftest import assert_one_line_error, bench, bench_process, read_results

def bench_tiny(tfds):
    """A TFDS builder: 40 training and 10 test images of 8x8x1 in two classes; no validation
    split (defined when used: importing TensorFlow Datasets imports TensorFlow)."""

    class BenchTiny(tfds.core.GeneratorBasedBuilder):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(8, 8, 1)),
                                                    "label": tfds.features.ClassLabel(names=["even", "odd"])})
            return tfds.core.DatasetInfo(builder=self, features=features)

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(40, 0), "test": self._generate_examples(10, 1)}

        def _generate_examples(self, count, seed):
            rng = np.random.default_rng(seed)
            for index in range(count):
                yield index, {"image": rng.integers(0, 256, (8, 8, 1), dtype=np.uint8), "label": index % 2}

    return BenchTiny  # TFDS names the dataset after the class: bench_tiny


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A data folder holding bench_tiny, prepared (no download: its examples are generated)."""
    tfds = pytest.importorskip("tensorflow_datasets")  # the [tfds] extra; CI installs it
    folder = tmp_path_factory.mktemp("tfds")
    bench_tiny(tfds)(data_dir=str(folder)).download_and_prepare()
    return folder


def test_a_prepared_tfds_dataset_trains_with_its_validation_carved_from_train(workspace, prepared):
    process = bench_process("train", "-m", "SingleLayerCAE", "-d", "tfds:bench_tiny", "--data-dir", prepared,
                            "--epochs", "2", cwd=workspace)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    assert "no validation split: the last tenth of its train split" in out
    results = read_results(workspace / "log" / "SingleLayerCAE" / "tfds-bench-tiny_Adam_lr=0.001_epochs=2")
    assert results["status"] == "finished" and results["data"]["images"] == {"train": 36, "validation": 4, "test": 10}
    assert "best" in results and results["best"]["test"]["error"] > 0


@pytest.mark.parametrize("dataset, fragments", [
    ("tfds:no_such_dataset", ["TensorFlow Datasets has no dataset 'no_such_dataset'", "catalog"]),
    ("tfds:mnist", ["tfds:mnist is not prepared in", "tfds build mnist --data_dir"]),
])
def test_a_missing_tfds_dataset_is_one_line(workspace, monkeypatch, dataset, fragments):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(workspace / "tfds-home"))  # TFDS's own folder: empty too
    result = bench("train", "-m", "SingleLayerCAE", "-d", dataset, "--data-dir", workspace / "empty", "--epochs", "1")
    assert_one_line_error(result, *fragments, exit_code=2)
    assert not (workspace / "log").exists()


def test_without_tensorflow_datasets_the_line_says_what_to_install(workspace, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)  # `import tensorflow_datasets` fails
    result = bench("train", "-m", "SingleLayerCAE", "-d", "tfds:mnist")
    assert_one_line_error(result, "needs TensorFlow Datasets", '".[tfds]"', exit_code=2)
