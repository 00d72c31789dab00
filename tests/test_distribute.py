"""tf.distribute: a mirrored run over two logical CPU devices and a multi-worker run
of two local processes on loopback ports train as one device does on the same
global batch, write one run folder, and resume on another number of replicas.

Each run is its own process: logical devices and the collective runtime can only
be set up before TensorFlow starts.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import PROJECT, README, bench, bench_process, free_ports, inside, read_results, readme_command, run_dir


ARGS = ("train", "--model", "SingleLayerCAE", "--dataset", "Digits", "--epochs", "2")  # the README's runs
RUN = run_dir("SingleLayerCAE", log_dir=".")
TIMEOUT_S = 180


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
    """The README's run on one device (in this process: it has one)."""
    folder = tmp_path_factory.mktemp("single")
    with inside(folder):
        result = bench(*ARGS, "--data-dir", folder / "cache")
        assert result.exit_code == 0, result
    return read_results(folder / "log" / RUN)


@pytest.mark.all_threads
def test_mirrored_over_two_cpu_devices_matches_one_device_and_resumes_on_one_and_two(workspace, single_device):
    command = readme_command("--strategy mirrored --devices /cpu:0,/cpu:1")
    assert command[command.index("--epochs") + 1] == "2" and "--batch-size" not in command  # as ARGS
    out = finished(bench_process(*command, cwd=workspace))
    assert "on 2 replicas (mirrored)" in out
    results = read_results(workspace / "log" / RUN)
    assert results["status"] == "finished" and results["train_step_traces"] == 1
    assert results["steps"] == single_device["steps"] == 2 * 10  # 1,257 images in global batches of 128
    assert_same_training(results, single_device)

    # a longer run goes on from it with one replica: the checkpoint does not depend on the replica count
    out = finished(bench_process(*ARGS[:-1], "3", cwd=workspace))
    assert "resuming at epoch 3" in out
    assert read_results(workspace / "log" / run_dir("SingleLayerCAE", log_dir=".", epochs=3))["epochs_done"] == 3


@pytest.mark.all_threads
def test_two_workers_on_loopback_match_one_device_and_only_the_chief_writes(workspace, single_device):
    """The README's two-worker example, run as shown (on free ports)."""
    script = readme_block("export CLUSTER=")
    ports = free_ports(2)
    for shown, port in zip(("23456", "23457"), ports):
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

    # the two workers resume the run together, until one of them is lost: the other names it
    long = (*ARGS[:-1], "1000", "--strategy", "multi-worker")
    chief = bench_process(*long, cwd=workspace, env=cluster_env(ports, 0))
    worker = bench_process(*long, cwd=workspace, env=cluster_env(ports, 1), start_new_session=True)
    run = workspace / "log" / run_dir("SingleLayerCAE", log_dir=".", epochs=1000)  # made from the 2-epoch run
    wait_for_epochs(run / "results.json", 3, chief)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker's process and its training child, at once
    worker.communicate()
    out, err = chief.communicate(timeout=TIMEOUT_S)
    assert "resuming at epoch 3" in out and "on 2 replicas (multi-worker)" in out
    assert chief.returncode == 1, err
    line = one_error_line(err)
    assert f"lost worker 1 (localhost:{ports[1]})" in line and "Start every worker again" in line
    assert "latest checkpoint" in line and "checkpoints/ckpt-" in line
    results = read_results(run)
    assert results["status"] == "interrupted" and results["epochs_done"] >= 3
    checkpoint = line.split("latest checkpoint (")[1].split(")")[0]
    assert (workspace / f"{checkpoint}.index").is_file()


def cluster_env(ports, index):
    """TF_CONFIG for worker `index` of a cluster of loopback workers on `ports`."""
    workers = [f"localhost:{port}" for port in ports]
    return {"TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})}


def one_error_line(err):
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def port_is_free(port):
    """Nothing listens on `port` (a closed connection's TIME_WAIT aside)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def test_a_worker_whose_peer_never_starts_stops_at_the_timeout_or_at_a_signal(workspace):
    ports = free_ports(4)
    multi = (*ARGS, "--strategy", "multi-worker")
    started = time.monotonic()
    timed = bench_process(*multi, "--cluster-timeout", "3", cwd=workspace, env=cluster_env(ports[:2], 0))
    waiting = {signum: bench_process(*multi, cwd=workspace, env=cluster_env(ports[2 * n:2 * n + 2], 0))
               for n, signum in enumerate((signal.SIGINT,), start=1)}  # (SIGTERM is handled as SIGINT is)
    for signum, process in waiting.items():
        assert "waiting up to 300 s (--cluster-timeout) for worker 1" in process.stdout.readline()
        time.sleep(3)  # well into TensorFlow's wait, which alone would ignore both signals
        process.send_signal(signum)

    out, err = timed.communicate(timeout=TIMEOUT_S)
    assert timed.returncode == 1 and time.monotonic() - started < 60
    line = one_error_line(err)
    assert "did not form within 3 s (--cluster-timeout)" in line and f"not reached: worker 1 (localhost:{ports[1]})" in line
    for signum, process in waiting.items():
        out, err = process.communicate(timeout=TIMEOUT_S)
        assert process.returncode == 128 + signum, err
        assert f"{signal.Signals(signum).name} received while waiting for the cluster" in one_error_line(err)
    assert all(port_is_free(port) for port in ports)  # the waiting TensorFlow processes are gone
    assert not (workspace / "log").exists()  # nothing was written


def wait_for_epochs(results_file, epochs, process):
    """Until results.json records `epochs` epochs (the run is well under way)."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        if results_file.is_file() and read_results(results_file.parent).get("epochs_done", 0) >= epochs:
            return
        time.sleep(0.2)
    raise AssertionError(f"{results_file} did not reach {epochs} epochs")


@pytest.mark.all_threads
def test_two_workers_stream_an_image_folder_as_one_device_does(workspace):
    """Each worker reads the folder's files itself and takes its part of every global batch."""
    from PIL import Image

    rng = __import__("numpy").random.default_rng(0)
    for index in range(80):
        folder = workspace / "pictures" / ("a" if index % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype="uint8")).save(folder / f"{index}.png")
    args = ("train", "-m", "SingleLayerCAE", "-d", "folder:pictures", "--epochs", "2", "--batch-size", "16")
    single = bench(*args, "--comment", "one")  # one device: in this process
    assert single.exit_code == 0, single
    ports = free_ports(2)
    workers = [bench_process(*args, "--strategy", "multi-worker", cwd=workspace, env=cluster_env(ports, index))
               for index in (0, 1)]
    outputs = [finished(process) for process in workers]
    assert "on 2 replicas (multi-worker)" in outputs[0]
    runs = {path.name.rsplit("_", 1)[-1]: read_results(path) for path in (workspace / "log" / "SingleLayerCAE").iterdir()
            if not path.name.startswith(".")}
    assert set(runs) == {"one", "epochs=2"} and runs["epochs=2"]["data"]["images"]["train"] == 64
    assert_same_training(runs["epochs=2"], runs["one"])
