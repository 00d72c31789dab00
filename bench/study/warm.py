"""Warm starts for the trainings of sweeps, searches and confirmations.

A training in a process of its own used to pay Python's start, TensorFlow's import (about
4 s) and bench's before its first step, once per trial, sweep point and repeat. Here one
start-up process per worker pays them once: it imports TensorFlow and bench, runs nothing
of TensorFlow's, and forks a new process for each training (the zygote of Android, the
preload of Gunicorn). Each training still runs alone in its own process, started from the
same imported state as a cold `bench train`, so:

- its numbers are a cold run's, bit for bit, and nothing of one training reaches the next
  (Keras' and TensorFlow's global state, random generators, caches, summary writers all
  begin in the child);
- a training that dies, by a kill, the OOM killer or a plugin's crash, takes nothing else
  with it; the start-up process itself trains nothing and is started again if it dies;
- memory does not grow over trials: each training's memory goes with its process.

Each training is forked twice so that it becomes the worker's own child (the worker is a
Linux "child subreaper"): the worker waits for it, signals it and reads its exit code
exactly as for a cold process, and the training stops (saving a checkpoint) if the worker
dies. Elsewhere than Linux, and with --cold, every training is a cold process.

A process that runs several sweeps or searches in turn (a notebook or a script calling bench's
commands, the test suite) keeps its start-up process from one to the next: it is handed on
when the environment it was started in differs from the next one's in BENCH_* variables only
(bench reads those in each training), and ended otherwise and when the process exits.

This module is the worker's side; bench.forkserver is the start-up process.
"""

import atexit
import collections
import ctypes
import json
import os
import select
import subprocess
import sys
import tempfile

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
LAUNCHED_AT = "BENCH_LAUNCHED_AT"
"""The variable that tells a training when its worker asked for it (time.time()): its
seconds_to_first_step count from there."""
NOT_HELD = "BENCH_NOT_HELD"
"""The variable that tells a start-up process which datasets not to hold (a JSON list of names):
those whose load started threads in one before it."""


def prctl(option, value):
    """Linux's prctl(option, value); False where it is not there or fails."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def available():
    """Whether warm starts work here: Linux, where this process can adopt its trainings (it
    becomes a child subreaper until WarmStarts.close)."""
    return sys.platform.startswith("linux") and prctl(PR_SET_CHILD_SUBREAPER, 1)


class ForkedTraining:
    """A training forked by the start-up process and adopted by this one: polled, waited for and
    signalled as a subprocess.Popen is (pid, returncode, poll, wait, send_signal). Until the
    start-up process has answered (it may still be importing), its pid is None and it runs;
    if that process cannot start, the training is started cold and this stands for it."""

    def __init__(self, starts, request, cold_start):
        self.pid, self.returncode, self.request = None, None, request
        self._starts, self._signals, self._cold_start, self._cold = starts, [], cold_start, None

    def started(self, pid):
        """The start-up process forked it as `pid`: the signals sent meanwhile are delivered."""
        self.pid = pid
        for signum in self._signals:
            os.kill(pid, signum)

    def start_cold(self):
        """Start it as a process of its own instead (the start-up process could not start)."""
        self._cold = self._cold_start()
        self.started(self._cold.pid)

    def poll(self):
        """Its exit code once it has ended (-N after signal N), else None."""
        if self.pid is None:
            self._starts.collect()
        if self._cold is not None:
            self.returncode = self._cold.poll()
        elif self.pid is not None and self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self):
        """Wait for its end; its exit code."""
        while self.pid is None:
            self._starts.collect(block=True)
        if self._cold is not None:
            self.returncode = self._cold.wait()
        elif self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, signum):
        """Send it `signum` (as soon as it exists; nothing once it has ended)."""
        if self.pid is None:
            self._signals.append(signum)
        elif self.returncode is None:
            os.kill(self.pid, signum)


class _StartUp:
    """A running start-up process and what the worker has read of it."""

    def __init__(self, process, replies, environment, errors, not_held):
        self.process, self.replies, self.environment, self.errors = process, replies, environment, errors
        self.not_held, self.unread, self.answers = not_held, b"", 0
        self.console = _console_identity()

    def fits(self, environment):
        """Whether trainings with `environment` may be forked from it: it is alive, was started
        with the same environment but for BENCH_* variables, and writes to the same console."""
        return (self.process.poll() is None and self.console == _console_identity()
                and _without_bench(self.environment) == _without_bench(environment))

    def end(self):
        """Close its input (it ends when it has read it all) and wait for it."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self.replies)
        self.errors.close()


def _without_bench(environment):
    return {name: value for name, value in environment.items() if not name.startswith("BENCH_")}


def _console_identity():
    try:
        status = os.fstat(2)
    except OSError:
        return None
    return status.st_dev, status.st_ino


_kept = None
"""The start-up process the last WarmStarts of this process left running for the next one."""


def end_kept():
    """End the start-up process this process keeps for its next sweep or search, if any: its
    memory and the datasets it holds go with it (it ends by itself when this process exits)."""
    global _kept
    if _kept is not None:
        _kept, kept = None, _kept
        kept.end()


atexit.register(end_kept)


