"""Using what a run trained: bench export (loaded by a process without bench), bench encode,
bench sample and interpolate, anomaly scores (--classes, eval --anomaly) and few-label probes."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import assert_one_line_error, bench, bench_process, files_of, read_results, readme_command, run_dir

# A process that cannot import bench: it loads the exports of each folder with TensorFlow
# alone and checks them against the codes and reconstructions bench encode wrote there.
WITHOUT_BENCH = r"""
import json, os, sys
sys.modules["bench"] = None  # any import of bench now fails
import numpy as np
import tensorflow as tf

gaps = {}
for folder in sys.argv[1:]:
    written = np.load(f"{folder}/codes.npz")
    pixels = np.stack([tf.io.decode_png(tf.io.read_file(str(path))).numpy() for path in written["files"]])

    def compare(name, got, want):
        gaps[f"{os.path.basename(folder)}: {name}"] = float(np.max(np.abs(np.asarray(got, np.float64) - want)))

    saved = tf.saved_model.load(f"{folder}/autoencoder/savedmodel")
    description = json.load(open(f"{folder}/autoencoder/export.json"))
    assert description["signatures"]["serving_default"]["inputs"]["pixels"]["dtype"] == "uint8"
    outputs = saved.signatures["serving_default"](pixels=tf.constant(pixels))
    compare("savedmodel code", outputs["code"], written["codes"])
    compare("savedmodel reconstruction", outputs["reconstruction"], written["reconstructions"])
    scaled = saved.signatures["from_minus_one_to_one"](images=tf.constant(pixels / 127.5 - 1.0, tf.float32))
    compare("savedmodel [-1, 1] reconstruction", scaled["reconstruction"], written["reconstructions"])
    decoder = tf.saved_model.load(f"{folder}/decoder/savedmodel").signatures["serving_default"]
    compare("decoder reconstruction", decoder(code=tf.constant(written["codes"]))["reconstruction"],
            written["reconstructions"])
    if os.path.isdir(f"{folder}/encoder"):
        encoder = tf.saved_model.load(f"{folder}/encoder/savedmodel").signatures["serving_default"]
        compare("encoder code", encoder(pixels=tf.constant(pixels))["code"], written["codes"])
    if os.path.isdir(f"{folder}/tflite"):
        runner = tf.lite.Interpreter(model_path=f"{folder}/tflite/model.tflite").get_signature_runner("serving_default")
        lite = runner(pixels=pixels)
        compare("tflite code", lite["code"], written["codes"])
        compare("tflite reconstruction", lite["reconstruction"], written["reconstructions"])
