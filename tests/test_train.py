"""`bench train` end to end on Digits: run folder, TensorBoard, resume, configuration."""

import math
from pathlib import Path

import pytest
import yaml

from conftest import bench, bench_process, event_tags, planned, read_results, run_dir, scalar_values, write_plugin, tf

RUN = run_dir("SingleLayerCAE")
DIGITS_STEPS_PER_EPOCH = math.ceil(1257 / 128)


@pytest.mark.extras
def test_first_run_makes_a_complete_run_folder(workspace):
    result = bench("train", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "2", "--summaries", "all")
    assert result.exit_code == 0, result
    for name in ("config.yaml", "results.txt", "results.json", "train.log"):
        assert (RUN / name).is_file(), name
    assert list((RUN / "checkpoints").glob("*.index")) and list((RUN / "best").glob("*.index"))
    config = yaml.safe_load((RUN / "config.yaml").read_text())
    assert config["model"] == "SingleLayerCAE" and config["epochs"] == 2 and config["optimizer_args"] == {"learning_rate": 0.001}

    results = read_results(RUN)
    assert results["status"] == "finished" and results["epochs_done"] == 2
    for split in ("validation", "test"):
        values = results["best"][split]
        assert 0 < values["error"] < 0.2
        assert values["mse"] == pytest.approx(values["error"] / 2)
        assert values["psnr"] == pytest.approx(10 * math.log10(1 / values["mse"]))
        assert 0 < values["ssim"] < 1
    assert all(0 < entry["validation_ssim"] < 1 for entry in results["history"])
    text = (RUN / "results.txt").read_text()
    assert "[-1, 1]" in text and "[0, 1]" in text and "dB" in text and "structural similarity" in text
    assert f"{results['best']['test']['ssim']:.4f}" in text
    assert "epoch 2/2" in (RUN / "train.log").read_text()
    assert [entry["epoch"] for entry in results["history"]] == [1, 2]
    import matplotlib.image

    for picture in ("reconstructions.png", "filters.png", "curves.png"):
        pixels = matplotlib.image.imread(RUN / picture)
        assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.std() > 0, picture
    assert "epoch 2/2" in result.stdout and "validation error" in result.stdout

    train_tags, validation_tags = event_tags(RUN / "train"), event_tags(RUN / "validation")
    assert "error" in train_tags and "error" in validation_tags  # same tag: curves overlay
    assert {"loss", "learning_rate"} <= set(train_tags)
    assert {"mse", "psnr", "ssim"} <= set(validation_tags)
    assert [value for _, value in scalar_values(RUN / "validation", "ssim")] == pytest.approx(
        [entry["validation_ssim"] for entry in results["history"]])
    assert any(tag.startswith("weights/") and plugin == "histograms"
               for tag, entries in train_tags.items() for _, plugin in entries)
    assert validation_tags["input | reconstruction"][0][1] == "images"
    assert [step for step, _ in scalar_values(RUN / "validation", "error")] == \
        [DIGITS_STEPS_PER_EPOCH, 2 * DIGITS_STEPS_PER_EPOCH]


