"""Runs repeated over seeds, compared with their spread; every number with its provenance."""

import csv
import fcntl
import io
import json
import math
import os
import shutil
import statistics
from pathlib import Path

import pytest
import yaml
from scipy import stats

from conftest import assert_one_line_error, bench, inside, read_results, run_dir, shared_folder, write_plugin


DIGITS = str(run_dir("SingleLayerCAE", epochs=150))  # the name's beginning, no length yet
FOLDERS = [f"{DIGITS}_bs={bs}{seed}_epochs=1" for bs in (16, 32) for seed in ("", "_seed=1")]
TINY_DATASET = '''
    import numpy as np
    from bench import Input

    class Tiny8(Input):
        """64 random 8x8 grey images, unlabelled."""
        image_shape = (8, 8, 1)

        def load(self, split):
            rng = np.random.default_rng(len(split))
            return rng.integers(0, 256, (64, 8, 8, 1)).astype(np.uint8), None
    '''


@pytest.fixture(scope="session")
def swept(tmp_path_factory, worker_id):
    """Runs of `--batch-size 16,32` over seeds 0 and 1, and one run on another dataset, in a
    folder of their own, made once whatever the number of workers (trained here, one after
    another: a sweep's processes are test_sweep.py's and the README's)."""
    folder = shared_folder(tmp_path_factory, worker_id, "swept")
    env = {key: None for key in os.environ if key.startswith("BENCH_") or key == "TF_CONFIG"}
    env["BENCH_DATA_DIR"] = str(folder / "cache")
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "done").exists():
            with inside(folder):
                for batch_size in ("16", "32"):
                    for seed in ("0", "1"):
                        result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1",
                                       "--batch-size", batch_size, "--seed", seed, env=env)
                        assert result.exit_code == 0, result
                write_plugin(folder / "inputs", "Tiny8", TINY_DATASET)
                assert bench("train", "-m", "SingleLayerCAE", "-d", "Tiny8", "--epochs", "1", env=env).exit_code == 0
            (folder / "done").write_text("")
    return folder


@pytest.fixture
def in_swept(swept, monkeypatch):
    """Inside the swept folder."""
    monkeypatch.chdir(swept)


def test_every_seed_and_batch_size_has_a_run_of_its_own(in_swept):
    for folder in FOLDERS:
        config = yaml.safe_load(Path(folder, "config.yaml").read_text())
        assert read_results(folder)["status"] == "finished", folder
        assert config["seed"] == (1 if "seed=1" in folder else 0)
        assert config["batch_size"] == (16 if "bs=16" in folder else 32)


