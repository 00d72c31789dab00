"""tf.distribute: a mirrored run over two logical CPU devices and a multi-worker run
of two local processes on loopback ports train as one device does on the same
global batch, write one run folder, and resume on another number of replicas.

Each run is its own process: logical devices and the collective runtime can only
be set up before TensorFlow starts.
"""

import json
import socket

import pytest

from conftest import bench_process, read_results

ARGS = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", "1", "--batch-size", "100")
RUN = "SingleLayerCAE/Digits_Adam_lr=0.001"
TIMEOUT_S = 180


def finished(process):
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, f"exit {process.returncode}\n{out}\n{err}"
    return out


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def assert_same_training(results, reference):
    """The epoch's mean training error and the validation error of the weights it left."""
    for mine, theirs in zip(results["history"], reference["history"], strict=True):
        assert mine["train_error"] == pytest.approx(theirs["train_error"], rel=1e-5)
        assert mine["validation_error"] == pytest.approx(theirs["validation_error"], rel=1e-5)


@pytest.fixture(scope="module")
def single_device(tmp_path_factory):
    folder = tmp_path_factory.mktemp("single")
    finished(bench_process(*ARGS, "--log-dir", folder / "log", "--data-dir", folder / "cache", cwd=folder))
    return read_results(folder / "log" / RUN)


def test_mirrored_over_two_cpu_devices_matches_one_device_and_resumes_on_one(workspace, single_device):
    out = finished(bench_process(*ARGS, "--strategy", "mirrored", "--devices", "/cpu:0,/cpu:1", cwd=workspace))
    assert "on 2 replicas (mirrored)" in out
    results = read_results(workspace / "log" / RUN)
    assert results["status"] == "finished" and results["train_step_traces"] == 1
    assert results["steps"] == single_device["steps"] == 13  # 1,257 images in global batches of 100
    assert_same_training(results, single_device)

    # the same run goes on with one replica: the checkpoint does not depend on the replica count
    out = finished(bench_process(*ARGS[:-4], "--epochs", "2", "--batch-size", "100", cwd=workspace))
    assert "resuming at epoch 2" in out
    assert read_results(workspace / "log" / RUN)["epochs_done"] == 2


def test_two_workers_on_loopback_match_one_device_and_only_the_chief_writes(workspace, single_device):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{port}" for port in ports]}
    workers = [bench_process(*ARGS, "--strategy", "multi-worker", cwd=workspace,
                             env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
               for i in (0, 1)]
    chief_out, other_out = finished(workers[0]), finished(workers[1])
    assert "on 2 replicas (multi-worker)" in chief_out
    assert "the chief writes the results" in other_out
    results = read_results(workspace / "log" / RUN)
    assert results["status"] == "finished"
    assert_same_training(results, single_device)
    assert len(list((workspace / "log" / RUN / "train").glob("events.out.tfevents.*"))) == 1  # written once
    assert [path.name for path in (workspace / "log" / "SingleLayerCAE").iterdir()] == ["Digits_Adam_lr=0.001"]
    assert len(list((workspace / "log").glob("events.out.tfevents.*"))) == 1  # the HParams columns, once
