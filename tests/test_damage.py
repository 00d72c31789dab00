"""Damaged state is never mistaken for no state, and a changed plugin is never scored silently:
each case gives one clear line and an exit code, and changes no file."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import assert_one_line_error, bench, files_of, read_results, run_dir, write_plugin

RUN = run_dir("ConvAE")
TRAIN = ("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "2")  # the shared run again: it reads the state


@pytest.fixture
def trained(workspace, zoo_runs):
    """A copy of the shared ConvAE run (2 epochs on Digits) in this test's workspace."""
    shutil.copytree(zoo_runs[1]["ConvAE"], workspace / RUN)
    return workspace / RUN


def _data_file(folder):
    return next(Path(folder).glob("*.data-*"))


def garble_index(run, folder):
    (run / folder / "checkpoint").write_text("model_checkpoint_path: {{{ not a checkpoint index\n")


def dangle_index(run, folder):
    index = run / folder / "checkpoint"
    index.write_text(index.read_text().replace("ckpt-", "ckpt-999"))


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def rewrite_results(run, change):
    results = json.loads((run / "results.json").read_text())
    change(results)
    (run / "results.json").write_text(json.dumps(results))


def text_metric(results):
    results["best"]["test"]["error"] = "0.1"


def rewrite_config(run, key, text):
    lines = [line for line in (run / "config.yaml").read_text().splitlines() if not line.startswith(f"{key}:")]
    (run / "config.yaml").write_text("\n".join(lines + [text]) + "\n")


DAMAGES = {
    "garbled latest index": (lambda run: garble_index(run, "checkpoints"), "checkpoints/checkpoint is garbled"),
    "dangling latest index": (lambda run: dangle_index(run, "checkpoints"), "which is not in"),
    "truncated latest checkpoint": (lambda run: truncate(_data_file(run / "checkpoints")), "cannot be read"),
    "garbled best index": (lambda run: garble_index(run, "best"), "best/checkpoint is garbled"),
    "truncated best checkpoint": (lambda run: truncate(_data_file(run / "best")), "cannot be read"),
    "missing best": (lambda run: shutil.rmtree(run / "best"), "best"),
    "truncated results": (lambda run: truncate(run / "results.json"), "results.json is damaged"),
    "results holding a list": (lambda run: (run / "results.json").write_text("[1, 2]\n"), "holds a list"),
    "results with a text metric": (lambda run: rewrite_results(run, text_metric), "'0.1', not a number"),
    "results nested 200,000 deep": (lambda run: (run / "results.json").write_text("[" * 200_000 + "]" * 200_000),
                                    "nested too deeply"),
    "results with probe_labels 5": (lambda run: rewrite_results(run, lambda r: r.update(probe_labels=5)),
                                    "probe_labels is a number (5), not an object"),
    "results deleted": (lambda run: (run / "results.json").unlink(), "results.json is missing"),
    "binary config": (lambda run: (run / "config.yaml").write_bytes(b"\x00\xff\xfe\x89"), "is not UTF-8 text"),
    "config epochs 1.7": (lambda run: rewrite_config(run, "epochs", "epochs: 1.7"), "epochs is a number (1.7)"),
    "config key twice": (lambda run: rewrite_config(run, "seed", "seed: 0\nseed: 1"), "the key 'seed' is given twice"),
    "latest index of random bytes": (lambda run: (run / "checkpoints" / "checkpoint").write_bytes(bytes(range(7, 250))),
                                     "checkpoints/checkpoint is garbled"),
    "empty best index": (lambda run: (run / "best" / "checkpoint").write_text(""), "best/checkpoint is garbled"),
}
# Which command reads which part: eval --checkpoint last reads the latest state, eval the best.
READERS = {
    "garbled latest index": ["train", "eval last"],
    "dangling latest index": ["train", "eval last"],
    "truncated latest checkpoint": ["train", "eval last"],
    "garbled best index": ["train", "eval"],
    "truncated best checkpoint": ["train", "eval"],
    "missing best": ["train", "eval"],
    "truncated results": ["train", "eval"],
    "results holding a list": ["train", "eval"],
    "results with a text metric": ["train", "eval"],
    "results nested 200,000 deep": ["train", "eval"],
    "results with probe_labels 5": ["train", "eval"],
    "results deleted": ["train", "eval"],
    "binary config": ["train", "eval"],
    "config epochs 1.7": ["train", "eval"],
    "config key twice": ["train", "eval"],
    "latest index of random bytes": ["train", "eval last"],
    "empty best index": ["train", "eval"],
}
COMMANDS = {"train": TRAIN, "eval": ("eval", RUN),
            "eval last": ("eval", RUN, "--checkpoint", "last")}


