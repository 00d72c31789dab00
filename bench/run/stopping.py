"""How a training stops before its end, and what it says: a signal (its checkpoint saved
where it stopped), a loss that is no longer a number, a lost peer of a multi-worker run,
or anything else that raises (the run is then "interrupted", not "running")."""

import contextlib
import math
import signal

import tensorflow as tf

from bench.errors import BenchError, TrainingStopped
from bench.model import checkpoints
from bench.run import cluster
from bench.run.runs import CHECKPOINTS, CONFIG_FILE

# How a multi-worker step fails when a peer is gone (refused, timed out, aborted by the coordination service).
PEER_FAULTS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
               tf.errors.CancelledError)


def stopped(run, signum, what):
    """The TrainingStopped of a signal: what was stopped, and how to resume (exit code 128 + signal)."""
    return TrainingStopped(
        f"{signal.Signals(signum).name} received: stopped {what}. "
        f"Resume with the same command, or: bench train --config {run.sub(CONFIG_FILE)}",
        exit_code=128 + signum)


def checked_loss(outputs, epoch, step, recorder):
    """The step's loss as a float; a loss that is not finite records "diverged" and stops."""
    loss = float(outputs["loss"])
    if not math.isfinite(loss):
        kept = recorder.state.value("epochs_done")
        recorder.record("diverged")
        raise TrainingStopped(
            f"the loss became {loss} at epoch {epoch + 1}, step {step}: training stopped; the last good "
            f"checkpoint (after epoch {kept}) is kept. Lower the learning rate (--optimizer-args) "
            "and run again with --restart")
    return loss


def stop_at_signal(signum, epoch, step, outputs, recorder):
    """In an epoch: save the state where the signal found it, record "interrupted", stop."""
    checked_loss(outputs, epoch, step, recorder)
    recorder.state.save(step)
    recorder.record("interrupted")
    raise stopped(recorder.run, signum, f"in epoch {epoch + 1} at step {step} and saved a checkpoint")


def stop_if_signalled(signals, where, recorder):
    """Between the pieces of a run's ending: stop on a signal (the checkpoints are all saved)."""
    if signals.received:
        recorder.record("interrupted")
        raise stopped(recorder.run, signals.received, f"{where}; the checkpoints are saved")


@contextlib.contextmanager
def stops_recorded(recorder):
    """Whatever stops training without saying so itself (an image that cannot be decoded,
    a full disk, a plugin that raises) leaves the run "interrupted", not "running", when
    results.json can still be written (when it cannot, `RunFolder.trainer` tells readers
    that no process trains the run). `recorder` None: nothing is recorded (a worker)."""
    try:
        yield
    except TrainingStopped:
        raise
    except Exception:
        if recorder is not None:
            with contextlib.suppress(OSError, BenchError, tf.errors.OpError):  # the error raised says why
                recorder.record("interrupted")
        raise


@contextlib.contextmanager
def peers_watched(config, epoch, resume_from, recorder):
    """In a multi-worker run, a lost peer (its collectives fail) is one line naming it."""
    try:
        yield
    except PEER_FAULTS as error:
        if config.strategy != "multi-worker":
            raise
        if recorder is not None:
            recorder.record("interrupted")
        latest = checkpoints.latest(resume_from.sub(CHECKPOINTS))
        kept = f"the latest checkpoint ({latest}) is kept" if latest else "no checkpoint had been saved yet"
        raise TrainingStopped(
            f"{cluster.lost_peers_line(cluster.read_tf_config())} in epoch {epoch + 1}: training stopped; "
            f"{kept}. Start every worker again with the same command to resume") from error