print(json.dumps(gaps))
"""


def write_pngs(folder, count, shape, seed=0):
    """`count` random PNG images of (height, width, channels) `shape`; their paths, in order."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, shape, dtype=np.uint8)
        path = folder / f"{index:02d}.png"
        Image.fromarray(pixels[..., 0] if shape[-1] == 1 else pixels).save(path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """A ConvAE trained one epoch on a folder of 32x32x3 PNG images in two classes: (workspace, run)."""
    root = tmp_path_factory.mktemp("colour")
    for label in ("a", "b"):
        write_pngs(root / "images" / label, 20, (32, 32, 3), seed=len(label) + ord(label))
    env = {"BENCH_DATA_DIR": str(root / "cache")}
    result = bench("train", "-m", "ConvAE", "-d", f"folder:{root / 'images'}", "--epochs", "1",
                   "--log-dir", root / "log", env=env)
    assert result.exit_code == 0, result
    (run,) = (path for path in (root / "log" / "ConvAE").iterdir() if not path.name.startswith("."))
    return run, env


def test_an_export_reproduces_bench_s_codes_in_a_process_without_bench(zoo_runs, colour_run, tmp_path):
    """ConvAE on Digits (8x8x1: every part and format) and on a 32x32x3 folder (the SavedModels)."""
    _, runs, zoo_env = zoo_runs
    cases = {"digits": (runs["ConvAE"], zoo_env, (8, 8, 1), ["encoder", "decoder", "tflite"]),
             "colour": (*colour_run, (32, 32, 3), ["decoder"])}
    for name, (run, env, shape, parts) in cases.items():
        folder = tmp_path / name
        write_pngs(folder / "images", 12, shape)
        result = bench("encode", run, "--images", folder / "images", "--reconstruct", "--out", folder / "codes.npz",
                       env=env)
        assert result.exit_code == 0, result
        assert "codes, files, reconstructions" in result.stdout, result
        written = np.load(folder / "codes.npz")
        assert written["codes"].shape[0] == written["reconstructions"].shape[0] == 12
        assert written["reconstructions"].shape[1:] == shape
        assert sorted(p.name for p in (folder / "codes_reconstructions").iterdir())[:2] == ["00000_00.png",
                                                                                            "00001_01.png"]
        for part in ["autoencoder"] + parts:
            options = ("--format", "tflite") if part == "tflite" else ("--part", part)
            result = bench("export", run, *options, "--out", folder / part, env=env)
            assert result.exit_code == 0, result
            assert (folder / part / "README.md").read_text().count("bench is not needed") == 1
            assert json.loads((folder / part / "export.json").read_text())["epoch"] == read_results(run)["best_epoch"]
    checked = subprocess.run([sys.executable, "-c", WITHOUT_BENCH, *(str(tmp_path / name) for name in cases)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr[-3000:]
    gaps = json.loads(checked.stdout.strip().splitlines()[-1])
    assert len(gaps) == 7 + 4 and max(gaps.values()) <= 1e-5, gaps


NATIVE_LOG = ("absl::InitializeLog", "cudart_stub", "cuInit", "cpu_feature_guard", "rebuild TensorFlow")


def test_export_and_prepare_start_tensorflow_without_its_own_log_lines(zoo_runs, tmp_path):
    """TensorFlow's C++ start-up lines (CUDA stubs, CPU features) stay out of a command's output
    unless --verbose: export as TFLite, the chattiest, and prepare, each a process of its own."""
    _, runs, zoo_env = zoo_runs
    write_pngs(tmp_path / "images", 6, (8, 8, 1))
    for args in (("export", runs["ConvAE"], "--format", "tflite", "--out", tmp_path / "tflite"),
                 ("prepare", f"folder:{tmp_path / 'images'}", "--out", tmp_path / "shards")):
        process = bench_process(*args, env={key: value for key, value in zoo_env.items() if value is not None})
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert not any(fragment in stderr for fragment in NATIVE_LOG), stderr


def test_export_and_encode_refuse_what_they_cannot_do(zoo_runs, tmp_path):
    _, runs, env = zoo_runs
    assert_one_line_error(bench("export", runs["ConvAE"], "--format", "keras", "--out", tmp_path / "k", env=env),
                          "'keras' is not one of 'savedmodel', 'tflite'", exit_code=2)  # only what works is offered
    tiny = ("--model-file", runs["TinyCAE"] / "model_source" / "TinyCAE.py")  # a workspace plugin: its copy
    assert_one_line_error(bench("export", runs["TinyCAE"], *tiny, "--part", "decoder", "--out", tmp_path / "d",
                                env=env),
                          "TinyCAE defines no decode(code)", "--part autoencoder", exit_code=2)
    assert_one_line_error(bench("eval", runs["ConvAE"], "--anomaly", env=env),
                          "--anomaly needs a run trained on some classes", "--classes", exit_code=2)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    assert_one_line_error(bench("export", runs["ConvAE"], "--out", tmp_path / "taken", env=env),
                          "already exists", exit_code=2)
    assert (tmp_path / "taken" / "file").read_text() == "mine"
    (tmp_path / "notes.txt").write_text("not an image")
    assert_one_line_error(bench("encode", runs["ConvAE"], "--images", tmp_path / "notes.txt", "--out",
                                tmp_path / "c.npz", env=env), "notes.txt", "cannot be used as images", exit_code=2)
    assert not (tmp_path / "c.npz").exists()


def test_outputs_are_replaced_only_when_asked_and_a_killed_export_leaves_nothing(zoo_runs, tmp_path):
    _, runs, env = zoo_runs
    (tmp_path / "c.npz").write_text("mine")
    encode = ("encode", runs["ConvAE"], "--limit", "4", "--out", tmp_path / "c.npz")
    assert_one_line_error(bench(*encode, env=env), "c.npz already exists", "--overwrite", exit_code=2)
    assert (tmp_path / "c.npz").read_text() == "mine"
    assert bench(*encode, "--overwrite", env=env).exit_code == 0
    assert np.load(tmp_path / "c.npz")["codes"].shape[0] == 4
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("mine")
    (tmp_path / ".taken.999999999.x1y2.new").mkdir()  # what an export killed by process 999999999 left
    result = bench("export", runs["ConvAE"], "--out", tmp_path / "taken", "--overwrite", env=env)
    assert result.exit_code == 0, result
    assert (tmp_path / "taken" / "export.json").is_file() and not (tmp_path / "taken" / "file").exists()
    assert not [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_encode_writes_a_split_s_codes_and_labels(zoo_runs, tmp_path):
    _, runs, env = zoo_runs
    result = bench("encode", runs["VAE"], "--split", "validation", "--out", tmp_path / "v.npz", env=env)
    assert result.exit_code == 0, result
    written = np.load(tmp_path / "v.npz")
    count = read_results(runs["VAE"])["data"]["images"]["validation"]
    assert written["codes"].shape == (count, 16)  # VAE's latent_dim
    assert written["labels"].shape == (count,) and set(written["labels"]) == set(range(10))
    assert sorted(written.files) == ["codes", "labels"]


def test_sample_and_interpolate_write_grids_of_the_stated_size(zoo_runs, tmp_path):
    _, runs, env = zoo_runs
    result = bench("sample", runs["VAE"], "--n", "10", "--out", tmp_path / "samples.png", env=env)
    assert result.exit_code == 0, result
    # 8x8 images, 1-pixel gaps: a 35x26 grid, enlarged 10 times (nearest) for its shorter side to reach 256
    assert "3 x 4 grid of 8x8 images (350x260 pixels)" in result.stdout, result
    assert Image.open(tmp_path / "samples.png").size == (10 * (4 * 9 - 1), 10 * (3 * 9 - 1))
    result = bench("interpolate", runs["ConvAE"], "--pairs", "3", "--steps", "5", "--out", tmp_path / "i.png",
                   env=env)
    assert result.exit_code == 0, result
    assert "3 x 5 grid of 8x8 images (440x260 pixels)" in result.stdout, result
    assert Image.open(tmp_path / "i.png").size == (10 * (5 * 9 - 1), 10 * (3 * 9 - 1))
    assert_one_line_error(bench("sample", runs["ConvAE"], "--out", tmp_path / "s.png", env=env),
                          "ConvAE defines no prior()", "bench interpolate", exit_code=2)
    assert_one_line_error(bench("interpolate", runs["TinyCAE"], "--model-file",
                                runs["TinyCAE"] / "model_source" / "TinyCAE.py", "--out", tmp_path / "t.png", env=env),
                          "TinyCAE defines no decode()", exit_code=2)
    assert not (tmp_path / "s.png").exists() and not (tmp_path / "t.png").exists()


def test_anomaly_scores_and_few_label_probes_reach_results_and_compare(workspace):
    """The README's anomaly example, as shown, then few-label probes of a class too small."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    result = bench(*readme_command("--epochs 10 --classes 0,1,2,3,4"))
    assert result.exit_code == 0, result
    run = run_dir("FullyConnectedAE", "_classes=0,1,2,3,4", epochs=10)
    assert "--classes 0,1,2,3,4:" in (run / "train.log").read_text()
    result = bench(*readme_command("--anomaly --probe-labels 10,50"))
    assert result.exit_code == 0, result
    assert sorted(read_results(run)["probe_labels"]["per_class"]) == ["10", "50"]
    result = bench("eval", run, "--probe-labels", "5,10,1000", "--probe-draws", "3")
    assert result.exit_code == 0, result
    anomaly = read_results(run)["anomaly"]
    scores = np.load(run / "anomaly_scores.npz")
    unseen = ~np.isin(scores["labels"], [0, 1, 2, 3, 4])
    assert anomaly["roc_auc"] == roc_auc_score(unseen, scores["scores"]) and anomaly["roc_auc"] > 0.5
    assert anomaly["average_precision"] == average_precision_score(unseen, scores["scores"])
    assert anomaly["unseen_images"] == int(unseen.sum()) > 0 and (run / "anomaly_scores.png").stat().st_size > 0
    probes = read_results(run)["probe_labels"]
    assert sorted(probes["per_class"]) == ["10", "5"] and "1000" in probes["skipped"]
    assert len(probes["per_class"]["5"]["codes"]) == 3 and probes["per_class"]["5"]["pixels_std"] is not None
    assert f"{anomaly['roc_auc']:.4f}" in (run / "results.txt").read_text()
    reader = bench_process("compare", env={"COLUMNS": "80"}, cwd=workspace)  # a new process reads them from disk
    table, _ = reader.communicate(timeout=120)
    assert f"{anomaly['roc_auc']:.4f}" in table and f"{probes['per_class']['10']['codes_mean']:.3f}" in table, table
    assert max(len(line) for line in table.splitlines()) <= 80, table
    (row,) = json.loads(bench("compare", "--format", "json").stdout)["runs"]
    assert row["probe_labels_10_pixels"] == probes["per_class"]["10"]["pixels_mean"]  # the raw-pixel baseline
    assert "px@10" in bench("compare", "--wide").stdout
    assert_one_line_error(bench("train", "-m", "FullyConnectedAE", "-d", "Digits", "--classes", "12"),
                          "--classes 12", "0 to 9", exit_code=2)
    every = ",".join(map(str, range(10)))
    assert bench("train", "-m", "FullyConnectedAE", "-d", "Digits", "--epochs", "1", "--classes", every).exit_code == 0
    before = files_of(workspace / "log")
    assert_one_line_error(bench("eval", run_dir("FullyConnectedAE", f"_classes={every}", epochs=1), "--anomaly"),
                          "the test split of Digits has no images of any other class", exit_code=2)
    assert files_of(workspace / "log") == before  # nothing measured, no nan recorded