@pytest.mark.parametrize("damage, command", [(d, c) for d, commands in READERS.items() for c in commands])
def test_damaged_state_is_named_and_nothing_changes(trained, workspace, damage, command):
    harm, fragment = DAMAGES[damage]
    harm(trained)
    before = files_of(workspace / "log")
    result = bench(*COMMANDS[command])
    assert_one_line_error(result, fragment, exit_code=1)
    assert "--restart" in result.stderr or "copy" in result.stderr
    assert files_of(workspace / "log") == before


def test_another_length_is_a_run_of_its_own_and_the_finished_run_stays_byte_for_byte(trained, workspace):
    """--epochs 1 trains a 1-epoch run apart; --epochs 3 makes the 3-epoch run from the finished
    2-epoch run's state and trains one epoch; the 2-epoch run's files never change."""
    before = files_of(trained)
    shorter = bench("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "1")
    assert shorter.exit_code == 0, shorter
    assert read_results(run_dir("ConvAE", epochs=1))["epochs_done"] == 1
    longer = bench("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "3")
    assert longer.exit_code == 0, longer
    assert f"continuing {RUN} (2 epochs) as a 3-epoch run" in longer.stdout
    assert "epoch 3/3" in longer.stdout and "epoch 1/3" not in longer.stdout
    two, three = read_results(RUN), read_results(run_dir("ConvAE", epochs=3))
    assert three["continued_from"] == {"run": str(RUN), "epochs_done": 2, "steps": two["steps"], "status": "finished"}
    assert three["history"][:2] == two["history"] and three["epochs_done"] == 3 and three["status"] == "finished"
    assert files_of(trained) == before


def test_a_finished_run_whose_checkpoints_were_emptied_is_refused_not_retrained(trained, workspace):
    for path in (trained / "checkpoints").iterdir():
        path.unlink()
    before = files_of(workspace / "log")
    assert_one_line_error(bench(*TRAIN), "checkpoints holds no checkpoint", "has trained 2 epoch(s)", exit_code=1)
    assert files_of(workspace / "log") == before


def test_what_bench_did_not_write_is_not_believed(trained, workspace):
    """A config.yaml whose learning rate was edited by hand, a NaN best, a key given twice, a
    history shorter than its epochs_done: each named by train, eval and compare."""
    results = read_results(trained)
    assert results["identity"]["optimizer_args"]["learning_rate"] == 0.001
    edits = {
        "config.yaml": (lambda: (trained / "config.yaml").write_text(
            (trained / "config.yaml").read_text().replace("learning_rate: 0.001", "learning_rate: 0.01")),
            "config.yaml does not match the run its folder holds: optimizer_args.learning_rate is 0.01 there, "
            "but the run was trained with 0.001"),
        "NaN best": (lambda: rewrite_results(trained, lambda r: r["best"]["validation"].update(error=float("nan"))),
                     "results.best.validation.error is nan, not a finite number"),
        "key twice": (lambda: (trained / "results.json").write_text(
            (trained / "results.json").read_text().replace('{\n', '{\n  "status": "finished",\n', 1)),
            "the key 'status' is given twice"),
        "short history": (lambda: rewrite_results(trained, lambda r: r.update(history=r["history"][:1])),
                          "its history has 1 epoch(s), but epochs_done is 2"),
    }
    original = {name: (trained / name).read_bytes() for name in ("config.yaml", "results.json")}
    for what, (harm, fragment) in edits.items():
        harm()
        before = files_of(workspace / "log")
        for command in (TRAIN, ("eval", RUN)):
            assert_one_line_error(bench(*command), fragment, exit_code=1)
        shown = bench("compare", "--format", "json")
        assert shown.exit_code == 0 and fragment in shown.stdout.replace('\\"', '"'), (what, shown)
        assert files_of(workspace / "log") == before, what
        for name, data in original.items():
            (trained / name).write_bytes(data)


def test_compare_names_each_damaged_file_and_shows_the_rest(trained, workspace, zoo_runs):
    damaged = {"list": trained.parent / "list", "text": trained.parent / "text", "config": trained.parent / "config"}
    for folder in damaged.values():
        shutil.copytree(trained, folder)
    (damaged["list"] / "results.json").write_text("[1, 2]\n")
    rewrite_results(damaged["text"], text_metric)
    (damaged["config"] / "config.yaml").write_text("model: [unclosed\n")
    truncate(trained / "results.json")
    shutil.copytree(zoo_runs[1]["SingleLayerCAE"], workspace / run_dir("SingleLayerCAE"))
    for output_format in ("table", "csv", "json", "markdown"):
        result = bench("compare", "--format", output_format, "--no-group")
        assert result.exit_code == 0, result
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning: ")]
        assert len(warnings) == 4, result.stderr
        for folder in (trained, damaged["list"], damaged["text"]):
            assert any(f"{folder.relative_to(workspace)}/results.json is damaged" in line for line in warnings)
        assert any("config/config.yaml is not valid YAML" in line for line in warnings)
        assert "SingleLayerCAE" in result.stdout and "results.json damaged" in result.stdout


def test_an_earlier_bench_checkpoint_is_refused_with_a_reason(trained, workspace):
    import tensorflow as tf

    partial = tf.train.Checkpoint(model=tf.Module())
    partial.model.output_layer = tf.Variable(tf.zeros((3, 3, 1, 8)))
    for stale in trained.glob("best/ckpt-*"):
        stale.unlink()
    tf.train.CheckpointManager(partial, str(trained / "best"), max_to_keep=1).save(checkpoint_number=2)
    assert_one_line_error(bench(*COMMANDS["eval"]), "earlier bench", "--restart", exit_code=1)


TINY = '''
    import keras
    from bench import Autoencoder

    class Editable(Autoencoder):
        """A model that a test edits after training."""

        def __init__(self):
            super().__init__()
            self.{encoder} = keras.layers.Conv2D(4, 3, padding="same", activation="tanh")

        def build(self, input_shape):
            self.decoder = keras.layers.Conv2D(input_shape[-1], 3, padding="same", activation="tanh")

        def get(self, images, train_phase=False, l2_penalty=0.0):
            code = self.{encoder}(images)  {comment}
            return code, self.decoder(code)
    '''
EDITABLE_RUN = run_dir("Editable", epochs=1)


def _evaluated(result):
    assert result.exit_code == 0, result
    return {split: {k: v for k, v in values.items() if k in ("error", "mse", "psnr")}
            for split, values in read_results(EDITABLE_RUN)["evaluations"].items()}


def test_an_edited_plugin_is_named_and_the_recorded_copy_evaluates(workspace):
    write_plugin(workspace / "models", "Editable", TINY.format(encoder="encoder", comment=""))
    assert bench("train", "-m", "Editable", "-d", "Digits", "--epochs", "1").exit_code == 0
    trained = read_results(EDITABLE_RUN)["best"]["test"]
    copy = EDITABLE_RUN / "model_source" / "Editable.py"
    assert copy.read_text() == (workspace / "models" / "Editable.py").read_text()

    # the same weights, another source: a warning naming the file, and the same numbers
    write_plugin(workspace / "models", "Editable", TINY.format(encoder="encoder", comment="# edited"))
    warned = bench("eval", EDITABLE_RUN)
    assert "warning:" in warned.stderr and "models/Editable.py changed since" in warned.stderr
    assert "--model-file" in warned.stderr
    assert _evaluated(warned)["best checkpoint, test"] == {k: trained[k] for k in ("error", "mse", "psnr")}

    # an attribute renamed: other weights, an error that names them; nothing written
    write_plugin(workspace / "models", "Editable", TINY.format(encoder="enc", comment=""))
    before = files_of(EDITABLE_RUN)
    for command in (("eval", EDITABLE_RUN), ("embed", EDITABLE_RUN),
                    ("train", "-m", "Editable", "-d", "Digits", "--epochs", "2")):
        assert_one_line_error(bench(*command), "other weights", "gone: encoder/bias, encoder/kernel",
                              "new: enc/bias, enc/kernel", "--model-file", exit_code=1)
    assert files_of(EDITABLE_RUN) == before

    # the recorded copy gives the trained numbers back
    recorded = bench("eval", EDITABLE_RUN, "--model-file", copy)
    assert "warning" not in recorded.stderr
    assert _evaluated(recorded)["best checkpoint, test"] == {k: trained[k] for k in ("error", "mse", "psnr")}


def test_a_shadowing_workspace_plugin_is_named(trained, workspace):
    write_plugin(workspace / "models", "ConvAE", TINY.replace("Editable", "ConvAE").format(encoder="encoder",
                                                                                          comment=""))
    before = files_of(trained)
    result = bench("eval", RUN)
    assert_one_line_error(result, "model ConvAE as found now has other weights", "gone: decoder/0/bias",
                          "new: decoder/bias, decoder/kernel, encoder/bias, encoder/kernel", exit_code=1)
    assert "the model now comes from" in result.stderr and "work/models/ConvAE.py" in result.stderr
    assert files_of(trained) == before


def test_restart_comes_only_from_the_command_line(workspace, trained):
    """A BENCH_RESTART left in a shell, or `restart: true` in a file, never deletes a run."""
    kept = {name: digest for name, digest in files_of(trained).items()
            if name.startswith(("checkpoints/", "best/")) or name == "results.json"}
    finished = ("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "2")
    again = bench(*finished, env={"BENCH_RESTART": "1"})
    assert again.exit_code == 0, again
    assert "BENCH_RESTART is ignored" in again.stderr + again.stdout
    (workspace / "run.yaml").write_text("model: ConvAE\ndataset: Digits\nepochs: 2\nrestart: true\n")
    assert_one_line_error(bench("train", "--config", "run.yaml"), "run.yaml", "'restart' deletes runs",
                          "command line", exit_code=2)
    assert_one_line_error(bench("sweep", "--grid", "run.yaml"), "run.yaml", "'restart' deletes runs", exit_code=2)
    assert {name: digest for name, digest in files_of(trained).items() if name in kept} == kept


FINISHED = ("train", "-m", "ConvAE", "-d", "Digits", "--epochs", "2")  # what the shared run was trained with


@pytest.mark.extras
def test_a_missing_part_of_the_ending_is_made_at_the_next_start(trained):
    before = read_results(trained)
    for name in ("reconstructions.png", "curves.png"):
        (trained / name).unlink()
    shutil.rmtree(trained / "projector")
    again = bench(*FINISHED)
    assert again.exit_code == 0, again
    assert (trained / "reconstructions.png").is_file() and (trained / "curves.png").is_file()
    assert (trained / "projector" / "projector_config.pbtxt").is_file()
    assert read_results(trained)["best"] == before["best"]


@pytest.mark.extras
def test_an_ending_stopped_before_its_record_is_done_again(trained):
    """The state a kill leaves after the last epoch and before the final record: the ending runs
    again and gives the same numbers from the same best checkpoint."""
    before = read_results(trained)
    stopped = dict(before, status="running", best={"validation": before["best"]["validation"]})
    (trained / "results.json").write_text(json.dumps(stopped))
    (trained / "reconstructions.png").unlink()
    shutil.rmtree(trained / "projector")
    again = bench(*FINISHED)
    assert again.exit_code == 0, again
    after = read_results(trained)
    assert after["status"] == "finished"
    for split in ("validation", "test"):
        assert {k: after["best"][split][k] for k in ("error", "mse", "psnr", "epoch", "step")} == \
               {k: before["best"][split][k] for k in ("error", "mse", "psnr", "epoch", "step")}
    assert (trained / "reconstructions.png").is_file() and (trained / "projector" / "projector_config.pbtxt").is_file()


def test_what_killed_writers_left_is_removed_at_the_next_start(trained):
    (trained / "checkpoints" / "ckpt-99_temp").mkdir()
    (trained / "checkpoints" / "ckpt-99_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"half")
    (trained / ".results.json.x1y2.tmp").write_text('{"half": ')
    again = bench(*FINISHED)
    assert again.exit_code == 0, again
    assert not (trained / "checkpoints" / "ckpt-99_temp").exists() and not (trained / ".results.json.x1y2.tmp").exists()
