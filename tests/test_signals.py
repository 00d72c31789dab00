"""Stopping a training from outside: SIGTERM and Ctrl-C save and resume; SIGKILL loses at most an epoch."""

import signal
import time

import pytest
import tensorflow as tf
import yaml

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


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_saves_a_checkpoint_and_the_same_command_resumes(workspace, signum, exit_code):
    process = bench_process(*ARGS, cwd=workspace)
    wait_for_epochs(process, workspace / RUN / "train.log", 1)
    time.sleep(0.2)  # into epoch 2
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_code, stderr
    assert f"{signal.Signals(signum).name} received" in stderr and "Resume with the same command" in stderr
    assert "Traceback" not in stderr
    epochs_done, step = saved_state(workspace / RUN)
    assert epochs_done >= 1 and step > epochs_done * STEPS_PER_EPOCH  # mid-epoch state kept
    assert read_results(workspace / RUN)["status"] == "interrupted"

    resumed = bench(*ARGS)
    assert resumed.exit_code == 0, resumed
    assert f"resuming at epoch {epochs_done + 1} (step {step})" in resumed.stdout
    results = read_results(workspace / RUN)
    assert results["status"] == "finished" and results["steps"] == 6 * STEPS_PER_EPOCH


def test_sigkill_loses_at_most_the_epoch_in_progress(workspace):
    process = bench_process(*ARGS, cwd=workspace)
    wait_for_epochs(process, workspace / RUN / "train.log", 2)
    process.kill()
    process.communicate(timeout=60)
    epochs_done, step = saved_state(workspace / RUN)
    assert epochs_done >= 2 and step == epochs_done * STEPS_PER_EPOCH
    assert yaml.safe_load((workspace / RUN / "config.yaml").read_text())["epochs"] == 6  # intact
    recorded = [entry["epoch"] for entry in read_results(workspace / RUN)["history"]]
    assert recorded[:epochs_done] == list(range(1, epochs_done + 1))  # every checkpointed epoch is recorded
    resumed = bench(*ARGS)
    assert resumed.exit_code == 0, resumed
    assert f"resuming at epoch {epochs_done + 1}" in resumed.stdout
    results = read_results(workspace / RUN)
    assert results["epochs_done"] == 6 and [entry["epoch"] for entry in results["history"]] == list(range(1, 7))


def test_a_second_process_on_a_run_is_refused_while_readers_go_on(workspace):
    first = bench_process(*ARGS, cwd=workspace)
    wait_for_epochs(first, workspace / RUN / "train.log", 1)
    try:
        second = bench(*ARGS)
        assert_one_line_error(second, f"run {RUN} is being trained by process {first.pid} on host", exit_code=1)
        assert bench("compare").exit_code == 0
        assert bench("eval", str(RUN), "--checkpoint", "last", "--probe-limit", "0").exit_code == 0
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    log = (workspace / RUN / "train.log").read_text()
    assert log.count("starting ") == 1 and "being trained" not in log  # the refused process wrote nothing
    resumed = bench(*ARGS[:-1], "2")  # the lock died with the first process
    assert resumed.exit_code == 0, resumed
