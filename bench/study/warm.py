"""Warm starts for the trainings of sweeps, searches and confirmations.

A training in a process of its own used to pay Python's start, TensorFlow's import (about
4.5 s) and bench's before its first step, once per trial, sweep point and repeat. Here one
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
"""

import collections
import ctypes
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
LAUNCHED_AT = "BENCH_LAUNCHED_AT"
"""The variable that tells a training when its worker asked for it (time.time()): its
seconds_to_first_step count from there."""

PRELOADED = ("bench.cli", "bench.commands.train", "bench.console", "bench.run.train", "bench.study.pruning",
             "bench.pictures", "matplotlib.pyplot", "PIL.Image", "sklearn.datasets", "scipy.stats",
             "tensorboard.plugins.projector", "optuna")
"""What the start-up process imports for its trainings (what a training imported after bench's
commands, found with sys.modules); a module missing here is imported by the training."""


def _prctl(option, value):
    """Linux's prctl(option, value); False where it is not there or fails."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def available():
    """Whether warm starts work here: Linux, where this process can adopt its trainings (it
    becomes a child subreaper until WarmStarts.close)."""
    return sys.platform.startswith("linux") and _prctl(_PR_SET_CHILD_SUBREAPER, 1)


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


class WarmStarts:
    """The worker's side: starts the start-up process (at its first training) and asks it for
    trainings, never waiting for its answers: a worker must go on keeping its trials' leases
    while the start-up process imports. One that dies is
    replaced; if two in a row die before their first answer (a broken environment), the
    trainings start cold from then on, and `warn` says why.

    Args:
        environment: the start-up process's environment (the trainings' base one).
        cold_start: cold_start(args, output, env) starts a training as a process of its own.
        warn: called with the start-up process's error output when the trainings start cold.
    """

    def __init__(self, environment, cold_start, warn):
        self.environment, self.cold_start, self.warn = environment, cold_start, warn
        self.pending = collections.deque()  # the trainings asked for and not answered yet, in order
        self.starts = 0  # how many start-up processes were started (a killed one is replaced)
        self.broken = None  # why the start-up process cannot start (then every training starts cold)
        self._process, self._silent_deaths = None, 0
        self._errors = tempfile.TemporaryFile()  # the start-up process's own error output

    def _open(self):
        reply_read, reply_write = os.pipe()
        console = os.dup(2)  # where a training with no output file writes its errors, as a cold one would
        self._process = subprocess.Popen(
            [sys.executable, "-P", "-m", "bench.study.warm", str(reply_write), str(console)], stdin=subprocess.PIPE,
            stdout=None, stderr=self._errors, pass_fds=(reply_write, console), env=self.environment)
        os.close(reply_write)
        os.close(console)
        self._replies, self._unread, self._answers = reply_read, b"", 0
        self.starts += 1
        for training in self.pending:  # what the one before it left unanswered
            self._send(training.request)

    def _send(self, request):
        try:
            self._process.stdin.write(json.dumps(request).encode() + b"\n")
            self._process.stdin.flush()
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
        if self._process is None:  # at the first training: a sweep or search that trains nothing imports nothing
            self._open()  # (which sends what is pending)
        else:
            self._send(request)
        return training

    def collect(self, block=False):
        """Hand the pids the start-up process has answered to their trainings (with `block`,
        wait for one answer at least)."""
        while self.pending:
            if b"\n" not in self._unread:
                if not block and not select.select([self._replies], [], [], 0)[0]:
                    return
                chunk = os.read(self._replies, 4096)
                if not chunk:
                    self._replace()
                    continue
                self._unread += chunk
                continue
            line, self._unread = self._unread.split(b"\n", 1)
            self._answers += 1
            self.pending.popleft().started(json.loads(line)["pid"])
            block = False

    def _replace(self):
        """The start-up process ended: another, unless two in a row died before their first answer."""
        self._end()
        self._silent_deaths = 0 if self._answers else self._silent_deaths + 1
        if self._silent_deaths < 2:
            self._open()
            return
        self._errors.seek(0)
        self.broken = self._errors.read().decode("utf-8", "replace") or "(no output)"
        self.warn(self.broken)
        while self.pending:
            self.pending.popleft().start_cold()

    def _end(self):
        self._process.wait()
        os.close(self._replies)
        self._process = None

    def close(self):
        """End the start-up process. The trainings it forked go on (they are this process's
        children); one still unanswered is not started."""
        if self._process is not None:
            if self.pending:
                self._process.kill()
            try:
                self._process.stdin.close()
            except OSError:
                pass
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._end()
        self._errors.close()
        _prctl(_PR_SET_CHILD_SUBREAPER, 0)  # orphans of later work go to init again, as before


# -- the start-up process --------------------------------------------------------------------


def _serve(reply_fd, console):
    """Import once, then fork a training for each request line read from stdin; each reply is
    the training's pid. Ends when stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the trainings; the worker ends this one
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # nothing to save here
    worker = os.getppid()
    _preload()
    _set_title("bench: warm start-up process")
    replies = os.fdopen(reply_fd, "w", buffering=1)
    for line in sys.stdin:
        request = json.loads(line)
        replies.write(json.dumps({"pid": _fork_training(request, worker, (reply_fd, console))}) + "\n")


def _preload():
    import importlib

    from bench import tf_runtime

    tf_runtime.import_tensorflow()  # quietly: nothing of TensorFlow runs before the fork
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra not installed: the training does without it too
            pass


def _set_title(title):
    """What ps, top and /proc/PID/cmdline show for this process."""
    try:
        import setproctitle
    except ImportError:
        return
    setproctitle.setproctitle(title)


def _fork_training(request, worker, fds):
    """Fork twice: the middle process ends at once, so the training is adopted by the worker."""
    pid_read, pid_write = os.pipe()
    middle = os.fork()
    if middle == 0:
        os.close(pid_read)
        training = os.fork()
        if training == 0:
            os.close(pid_write)
            _train(request, worker, fds)
        os.write(pid_write, str(training).encode())
        os._exit(0)
    os.close(pid_write)
    os.waitpid(middle, 0)
    with os.fdopen(pid_read, "rb") as pids:
        return int(pids.read())


def _train(request, worker, fds):
    """In the forked training: become the worker's child, then run `bench <args>` as a new
    process would; never returns."""
    code = 1
    try:
        while os.getppid() != worker:  # until the middle process has gone and the worker adopted this one
            if os.getppid() == 1:
                os._exit(128 + signal.SIGTERM)
            time.sleep(0.001)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # the worker's death stops it (saving), as a cold one
        if os.getppid() != worker:
            os._exit(128 + signal.SIGTERM)
        _as_new_process(request, *fds)
        from bench.cli import cli

        cli.main(args=request["args"], prog_name="bench")
    except SystemExit as ended:
        code = ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    except BaseException:  # noqa: B036 (the process ends here whatever happened)
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _as_new_process(request, reply_fd, console):
    """What a new `bench train` process would have: default signals, its folder, environment,
    output, random seeds, title and clock."""
    import random

    import bench

    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.close(reply_fd)
    os.chdir(request["cwd"])
    os.environ.update(request["env"])
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if request["output"] is None:  # the worker's console
        os.dup2(console, 2)
    else:
        output = os.open(request["output"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
    os.close(console)
    random.seed()  # a new process's own, as the system's random bytes give it
    sys.argv = ["bench", *request["args"]]
    _set_title(" ".join(["bench", *request["args"]]))
    bench.STARTED = bench.launch_clock()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