def test_scalars_only_summaries_train_the_same_numbers_without_histograms_or_images(workspace):
    """--summaries scalars (BENCH_SUMMARIES, the tests' default) writes TensorBoard's scalars
    only: no weight or activation histograms, no reconstructions or feature maps; the run's
    numbers are those of --summaries all, whose histograms and images are there."""
    args = ("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "2")
    for summaries in ("all", "scalars"):
        assert bench(*args, "--summaries", summaries, "--log-dir", summaries).exit_code == 0
    runs = {summaries: Path(summaries) / run_dir("ConvAE").relative_to("log") for summaries in ("all", "scalars")}
    plugins = {}
    for summaries, run in runs.items():
        tags = {**event_tags(run / "train"), **event_tags(run / "validation")}
        plugins[summaries] = {plugin for entries in tags.values() for _, plugin in entries}
        assert {"error", "loss", "learning_rate", "mse", "psnr", "ssim"} <= set(tags), summaries
    assert {"histograms", "images"} <= plugins["all"]
    assert not {"histograms", "images"} & plugins["scalars"], plugins["scalars"]
    untimed = [[{key: value for key, value in entry.items() if key != "elapsed_s"} for entry in
                read_results(run)["history"]] for run in runs.values()]
    assert untimed[0] == untimed[1]
    best = [{key: value for key, value in read_results(run)["best"]["test"].items() if key != "when"}
            for run in runs.values()]
    assert best[0] == best[1]


@pytest.mark.extras
def test_a_run_without_extras_gets_them_from_its_next_start_and_keeps_its_numbers(workspace):
    """--extras none leaves out the pictures and the projector (trials, sweeps); the same command
    without it makes them for the finished run, and changes none of its numbers."""
    args = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1")
    assert bench(*args, "--extras", "none").exit_code == 0
    run = run_dir("SingleLayerCAE", epochs=1)
    results = read_results(run)
    assert results["status"] == "finished" and "test" in results["best"]
    assert not (run / "reconstructions.png").exists() and not (run / "projector").exists()
    again = bench(*args)
    assert again.exit_code == 0, again
    assert (run / "reconstructions.png").is_file() and (run / "projector" / "projector_config.pbtxt").is_file()
    assert {key: value for key, value in read_results(run).items() if key != "updated"} == \
        {key: value for key, value in results.items() if key != "updated"}


def test_l2_penalty_is_logged_and_named(workspace):
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--l2-penalty", "1e-3")
    assert result.exit_code == 0, result
    run = run_dir("SingleLayerCAE", "_l2=0.001", epochs=1)
    l2 = scalar_values(run / "train", "l2_loss")
    assert l2 and all(value > 0 for _, value in l2)
    loss, reconstruction = scalar_values(run / "train", "loss"), scalar_values(run / "train", "reconstruction_loss")
    assert loss[-1][1] == pytest.approx(reconstruction[-1][1] + l2[-1][1], rel=1e-5)


def test_more_epochs_make_a_longer_run_that_equals_a_straight_one(workspace):
    """A 1-epoch run, then --epochs 3: the 3-epoch run is made from the 1-epoch run's state (the
    optimizer's included), and its every epoch equals a straight 3-epoch run's."""
    assert bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1").exit_code == 0
    again = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1")
    assert again.exit_code == 0 and "already trained its 1 epochs" in again.stdout
    more = bench_process("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", cwd=workspace)
    out, err = more.communicate(timeout=300)  # a new process: only what reached the disk carries over
    assert more.returncode == 0, err
    assert "as a 3-epoch run" in out and "resuming at epoch 2" in out
    longer = run_dir("SingleLayerCAE", epochs=3)
    results = read_results(longer)
    assert results["epochs_done"] == 3 and results["steps"] == 3 * DIGITS_STEPS_PER_EPOCH
    assert results["continued_from"]["run"] == str(run_dir("SingleLayerCAE", epochs=1))
    assert read_results(run_dir("SingleLayerCAE", epochs=1))["epochs_done"] == 1
    reader = tf.train.load_checkpoint(str(longer / "checkpoints"))
    iterations = [key for key in reader.get_variable_to_shape_map() if key.startswith("optimizer/") and "iteration" in key]
    assert iterations and reader.get_tensor(iterations[0]) == 3 * DIGITS_STEPS_PER_EPOCH
    steps = [step for step, _ in scalar_values(longer / "validation", "error")]
    assert steps == [DIGITS_STEPS_PER_EPOCH * k for k in (1, 2, 3)]  # one continuous curve
    straight = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", "--log-dir", "straight")
    assert straight.exit_code == 0, straight
    timed = ("elapsed_s", "when")
    same = read_results("straight" / longer.relative_to("log"))

    def untimed(history):
        return [{key: value for key, value in entry.items() if key not in timed} for entry in history]

    assert untimed(results["history"]) == untimed(same["history"])
    for split in ("validation", "test"):
        assert {k: results["best"][split][k] for k in ("error", "mse", "psnr", "epoch", "step")} == \
            {k: same["best"][split][k] for k in ("error", "mse", "psnr", "epoch", "step")}


def test_every_identity_key_names_its_run_and_a_mismatched_folder_is_refused(workspace):
    assert bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1").exit_code == 0
    other, _ = planned("-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--seed", "7", "--batch-size", "64")
    assert other.folder == str(run_dir("SingleLayerCAE", "_bs=64_seed=7", epochs=1)) and not other.finished
    # a config.yaml that does not belong to its folder (edited by hand) is refused, untouched
    run = run_dir("SingleLayerCAE", epochs=1)
    edited = yaml.safe_load((run / "config.yaml").read_text())
    (run / "config.yaml").write_text(yaml.safe_dump(dict(edited, seed=3, batch_size=64)))
    before = (run / "config.yaml").read_text()
    refused = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1")
    assert refused.exit_code == 1
    assert "batch_size is 64 there, but the run was trained with 128" in refused.stderr
    assert "1 more key(s) differ" in refused.stderr and "--restart" in refused.stderr
    assert (run / "config.yaml").read_text() == before
    restarted = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--restart")
    assert restarted.exit_code == 0, restarted
    assert yaml.safe_load((run / "config.yaml").read_text())["seed"] == 0
    assert "resuming" not in restarted.stdout


@pytest.mark.unit
def test_yaml_config_env_and_command_line_precedence(workspace, monkeypatch):
    Path("run.yaml").write_text(
        "model: SingleLayerCAE\ndataset: Digits\nepochs: 5\nbatch-size: 64\n"
        "optimizer_args:\n  learning_rate: 0.01\ncomment: fromyaml\n")
    monkeypatch.setenv("BENCH_BATCH_SIZE", "32")
    plan, config = planned("--config", "run.yaml", "--epochs", "1")
    assert plan.folder == "log/SingleLayerCAE/Digits_Adam_lr=0.01_bs=32_epochs=1_fromyaml"
    assert config.epochs == 1  # the command line wins
    assert config.batch_size == 32  # BENCH_* beats the file
    assert config.optimizer_args["learning_rate"] == 0.01


@pytest.mark.unit
def test_dtb_spellings_and_optimizer_names(workspace):
    plan, config = planned("--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "1",
                           "--batch_size", "64", "--l2_penalty", "1e-9", "--optimizer", "MomentumOptimizer",
                           "--optimizer_args", '{"learning_rate": 0.01, "momentum": 0.9, "use_nesterov": true}',
                           "--train_device", "/cpu:0")
    assert plan.folder == "log/SingleLayerCAE/Digits_SGD_lr=0.01_l2=1e-09_bs=64_momentum=0.9_nesterov=True_epochs=1"
    assert config.optimizer_args == {"learning_rate": 0.01, "momentum": 0.9, "nesterov": True}
    assert config.batch_size == 64 and config.device == "/cpu:0"


def test_staircase_learning_rate_decay(workspace):
    result = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", "--lr-decay",
                   "--lr-decay-epochs", "1", "--lr-decay-factor", "0.5")
    assert result.exit_code == 0, result
    run = run_dir("SingleLayerCAE", "_exp_lr_decay_epochs=1_decay_factor=0.5", epochs=3)
    rates = dict(scalar_values(run / "train", "learning_rate"))
    assert rates[DIGITS_STEPS_PER_EPOCH] == pytest.approx(0.0005)  # step 10 is the first of epoch 2
    assert rates[3 * DIGITS_STEPS_PER_EPOCH] == pytest.approx(0.000125)


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(workspace):
    write_plugin(workspace / "models", "Diverging", '''
        import keras
        import tensorflow as tf
        from bench import Autoencoder

        class Diverging(Autoencoder):
            """Its loss turns NaN at the 13th training step (in epoch 2 on Digits)."""

            def __init__(self):
                super().__init__()
                self.conv = keras.layers.Conv2D(1, 3, padding="same")

            def build(self, input_shape):
                self.steps = self.add_weight(shape=(), initializer="zeros", trainable=False)

            def get(self, images, train_phase=False, l2_penalty=0.0):
                if train_phase:
                    self.steps.assign_add(1.0)
                return images, self.conv(images)

            def loss(self, predictions, real_values):
                nan_later = tf.where(self.steps > 12.0, float("nan"), 1.0)
                return tf.reduce_mean(tf.square(predictions - real_values)) * nan_later
        ''')
    result = bench("train", "-m", "Diverging", "-d", "Digits", "--epochs", "3")
    assert result.exit_code == 1
    assert "loss became nan" in result.stderr and "after epoch 1" in result.stderr
    run = run_dir("Diverging", epochs=3)
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    assert reader.get_tensor("epochs_done/.ATTRIBUTES/VARIABLE_VALUE") == 1
    assert read_results(run)["status"] == "diverged"


