"""Several processes on one run: an evaluation while the run trains, on a disk whose renames
are slow, loses no record of either, whichever reads results.json first; a reader that holds
a checkpoint keeps it while the trainer writes newer bests."""

import json
import subprocess
import sys
import time

from conftest import process_env, run_dir, started, tf


# `python slow_disk.py SECONDS bench-arguments...`: bench, with every rename onto results.json taking SECONDS.
SLOW_DISK = """
import os, sys, time

real_replace, delay = os.replace, float(sys.argv[1])

def slow_replace(source, target, *args, **kwargs):
    if str(target).endswith("results.json"):
        time.sleep(delay)
    return real_replace(source, target, *args, **kwargs)

os.replace = slow_replace
from bench.cli import main

sys.argv = ["bench", *sys.argv[2:]]
main()
"""
EPOCHS = 6
TRAIN = ("train", "-m", "SingleLayerCAE", "-d", "Digits", "--epochs", str(EPOCHS), "--batch-size", "32")
RUN = run_dir("SingleLayerCAE", "_bs=32", epochs=EPOCHS)


def slow(workspace, seconds, *args):
    """A bench process whose renames onto results.json take `seconds`."""
    script = workspace / "slow_disk.py"
    script.write_text(SLOW_DISK)
    return started(subprocess.Popen([sys.executable, str(script), str(seconds), *map(str, args)], cwd=workspace,
                                    env=process_env({}), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))


def test_an_evaluation_during_training_loses_no_record_in_either_order(workspace):
    from bench.model import checkpoints
    from bench.model.kept import held_latest

    trainer = slow(workspace, 0.6, *TRAIN)
    log = workspace / RUN / "train.log"
    deadline = time.monotonic() + 240
    while not log.is_file() or "epoch 1/" not in log.read_text():
        assert time.monotonic() < deadline and trainer.poll() is None, trainer.communicate()
        time.sleep(0.05)
    # one evaluation reads before the trainer's next record and writes after it (its rename waits
    # 2.5 s); the other writes while the trainer, which read before, waits on its own rename
    long_window = slow(workspace, 2.5, "eval", RUN, "--split", "validation")
    short_window = slow(workspace, 0.0, "eval", RUN, "--split", "test", "--checkpoint", "last")
    # a reader slowed on purpose: this process holds the best checkpoint until training ends
    with held_latest(workspace / RUN / "best") as held:
        for evaluation in (long_window, short_window):
            assert evaluation.wait(timeout=240) == 0, evaluation.communicate()
        out, err = trainer.communicate(timeout=240)
        assert trainer.returncode == 0, err
        newest = checkpoints.latest(workspace / RUN / "best")
        assert newest != held, "the trainer wrote no newer best: the hold was not tried"
        assert tf.train.load_checkpoint(held).get_variable_to_shape_map()  # still whole, still readable
    assert "best checkpoint (epoch" in long_window.communicate()[0]
    results = json.loads((workspace / RUN / "results.json").read_text())
    assert [entry["epoch"] for entry in results["history"]] == list(range(1, EPOCHS + 1))
    assert set(results["evaluations"]) == {"best checkpoint, validation", "last checkpoint, test"}
    assert results["status"] == "finished" and results["epochs_done"] == EPOCHS


def test_a_held_checkpoint_outlives_newer_saves_and_a_replaced_one_is_taken_anew_once(tmp_path, monkeypatch):
    """The trainer's KeptCheckpoint deletes older checkpoints but one a reader holds (it goes
    at the next save, and the hold leaves no file); a reader whose named checkpoint was deleted
    before it could hold it takes the newer one, once."""
    from bench.model import checkpoints
    from bench.model.kept import KeptCheckpoint, held_latest, hold_file

    folder = tmp_path / "best"
    folder.mkdir()
    value = tf.Variable(1.0)
    kept = KeptCheckpoint(tf.train.Checkpoint(value=value), folder)
    first = kept.save(checkpoint_number=1)
    with held_latest(folder) as held:
        assert held == first
        value.assign(2.0)
        kept.save(checkpoint_number=2)
        assert tf.train.load_checkpoint(held).get_tensor("value/.ATTRIBUTES/VARIABLE_VALUE") == 1.0  # still whole
    assert hold_file(first).exists() is False and sorted(p.name for p in folder.glob("*.index")) == [
        "ckpt-1.index", "ckpt-2.index"]
    kept.save(checkpoint_number=3)
    assert sorted(p.name for p in folder.glob("*.index")) == ["ckpt-3.index"]  # the released one went

    named = iter([str(folder / "ckpt-2"), None])  # named, then deleted by the trainer before it is held

    def latest(where):
        stale = next(named, None)
        return stale if stale is not None else real_latest(where)

    real_latest = checkpoints.latest
    monkeypatch.setattr(checkpoints, "latest", latest)
    with held_latest(folder) as held:
        assert held == str(folder / "ckpt-3")
    assert not list(folder.glob(".*.hold"))  # no hold leaves a file behind
