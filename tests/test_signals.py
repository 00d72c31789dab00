"""Stopping a training from outside: SIGTERM and Ctrl-C save and resume, SIGKILL loses at most an
epoch, and a resumed run ends with exactly the numbers of an uninterrupted one."""

import math
import signal
import time

import pytest
import tensorflow as tf

from conftest import assert_one_line_error, bench, bench_process, read_results, run_dir

pytestmark = pytest.mark.slow  # end to end: several trainings or processes

# Digits at batch size 4: 315 steps an epoch, a fraction of a second each.
ARGS = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--batch-size", "4", "--epochs", "6")
RUN = run_dir("SingleLayerCAE", "_bs=4")
STEPS_PER_EPOCH = 315


def wait_for_epochs(process, log, epochs, timeout=240):
    """Wait until train.log reports `epochs` finished epochs."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if log.exists() and f"epoch {epochs}/" in log.read_text():
            return
        if process.poll() is not None:
            pytest.fail(f"training ended early: {process.communicate()}")
        time.sleep(0.05)
    process.kill()
    pytest.fail("training did not get far enough in time")


def saved_state(run):
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return (int(reader.get_tensor("epochs_done/.ATTRIBUTES/VARIABLE_VALUE")),
            int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")))


# The built-in models that draw random numbers while they train, each stopped another way:
# (model options, the signal, the exit code it gives). Digits at batch size 8: 158 steps an epoch.
RANDOM_MODELS = {
    "VAE": ('{"filters": [8], "latent_dim": 4}', signal.SIGINT, 130),
    "StackedDenoisingCAE": ('{"blocks": 2, "filters": 4}', signal.SIGTERM, 143),
    "FullyConnectedAE": ('{"hidden_units": [32], "dropout": 0.25}', signal.SIGINT, 130),
    "StackedCAE": ('{"blocks": 2, "filters": 4}', signal.SIGKILL, -9),
}


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
    draw), or from seed state the checkpoint holds; the epoch's error sum is in it too."""
    options, signum, exit_code = RANDOM_MODELS[model]
    args = ("train", "-m", model, "-d", "Digits", "--batch-size", "8", "--epochs", "2", "--model-args", options)
    steps_per_epoch = math.ceil(1257 / 8)
    process = bench_process(*args, cwd=workspace)  # stopped in its own process
    deadline = time.time() + 240
    while not any("epoch 1/" in log.read_text() for log in workspace.glob(f"log/{model}/*/train.log")):
        assert time.time() < deadline and process.poll() is None, process.communicate()
        time.sleep(0.05)
    run = next(workspace.glob(f"log/{model}/*/train.log")).parent
    process.send_signal(signum)  # seen after the first compiled call of epoch 2
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    epochs_done, step = saved_state(run)
    if signum == signal.SIGKILL:  # the latest checkpoint is the last epoch's, every checkpointed epoch recorded
        assert step == epochs_done * steps_per_epoch
        assert [entry["epoch"] for entry in read_results(run)["history"]][:epochs_done] == \
            list(range(1, epochs_done + 1))
    else:  # saved where it stopped, in the middle of epoch 2
        assert f"{signal.Signals(signum).name} received" in stderr and "Resume with the same command" in stderr
        assert "Traceback" not in stderr and read_results(run)["status"] == "interrupted"
        assert epochs_done == 1 and steps_per_epoch < step < 2 * steps_per_epoch

    resumed = bench(*args)  # the same command, in another process
    assert resumed.exit_code == 0, resumed
    assert f"resuming at epoch {epochs_done + 1} (step {step})" in resumed.stdout
    uninterrupted = bench(*args, "--log-dir", "uninterrupted")
    assert uninterrupted.exit_code == 0, uninterrupted
    assert exact_numbers(run) == exact_numbers(workspace / "uninterrupted" / model / run.name)


def test_a_second_process_on_a_run_is_refused_while_readers_go_on(workspace):
    first = bench_process(*ARGS, cwd=workspace)
    wait_for_epochs(first, workspace / RUN / "train.log", 1)
    try:
        second = bench(*ARGS)
        assert_one_line_error(second, f"run {RUN} is being trained by process {first.pid} on host", exit_code=1)
        assert bench("compare").exit_code == 0
        assert bench("eval", str(RUN), "--checkpoint", "last").exit_code == 0
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    log = (workspace / RUN / "train.log").read_text()
    assert log.count("starting ") == 1 and "being trained" not in log  # the refused process wrote nothing
    epochs_done, _ = saved_state(workspace / RUN)
    resumed = bench(*ARGS[:-1], str(max(epochs_done, 1)))  # the lock died with the first process
    assert resumed.exit_code == 0, resumed