class WarmStarts:
    """The worker's side: starts the start-up process (at its first training, unless the last
    WarmStarts of this process left one that fits) and asks it for trainings, never waiting for
    its answers: a worker must go on keeping its trials' leases while the start-up process
    imports. One that dies is replaced; if two in a row die before their first answer (a
    broken environment), the trainings start cold from then on, and `warn` says why.

    Args:
        environment: the start-up process's environment (the trainings' base one).
        cold_start: cold_start(args, output, env) starts a training as a process of its own.
        warn: called with the start-up process's error output when the trainings start cold.
    """

    def __init__(self, environment, cold_start, warn):
        self.environment, self.cold_start, self.warn = environment, cold_start, warn
        self.pending = collections.deque()  # the trainings asked for and not answered yet, in order
        self.broken = None  # why the start-up process cannot start (then every training starts cold)
        self._up, self._silent_deaths = None, 0
        self.not_held = []  # datasets whose load started threads in a start-up process

    def _open(self):
        global _kept
        kept, _kept = _kept, None
        if kept is not None and kept.fits(self.environment):
            self._up = kept
            self.not_held = kept.not_held
        else:
            if kept is not None:
                kept.end()
            self._up = self._started()
        self._send_pending()

    def _send_pending(self):
        """Ask a new start-up process for what the one before it left unanswered."""
        for training in self.pending:
            self._send(training.request)

    def _started(self):
        reply_read, reply_write = os.pipe()
        console = os.dup(2)  # where a training with no output file writes its errors, as a cold one would
        errors = tempfile.TemporaryFile()  # the start-up process's own error output
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "bench.forkserver", str(reply_write), str(console)], stdin=subprocess.PIPE,
            stdout=None, stderr=errors, pass_fds=(reply_write, console),
            env={**self.environment, NOT_HELD: json.dumps(self.not_held)})
        os.close(reply_write)
        os.close(console)
        return _StartUp(process, reply_read, self.environment, errors, self.not_held)

    @property
    def start_up_pid(self):
        """The pid of the start-up process now asked for trainings (None before the first)."""
        return None if self._up is None else self._up.process.pid

    def _send(self, request):
        """Ask the start-up process for a training, in the environment this WarmStarts was given
        (a kept start-up process was started in another one's: the BENCH_* variables differ)."""
        started_in = self._up.environment
        unset = [name for name in started_in if name.startswith("BENCH_") and name not in self.environment]
        changed = {name: value for name, value in self.environment.items() if started_in.get(name) != value}
        request = {**request, "env": {**changed, **request["env"]}, "unset": unset}
        try:
            self._up.process.stdin.write(json.dumps(request).encode() + b"\n")
            self._up.process.stdin.flush()
        except OSError:  # it has died: collect() starts another, which is asked again
            pass

    def start(self, args, output, env):
        """Ask for a `bench <args>` training: its output goes to the open file `output` (None:
        this console), `env` is added to its environment. Returns its ForkedTraining."""
        request = {"args": list(args), "output": None if output is None else output.name, "env": dict(env),
                   "cwd": os.getcwd()}
        training = ForkedTraining(self, request, lambda: self.cold_start(args, output, env))
        if self.broken:
            training.start_cold()
            return training
        self.pending.append(training)
        if self._up is None:  # at the first training: a sweep or search that trains nothing imports nothing
            self._open()  # (which sends what is pending)
        else:
            self._send(request)
        return training

    def collect(self, block=False):
        """Hand the pids the start-up process has answered to their trainings (with `block`,
        wait for one answer at least)."""
        while self.pending:
            up = self._up
            if b"\n" not in up.unread:
                if not block and not select.select([up.replies], [], [], 0)[0]:
                    return
                chunk = os.read(up.replies, 4096)
                if not chunk:
                    self._replace()
                    continue
                up.unread += chunk
                continue
            line, up.unread = up.unread.split(b"\n", 1)
            answer = json.loads(line)
            if "not_held" in answer:  # it ends: the next one is told
                self.not_held.append(answer["not_held"])
                continue
            up.answers += 1
            self.pending.popleft().started(answer["pid"])
            block = False

    def _replace(self):
        """The start-up process ended: another, unless two in a row died before their first answer."""
        dead, self._up = self._up, None
        dead.process.wait()
        self._silent_deaths = 0 if dead.answers else self._silent_deaths + 1
        if self._silent_deaths < 2:
            dead.end()
            self._up = self._started()
            self._send_pending()
            return
        dead.errors.seek(0)
        self.broken = dead.errors.read().decode("utf-8", "replace") or "(no output)"
        dead.end()
        self.warn(self.broken)
        while self.pending:
            self.pending.popleft().start_cold()

    def close(self):
        """Leave the start-up process to the next WarmStarts of this process (or end it, when a
        training is still unanswered). The trainings it forked go on (they are this process's
        children); one still unanswered is not started."""
        global _kept
        up, self._up = self._up, None
        if up is not None:
            if self.pending or up.process.poll() is not None:
                up.process.kill()
                up.end()
            else:
                end_kept()
                _kept = up
        prctl(PR_SET_CHILD_SUBREAPER, 0)  # orphans of later work go to init again, as before
