"""tf.distribute: a mirrored run over two logical CPU devices and a multi-worker run
of two local processes on loopback ports train as one device does on the same
global batch, write one run folder, and resume on another number of replicas.

Each run is its own process: logical devices and the collective runtime can only
be set up before TensorFlow starts.
"""

import os
import shlex
import subprocess
import sys

import pytest

from conftest import PROJECT, README, bench_process, free_ports, read_results, run_dir

pytestmark = pytest.mark.slow  # end to end: several trainings or processes

ARGS = ("train", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "2")  # the README's runs
RUN = run_dir("SingleLayerCAE", log_dir=".")
TIMEOUT_S = 180


def readme_command(fragment):
    """The README's `bench ...` line that contains `fragment`, as arguments."""
    lines = [line.strip() for line in README.splitlines() if line.startswith("    bench ") and fragment in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])[1:]


def readme_block(first_line):
    """The README's indented shell block that starts with `first_line`, dedented."""
    text = README[README.index("    " + first_line):]
    return "\n".join(line[4:] for line in text.split("\n\n")[0].splitlines()) + "\n"


def finished(process):
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, f"exit {process.returncode}\n{out}\n{err}"
    return out


def assert_same_training(results, reference):
    """The epoch's mean training error and the validation error of the weights it left."""
    for mine, theirs in zip(results["history"], reference["history"], strict=True):
        assert mine["train_error"] == pytest.approx(theirs["train_error"], rel=1e-5)
        assert mine["validation_error"] == pytest.approx(theirs["validation_error"], rel=1e-5)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    finished(bench_process(*ARGS, "--data-dir", folder / "cache", cwd=folder))
    return read_results(folder / "log" / RUN)


def test_mirrored_over_two_cpu_devices_matches_one_device_and_resumes_on_one_and_two(workspace, single_device):
    command = readme_command("--strategy mirrored --devices /cpu:0,/cpu:1")
    assert command[command.index("--epochs") + 1] == "2" and "--batch-size" not in command  # as ARGS
    out = finished(bench_process(*command, cwd=workspace))
    assert "on 2 replicas (mirrored)" in out
    results = read_results(workspace / "log" / RUN)
    assert results["status"] == "finished" and results["train_step_traces"] == 1
    assert results["steps"] == single_device["steps"] == 2 * 10  # 1,257 images in global batches of 128
    assert_same_training(results, single_device)

    # the same run goes on with one replica: the checkpoint does not depend on the replica count
    out = finished(bench_process(*ARGS[:-1], "3", cwd=workspace))
    assert "resuming at epoch 3" in out
    assert read_results(workspace / "log" / RUN)["epochs_done"] == 3
    # and again on two replicas
    command[command.index("--epochs") + 1] = "4"
    out = finished(bench_process(*command, cwd=workspace))
    assert "resuming at epoch 4" in out and "on 2 replicas (mirrored)" in out
    assert read_results(workspace / "log" / RUN)["epochs_done"] == 4


def test_two_workers_on_loopback_match_one_device_and_only_the_chief_writes(workspace, single_device):
    """The README's two-worker example, run as shown (on free ports)."""
    script = readme_block("export CLUSTER=")
    for shown, port in zip(("23456", "23457"), free_ports(2)):
        script = script.replace(shown, str(port))
    assert script.count("--strategy multi-worker") == 2 and " ".join(ARGS[1:]) in script
    bench_function = f'bench() {{ "{sys.executable}" -m bench "$@"; }}\n'
    env = dict(os.environ, PYTHONPATH=str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    done = subprocess.run(["bash", "-c", bench_function + script + "wait\n"], cwd=workspace, env=env,
                          capture_output=True, text=True, timeout=2 * TIMEOUT_S)
    assert done.returncode == 0, done
    assert "on 2 replicas (multi-worker)" in done.stdout and "the chief writes the results" in done.stdout
    results = read_results(workspace / "log" / RUN)
    assert results["status"] == "finished"
    assert_same_training(results, single_device)
    assert len(list((workspace / "log" / RUN / "train").glob("events.out.tfevents.*"))) == 1  # written once
    runs = [path.name for path in (workspace / "log" / "SingleLayerCAE").iterdir() if not path.name.startswith(".")]
    assert runs == [RUN.name]  # (beside it, the hidden lock file of the run)
    assert len(list((workspace / "log").glob("events.out.tfevents.*"))) == 1  # the HParams columns, once

    # the two workers resume the run together
    again = subprocess.run(["bash", "-c", bench_function + script.replace(" --epochs 2", " --epochs 3") + "wait\n"],
                           cwd=workspace, env=env, capture_output=True, text=True, timeout=2 * TIMEOUT_S)
    assert again.returncode == 0, again
    assert "resuming at epoch 3" in again.stdout and "on 2 replicas (multi-worker)" in again.stdout
    assert read_results(workspace / "log" / RUN)["epochs_done"] == 3
