"""Stopping a training from outside: SIGTERM and Ctrl-C save and resume, SIGKILL loses at most an
epoch, and a resumed run ends with exactly the numbers of an uninterrupted one."""

import math
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import assert_one_line_error, bench, bench_process, files_of, process_env, read_results, run_dir, started, tf


def saved_state(run):
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return (int(reader.get_tensor("epochs_done/.ATTRIBUTES/VARIABLE_VALUE")),
            int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")))


# The built-in models that draw random numbers while they train, each stopped another way (StackedCAE
# for the models whose Keras Dropout layers keep their seed state in the checkpoint):
# (model options, the signal, the exit code it gives, epochs, more training options). Digits at
# batch size 8: 158 steps an epoch. The denoising model reads Digits as TFRecord shards, augmented:
# the shards' order, the bounded shuffle and the flips and crops come from (seed, epoch) too.
RANDOM_MODELS = {
    "VAE": ('{"filters": [8], "latent_dim": 4}', signal.SIGINT, 130, 2, ()),
    "StackedDenoisingCAE": ('{"blocks": 2, "filters": 4}', signal.SIGTERM, 143, 2,
                            ("-d", "tfrecord:shards", "--augment", "flip,crop")),
    "StackedCAE": ('{"blocks": 2, "filters": 4}', signal.SIGKILL, -9, 2, ()),
}
STEPS_AT_8 = math.ceil(1257 / 8)


def exact_numbers(run):
    """Every number of a run's results that an uninterrupted run must match exactly."""
    results = read_results(run)
    history = [{key: entry[key] for key in ("epoch", "step", "train_error", "validation_error")}
               for entry in results["history"]]
    best = {split: {key: results["best"][split][key] for key in ("error", "mse", "psnr", "epoch", "step")}
            for split in ("validation", "test")}
    return history, best, results["steps"]


@pytest.mark.parametrize("model", RANDOM_MODELS)
def test_a_stopped_run_resumes_to_the_uninterrupted_numbers(workspace, model):
    """Dropout, the VAE's samples and the denoising noise are drawn as functions of (seed, step,
    draw), or from seed state the checkpoint holds; the epoch's error sum is in it too. (The
    stopped process also shows that TensorFlow's start-up chatter is silenced.)"""
    options, signum, exit_code, epochs, more = RANDOM_MODELS[model]
    args = ("train", "-m", model, "-d", "Digits", "--batch-size", "8", "--epochs", str(epochs), "--model-args",
            options, *more)
    if "tfrecord:shards" in more:
        assert bench("prepare", "Digits", "--out", "shards", "--images-per-shard", "500").exit_code == 0
    process = bench_process(*args, cwd=workspace)  # stopped in its own process
    deadline = time.time() + 240
    while not any("epoch 1/" in log.read_text() for log in workspace.glob(f"log/{model}/*/train.log")):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    run = next(workspace.glob(f"log/{model}/*/train.log")).parent
    process.send_signal(signum)  # seen after the first compiled call of epoch 2
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert "cuda" not in stderr.lower() and "oneDNN" not in stderr and "I0000" not in stderr, stderr  # TF is quiet
    epochs_done, step = saved_state(run)
    if signum == signal.SIGKILL:  # the latest checkpoint is the last epoch's, every checkpointed epoch recorded
        assert step == epochs_done * STEPS_AT_8 and epochs_done < epochs
        assert [entry["epoch"] for entry in read_results(run)["history"]][:epochs_done] == \
            list(range(1, epochs_done + 1))
    else:  # saved where it stopped, in the middle of epoch 2
        assert f"{signal.Signals(signum).name} received" in stderr and "Resume with the same command" in stderr
        assert "Traceback" not in stderr and read_results(run)["status"] == "interrupted"
        assert epochs_done == 1 and STEPS_AT_8 < step < 2 * STEPS_AT_8

    resumed = bench(*args)  # the same command, in another process
    assert resumed.exit_code == 0, resumed
    assert f"resuming at epoch {epochs_done + 1} (step {step})" in resumed.stdout
    uninterrupted = bench(*args, "--log-dir", "uninterrupted")
    assert uninterrupted.exit_code == 0, uninterrupted
    assert exact_numbers(run) == exact_numbers(workspace / "uninterrupted" / model / run.name)


HOLDER = """
import sys, time
from bench.run.runs import RunFolder

with RunFolder(sys.argv[1]).lock():
    print("held", flush=True)
    time.sleep(600)
"""


def test_a_second_trainer_of_a_run_is_refused_at_once_while_readers_go_on(workspace, zoo_runs):
    run = workspace / run_dir("SingleLayerCAE")
    shutil.copytree(zoo_runs[1]["SingleLayerCAE"], run)
    args = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "2")
    holder = started(subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], env=process_env({}),
                                      stdout=subprocess.PIPE, text=True))
    try:
        assert holder.stdout.readline().strip() == "held"
        before = files_of(workspace / "log")
        assert_one_line_error(bench(*args), f"run {run_dir('SingleLayerCAE')} is being trained by process "
                                            f"{holder.pid} on host", exit_code=75)
        assert files_of(workspace / "log") == before  # the refused process wrote nothing
        assert bench("compare").exit_code == 0
        assert bench("eval", run, "--checkpoint", "last").exit_code == 0
    finally:
        holder.kill()  # the lock dies with its process, however it ends
        holder.wait()
    assert bench(*args).exit_code == 0