def test_compare_groups_repeats_with_mean_std_interval_and_welch(in_swept):
    document = json.loads(bench("compare", "--group", "--dataset", "Digits", "--format", "json").stdout)
    groups = {group["options"]: group for group in document["groups"]}
    assert set(groups) == {"bs=16", "bs=32"} and all(group["n"] == 2 for group in groups.values())
    samples = {}
    for options, group in groups.items():
        values = [read_results(folder)["best"]["validation"]["error"] for folder in FOLDERS
                  if options in folder]
        samples[options] = values
        summary = group["validation_error"]
        assert summary["mean"] == pytest.approx(statistics.mean(values), rel=1e-12)
        assert summary["std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
        half = stats.t.ppf(0.975, 1) * statistics.stdev(values) / math.sqrt(2)
        assert (summary["ci_low"], summary["ci_high"]) == pytest.approx((summary["mean"] - half, summary["mean"] + half))
        assert sorted(group["paths"]) == sorted(f for f in FOLDERS if options in f)
    [welch] = [d for d in document["differences"] if d["metric"] == "validation_error"]
    assert welch["setting"] == "batch_size" and (welch["a"], welch["b"]) == (16, 32)
    expected = stats.ttest_ind(samples["bs=16"], samples["bs=32"], equal_var=False).pvalue
    assert welch["p_value"] == pytest.approx(expected)

    table = bench("compare", "--dataset", "Digits").stdout  # grouped by default: there are repeats
    assert "± " in table and "Welch's t-test" in table and "batch_size" in table
    rows = list(csv.DictReader(io.StringIO(bench("compare", "--dataset", "Digits", "--format", "csv").stdout)))
    assert len(rows) == 2 and {row["n"] for row in rows} == {"2"}
    assert float(rows[0]["validation_error_mean"]) == pytest.approx(
        groups[rows[0]["options"]]["validation_error"]["mean"])
    markdown = bench("compare", "--group", "--format", "markdown").stdout
    assert "± " in markdown and "- SingleLayerCAE on Digits, batch_size" in markdown
    ungrouped = list(csv.DictReader(io.StringIO(bench("compare", "--no-group", "--format", "csv").stdout)))
    assert len(ungrouped) == 5 and {row["seed"] for row in ungrouped} == {"0", "1"}
    assert bench("compare", "--group", "--plot", "groups.png").exit_code == 0 and Path("groups.png").exists()


def test_best_is_marked_per_dataset(in_swept):
    markdown = bench("compare", "--no-group", "--format", "markdown").stdout
    lines = markdown.splitlines()[2:]
    for dataset in ("Digits", "Tiny8"):
        marked = sum(line.count("**") // 2 for line in lines if f"| {dataset} |" in line)
        assert marked == 5, (dataset, markdown)  # val, test error, test mse, psnr, ssim: one best each


@pytest.mark.unit
def test_repeats_take_their_seeds_from_seed(workspace):
    """(Repeats of another length than a finished run train apart and never group with it: the
    README's order, a 5-epoch run then `--repeats 2` of 2 epochs, in tests/test_readme.py.)"""
    assert_one_line_error(bench("sweep", "--model", "SingleLayerCAE", "--dataset", "Digits", "--seed", "0,1",
                                "--repeats", "2"),
                          "--repeats", exit_code=2)


def test_a_measurement_of_a_replaced_checkpoint_is_marked_stale(workspace, zoo_runs):
    run = workspace / run_dir("SingleLayerCAE")
    shutil.copytree(zoo_runs[1]["SingleLayerCAE"], run)
    evaluated = bench("eval", run, "--noise-factor", "0.3", "--probe")
    assert evaluated.exit_code == 0, evaluated
    assert "best checkpoint (epoch 2, step 20), noisy input (noise 0.3)" in evaluated.stdout  # what was measured
    results = read_results(run)
    probe, noisy = results["probe"], results["evaluations"]["best checkpoint, test, noise 0.3"]
    assert (probe["checkpoint"], probe["epoch"], noisy["split"], noisy["noise_factor"]) == ("best", 2, "test", 0.3)
    assert "best checkpoint (epoch 2, step 20), test, noisy input (noise 0.3)" in (run / "results.txt").read_text()
    assert f"{probe['codes']:.4f} (stale)" not in bench("compare").stdout

    # the 3-epoch run made from it carries its measurements, each with the checkpoint it measured
    assert bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3").exit_code == 0
    assert f"{probe['codes']:.4f} (stale)" not in bench("compare", "--where", "epochs=2").stdout  # as it was
    run = workspace / run_dir("SingleLayerCAE", epochs=3)
    assert read_results(run)["best_epoch"] == 3
    assert f"{probe['codes']:.4f} (stale)" in bench("compare", "--where", "epochs=3").stdout
    assert "STALE: the best checkpoint is now epoch 3" in (run / "results.txt").read_text()
    row = json.loads(bench("compare", "--where", "epochs=3", "--format", "json").stdout)["runs"][0]
    assert row["stale"]["probe_accuracy"] == "the best checkpoint is now epoch 3"
    assert bench("eval", run, "--probe").exit_code == 0
    assert f"{read_results(run)['probe']['codes']:.4f} (stale)" not in bench("compare", "--where", "epochs=3").stdout
