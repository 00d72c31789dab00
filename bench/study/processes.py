"""`bench train` in a process of its own, as sweeps and searches start their runs: a child
that dies with its parent (no orphan trains on after its sweep or search is gone), its
output in a file, and the one `error:` line that says why it failed."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.study import warm

TAIL_BYTES = 256 * 1024  # how much of a child's output's end last_error reads


def _die_with_parent():
    """In the child, before exec (Linux): SIGTERM when the parent dies, so the training saves
    its checkpoint and stops even after its parent was killed with SIGKILL (elsewhere the
    parent's signal handler is what stops it)."""
    warm.prctl(warm.PR_SET_PDEATHSIG, signal.SIGTERM)


KILLED_EXITS = (128 + signal.SIGINT, 128 + signal.SIGTERM)
"""A training process's exits after a signal (bench train saves its checkpoint and exits 128 + N)."""


def was_killed(code):
    """Whether a training process ended by a signal: killed outright (-N) or saved and stopped (128 + N)."""
    return code < 0 or code in KILLED_EXITS


BENCH_HOME = str(Path(__file__).resolve().parents[2])
"""The folder that holds the bench package (a clone's root, or site-packages)."""


def start_training(config_file, restart=False, output=None, env=None):
    """Start `bench train --config CONFIG_FILE` (with --restart); its output goes to the open
    file `output` (None: this console), its environment is this one with `env` added.
    Returns its process: a subprocess.Popen, or inside `warm_starts` a warm.ForkedTraining."""
    args = ["train", "--config", str(config_file), *(["--restart"] if restart else [])]
    env = {**(env or {}), warm.LAUNCHED_AT: repr(time.time())}
    if _warm_starts is not None:
        return _warm_starts.start(args, output, env)
    return cold_start(args, output, env)


def cold_start(args, output, env):
    """Start `bench ARGS` as a new process (output and env as start_training takes them).

    It runs with `python -P`: the current folder is not put ahead of the standard library, so a
    user's `inspect.py` or `random.py` beside their models cannot break it (its plugins are
    found by path from the current folder, as ever); bench itself is found where this process
    found it."""
    return subprocess.Popen([sys.executable, "-P", "-m", "bench", *args], stdout=output,
                            stderr=None if output is None else subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**_environment(), **env},
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def _environment():
    """A training process's environment: this one, unbuffered, with bench found where this process found it."""
    path = os.pathsep.join(part for part in (BENCH_HOME, os.environ.get("PYTHONPATH")) if part)
    return dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=path)


_warm_starts = None


@contextlib.contextmanager
def warm_starts(report, cold=False):
    """Within the block, start_training forks each training from one warm start-up process
    (bench.study.warm), unless `cold` or where that is not available (not Linux). `report`
    warns when the start-up process cannot start (the trainings then start cold)."""
    global _warm_starts
    if cold or _warm_starts is not None or not warm.available():
        yield
        return

    def warn(output):
        reason = last_error_of(output) or "no error message"
        report.warning(f"the warm start-up process of trainings failed twice ({reason}); each training now "
                       "starts as a process of its own")

    _warm_starts = warm.WarmStarts(_environment(), cold_start, warn)
    try:
        yield
    finally:
        _warm_starts.close()
        _warm_starts = None


def last_error(output_file):
    """Why a child failed, from its output file (last_error_of its end)."""
    with open(output_file, "rb") as file:  # its end: a chatty child's output may be large
        file.seek(max(0, os.fstat(file.fileno()).st_size - TAIL_BYTES))
        return last_error_of(file.read().decode("utf-8", "replace"))


def last_error_of(output):
    """Why a process failed, from its output: its last `error: ...` line, else the last line of
    its last traceback ("ValueError: ..."), else None."""
    error, in_traceback, traceback_end = None, False, None
    for line in output.splitlines():
        if line.startswith("error: "):
            error = line[len("error: "):]
        elif line.startswith("Traceback (most recent call last):"):
            in_traceback = True
        elif in_traceback and line.strip() and not line.startswith((" ", "\t")):
            traceback_end, in_traceback = line.strip(), False
    return error or traceback_end


def killing_signal(code):
    """The signal a training process ended by (its exit code -N, or 128 + N after saving)."""
    return -code if code < 0 else code - 128


def death_words(code):
    """How a training process ended by a signal, in words: "was killed (SIGKILL)"."""
    number = killing_signal(code)
    try:
        return f"was killed ({signal.Signals(number).name})"
    except ValueError:
        return f"was killed (signal {number})"