def test_single_layer_cae_weights_match_dtb(workspace):
    from bench import plugins
    from bench.model.building import build_model

    spec = plugins.find("model", "SingleLayerCAE")
    for shape, encoder_weights in (((28, 28, 1), 288), ((32, 32, 3), 864)):
        model = build_model(spec, shape)
        assert int(tf.size(model.encoder.kernel)) == encoder_weights
        _, reconstruction = model.get(tf.zeros((1,) + shape))
        assert tuple(reconstruction.shape) == (1,) + shape


def test_step_is_traced_once_and_several_steps_per_call_train_the_same(workspace):
    one = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", "--log-dir", "one",
                "--steps-per-call", "1")
    # 10 steps an epoch in calls of 4, 4 and 2: the last call's shorter count must not retrace
    four = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "3", "--log-dir", "four",
                 "--steps-per-call", "4")
    assert one.exit_code == 0 and four.exit_code == 0, (one, four)
    three = run_dir("SingleLayerCAE", epochs=3).relative_to("log")
    one_results, four_results = read_results("one" / three), read_results("four" / three)
    assert one_results["train_step_traces"] == 1 and four_results["train_step_traces"] == 1
    assert four_results["steps"] == one_results["steps"] == 3 * DIGITS_STEPS_PER_EPOCH
    for a, b in zip(one_results["history"], four_results["history"]):
        assert b["train_error"] == pytest.approx(a["train_error"], rel=1e-5)
        assert b["validation_error"] == pytest.approx(a["validation_error"], rel=1e-5)


