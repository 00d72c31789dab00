"""`bench train` in a process of its own, as sweeps and searches start their runs: a child
that dies with its parent (no orphan trains on after its sweep or search is gone), its
output in a file, and the one `error:` line that says why it failed."""

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """In the child, before exec (Linux): SIGTERM when the parent dies, so the training saves
    its checkpoint and stops even after its parent was killed with SIGKILL."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent's signal handler is what stops it
        pass


def start_training(config_file, restart=False, output=None, env=None):
    """Start `bench train --config CONFIG_FILE` (with --restart); its output goes to the open
    file `output` (None: this console), its environment is this one with `env` added."""
    command = [sys.executable, "-m", "bench", "train", "--config", str(config_file), *(["--restart"] if restart else [])]
    return subprocess.Popen(command, stdout=output, stderr=None if output is None else subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, env=dict(os.environ, PYTHONUNBUFFERED="1", **(env or {})),
                            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


def last_error(output_file):
    """The last `error: ...` line of a child's output, or None."""
    error = None
    for line in Path(output_file).read_text(errors="replace").splitlines():
        if line.startswith("error: "):
            error = line[len("error: "):]
    return error
