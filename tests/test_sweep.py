"""`bench sweep`: grids of ordinary runs, in parallel processes, resumable."""

from pathlib import Path

import pytest

from conftest import assert_one_line_error, bench, read_results, run_dir, started, write_plugin


def test_a_yaml_grid_runs_on_when_a_point_fails(workspace):
    """List values of a YAML grid are its axes, dicts included; a point bench train would
    refuse is refused without a process, a point whose training fails is reported, and the
    others go on."""
    write_plugin(workspace / "inputs", "Vanishing", '''
        from bench import Input

        class Vanishing(Input):
            """Its files are gone by the time it loads."""
            image_shape = (8, 8, 1)

            def load(self, split):
                raise FileNotFoundError("vanished.bin")
        ''')
    Path("grid.yaml").write_text("model: SingleLayerCAE\ndataset: [Digits, Vanishing]\nepochs: 1\n"
                                 "l2_penalty: [-1, 0]\noptimizer_args: [{learning_rate: 0.01}]\n")
    result = bench("sweep", "--grid", "grid.yaml", "--jobs", "2")
    assert result.exit_code == 1
    assert result.stderr.count("REFUSED") == 2 and "--l2-penalty must be zero or positive" in result.stderr
    assert "sweep: 2 run(s) to train" in result.stdout  # the refused points started no process
    assert "FAILED (exit 1)" in result.stderr and "vanished.bin" in result.stderr
    assert "3 of 4 run(s) failed" in result.stderr
    assert read_results("log/SingleLayerCAE/Digits_Adam_lr=0.01_epochs=1")["status"] == "finished"


@pytest.mark.unit
def test_bad_sweep_options(workspace):
    assert_one_line_error(bench("sweep", "--model", "SingleLayerCAE", "--datset", "Digits"),
                          "bench train has no option '--datset'", exit_code=2)
    assert_one_line_error(bench("sweep", "--model", "SingleLayerCAE"), "a sweep needs --dataset", exit_code=2)
    assert not Path("log").exists()


def drained(master, chunks):
    """Read a pty's master end until its other end is closed."""
    import os

    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the last process holding the terminal has ended
            return
        if not chunk:
            return
        chunks.append(chunk)


def test_sigterm_stops_the_sweep_and_its_trainings_and_no_scratch_is_left(workspace):
    """On a terminal the sweep draws each running run's epoch and its time left; SIGTERM stops
    it and its trainings at a checkpoint, and its scratch folder goes."""
    import fcntl
    import os
    import pty
    import re
    import signal
    import subprocess
    import sys
    import tempfile
    import threading
    import time

    from conftest import process_env

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = Path(tempfile.gettempdir()) / f"bench-sweep-{gone.pid}-killed"  # a killed sweep's scratch
    stale.mkdir(exist_ok=True)
    runs = [workspace / run_dir("SingleLayerCAE", f"_bs=4{seed}", epochs=6) for seed in ("", "_seed=1")]
    master, terminal = pty.openpty()
    sweep = started(subprocess.Popen(
        [sys.executable, "-m", "bench", "sweep", "--model", "SingleLayerCAE", "--dataset", "Digits", "--batch-size", "4",
         "--seed", "0,1", "--epochs", "6", "--jobs", "2"], cwd=workspace, env=process_env({"COLUMNS": "120"}),
        stdout=terminal, stderr=subprocess.PIPE, text=True))
    os.close(terminal)
    chunks = []
    reader = threading.Thread(target=drained, args=(master, chunks), daemon=True)
    reader.start()
    deadline = time.time() + 240

    def drawn():  # what the terminal shows so far, without colours and cursor moves
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode("utf-8", "replace"))

    # until both runs have ended an epoch and the board shows seed=1's epoch and time left
    while not (all((run / "train.log").exists() and "epoch 2/" in (run / "train.log").read_text() for run in runs)
               and re.search(r"seed=1\b.*\b[1-6]/6 epochs .*\d:\d\d:\d\d", drawn())):
        assert time.time() < deadline and sweep.poll() is None, sweep.communicate()
        time.sleep(0.1)
    assert not stale.exists()
    sweep.send_signal(signal.SIGTERM)
    _, stderr = sweep.communicate(timeout=180)
    assert sweep.returncode == 143, stderr
    assert "SIGTERM received: stopped the sweep" in stderr and "Traceback" not in stderr
    reader.join(timeout=10)
    os.close(master)
    assert "0/2 runs" in drawn(), drawn()[-3000:]
    for run in runs:
        assert read_results(run)["status"] == "interrupted"
        with open(run.parent / f".{run.name}.lock", "a") as lock:  # its training has ended
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert not list(Path(tempfile.gettempdir()).glob(f"bench-sweep-{sweep.pid}-*"))