def test_xla_and_mixed_precision(workspace):
    plain = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--log-dir", "plain")
    jit = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--log-dir", "jit", "--jit")
    bf16 = bench("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--precision", "mixed_bfloat16")
    assert plain.exit_code == 0 and jit.exit_code == 0 and bf16.exit_code == 0, (plain, jit, bf16)
    one = run_dir("SingleLayerCAE", epochs=1).relative_to("log")
    plain_error = read_results("plain" / one)["best"]["validation"]["error"]
    assert read_results("jit" / one)["best"]["validation"]["error"] == pytest.approx(plain_error, rel=1e-3)
    run = run_dir("SingleLayerCAE", "_mixed_bfloat16", epochs=1)  # another precision is another run
    assert yaml.safe_load((run / "config.yaml").read_text())["precision"] == "mixed_bfloat16"
    # bfloat16 keeps 8 bits of mantissa: the same training to within a few percent
    assert read_results(run)["best"]["validation"]["error"] == pytest.approx(plain_error, rel=0.05)
    reader = tf.train.load_checkpoint(str(run / "best"))
    kernels = [key for key in reader.get_variable_to_shape_map() if "kernel" in key and "OPTIMIZER" not in key]
    assert kernels and all(reader.get_variable_to_dtype_map()[key] == tf.float32 for key in kernels)


def test_every_file_of_a_run_follows_the_umask(zoo_runs):
    """config.yaml, results.json, results.txt and model.json are written through a temporary
    file; they get the mode every other file of the run gets, not the temporary's 0600."""
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    run = zoo_runs[1]["SingleLayerCAE"]
    modes = {path.relative_to(run).as_posix(): path.stat().st_mode & 0o777
             for path in run.rglob("*") if path.is_file()}
    assert {"config.yaml", "results.json", "results.txt", "model.json", "train.log"} <= set(modes)
    assert {name: mode for name, mode in modes.items() if mode != 0o666 & ~umask} == {}
