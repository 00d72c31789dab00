"""A multi-worker run's cluster: TF_CONFIG read and checked, a start-up that ends,
signals that work while TensorFlow waits, and peers named when they are lost.

TensorFlow forms the cluster inside one C++ call that holds Python's lock and
catches SIGTERM itself: while it waits for a worker that never starts, no
Python code of that process runs, and Ctrl-C and SIGTERM are not seen. So
`bench train --strategy multi-worker` forks before TensorFlow starts: the child
trains, and the parent (which never imports TensorFlow) waits until the child
says the cluster has formed. Until then the parent alone answers a signal or
the end of `--cluster-timeout`, by killing the child (which has written
nothing yet) and saying which workers it could not reach; after it, the parent
passes signals on to the child and exits with the child's exit code.

Nothing here imports TensorFlow.
"""

import json
import os
import select
import signal
import socket
import sys
import time
from dataclasses import dataclass

from bench.errors import BenchUsageError

_READY = b"j"  # written by the child once the cluster has formed
_ready_fd = None  # the child's end of the pipe, in a supervised child


@dataclass(frozen=True)
class Cluster:
    """The cluster TF_CONFIG describes, from this process's point of view.

    Attributes:
        tasks: ((task name, address), ...) of every task, e.g. ("worker 1", "host2:12345").
        me: this process's task name.
    """

    tasks: tuple
    me: str

    def peers(self):
        """The other tasks, as (name, address)."""
        return tuple((name, address) for name, address in self.tasks if name != self.me)

    def unreachable(self):
        """The peers whose address accepts no connection now, as "worker 1 (host2:12345)"."""
        return [f"{name} ({address})" for name, address in self.peers() if not _answers(address)]


def read_tf_config():
    """The Cluster of TF_CONFIG; BenchUsageError says what is wrong with it."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise BenchUsageError("--strategy multi-worker needs TF_CONFIG to describe the cluster, e.g. "
                              'TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                              '"task": {"type": "worker", "index": 0}}\' (see the README)')
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise BenchUsageError(f"TF_CONFIG is not valid JSON: {error.msg} at character {error.pos}") from error
    task = config.get("task", {}) if isinstance(config, dict) else None
    if not (isinstance(task, dict) and isinstance(config.get("cluster"), dict) and "type" in task and "index" in task):
        raise BenchUsageError('TF_CONFIG must hold {"cluster": {...}, "task": {"type": ..., "index": ...}}')
    members = config["cluster"].get(task["type"])
    if not isinstance(members, list) or not (isinstance(task["index"], int) and 0 <= task["index"] < len(members)):
        raise BenchUsageError(f"TF_CONFIG's task {task['type']} {task['index']} is not in its cluster "
                              f"{config['cluster']}")
    tasks = tuple((f"{job} {index}", str(address)) for job, addresses in config["cluster"].items()
                  if isinstance(addresses, list) for index, address in enumerate(addresses))
    return Cluster(tasks, f"{task['type']} {task['index']}")


def _answers(address, timeout_s=2.0):
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return True
    except (OSError, ValueError):
        return False


def supervise(cluster, timeout_s, report):
    """Fork: return in the child, which goes on to train; in the parent, wait for the child
    and leave the process with its exit code (see the module's docstring).

    Without a fork (TensorFlow already started in this process, as in an in-process
    test) the start-up has no time limit and this returns at once.
    """
    if "tensorflow" in sys.modules:  # forking a process whose TensorFlow threads run is unsafe
        return
    global _ready_fd
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _ready_fd = write_end
        return
    os.close(write_end)
    os._exit(_parent(child, read_end, cluster, timeout_s, report))


def joined():
    """Tell the supervising parent that the cluster has formed (a no-op when unsupervised)."""
    global _ready_fd
    if _ready_fd is not None:
        os.write(_ready_fd, _READY)
        os.close(_ready_fd)
        _ready_fd = None


def _parent(child, ready, cluster, timeout_s, report):
    received = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, frame: received.append(signum))
    peers = ", ".join(f"{name} ({address})" for name, address in cluster.peers())
    report.info(f"{cluster.me}: waiting up to {timeout_s:g} s (--cluster-timeout) for {peers}")
    deadline = time.monotonic() + timeout_s
    formed = _wait_for_cluster(ready, deadline, received)
    if formed is None:  # the child ended first: its own message said why
        return _exit_code(os.waitpid(child, 0)[1])
    if not formed:
        os.kill(child, signal.SIGKILL)  # it waits in TensorFlow and has written nothing
        os.waitpid(child, 0)
        if received:
            name = signal.Signals(received[0]).name
            _error(f"{name} received while waiting for the cluster to form: stopped; nothing was written")
            return 128 + received[0]
        missing = cluster.unreachable()
        _error(f"the cluster did not form within {timeout_s:g} s (--cluster-timeout): "
                     + (f"not reached: {', '.join(missing)}" if missing else f"{peers} answer but did not join")
                     + ". Start bench train --strategy multi-worker with the same TF_CONFIG cluster on every "
                     "worker (each with its own task index), or wait longer with --cluster-timeout")
        return 1
    return _pass_signals_on(child, received)


def _wait_for_cluster(ready, deadline, received):
    """True once the child says the cluster formed; False on a signal or at the deadline;
    None if the child ended without a word."""
    while not received and time.monotonic() < deadline:
        try:
            readable, _, _ = select.select([ready], [], [], 0.2)
        except InterruptedError:
            continue
        if readable:
            return True if os.read(ready, 1) == _READY else None
    return False


def _pass_signals_on(child, received):
    """Wait for the training child, passing SIGINT and SIGTERM on; its exit code."""
    while True:
        while received:
            os.kill(child, received.pop(0))
        try:
            pid, status = os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            return 1
        if pid:
            if os.WIFSIGNALED(status):
                _error(f"the training process was ended by {signal.Signals(os.WTERMSIG(status)).name}; "
                       "the same command resumes from its latest checkpoint")
            return _exit_code(status)
        time.sleep(0.1)


def _error(message):
    print(f"error: {message}", file=sys.stderr, flush=True)


def _exit_code(status):
    return 128 + os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def lost_peers_line(cluster):
    """Which peers a worker lost, for the one line that stops it."""
    missing = cluster.unreachable()
    return f"lost {', '.join(missing)}" if missing else "lost a peer worker (every address answers again now)"
