"""The warm start-up process of trainings (`python -m bench.forkserver REPLY_FD CONSOLE_FD`,
started by bench.study.warm.WarmStarts, which explains why): it imports TensorFlow, bench
and what a training imports, runs nothing of TensorFlow's, and forks a training for each
request line read from stdin ({"args", "output", "env", "unset", "cwd"}), answering its pid on the
reply pipe. A training is forked twice so that the worker adopts it, and it then runs `bench
ARGS` as a new process would. A request's "unset" names the BENCH_* variables its worker's
environment lacks (a worker may be handed a start-up process started in another's).

After each fork it loads that training's dataset too, as the training loads it, and holds it
for the next trainings (bench.data.holding): a dataset is loaded once per (dataset, options).
A load that starts threads (a plugin that runs TensorFlow) makes forking unsafe: the process
then answers {"not_held": DATASET} and ends, and the worker starts another that does not
load that dataset (its names in BENCH_NOT_HELD)."""

import contextlib
import json
import os
import signal
import sys
import time

from bench.study.warm import NOT_HELD, PR_SET_PDEATHSIG, prctl

PRELOADED = ("bench.cli", "bench.commands.train", "bench.console", "bench.run.train", "bench.study.pruning",
             "bench.pictures", "matplotlib.pyplot", "PIL.Image", "sklearn.datasets", "scipy.stats",
             "tensorboard.plugins.projector", "optuna")
"""What the start-up process imports for its trainings (what a training imported after bench's
commands, found with sys.modules); a module missing here is imported by the training."""


def _serve(reply_fd, console):
    """Import once, then fork a training for each request line read from stdin; each reply is
    the training's pid. Ends when stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the trainings; the worker ends this one
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # nothing to save here
    worker = os.getppid()
    _preload()
    _set_title("bench: warm start-up process")
    replies = os.fdopen(reply_fd, "w", buffering=1)
    not_held = set(json.loads(os.environ.get(NOT_HELD, "[]")))
    for line in sys.stdin:
        request = json.loads(line)
        replies.write(json.dumps({"pid": _fork_training(request, worker, (reply_fd, console))}) + "\n")
        dataset = _hold_data(request, not_held)
        if dataset is not None:  # its load started TensorFlow's runtime: forking is no longer safe here
            replies.write(json.dumps({"not_held": dataset}) + "\n")
            return


def _preload():
    import importlib

    from bench import tf_runtime

    tf_runtime.import_tensorflow()  # quietly: nothing of TensorFlow runs before the fork
    for name in PRELOADED:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra not installed: the training does without it too
            pass
    from bench import plugins

    plugins.remember_entry_points()


def _hold_data(request, not_held):
    """Load the dataset of the training just forked into this process too, so that the next
    trainings of it find it in memory (bench.data.holding). Returns the dataset's name if that
    load started threads (TensorFlow's runtime), after which this process must not fork."""
    args = request["args"]
    if args[:2] != ["train", "--config"]:
        return None
    from bench.data import download
    from bench.errors import BenchError
    from bench.run import loading
    from bench.run.config import TrainConfig

    threads, environment, folder, dataset = _thread_count(), dict(os.environ), os.getcwd(), None
    try:
        os.chdir(request["cwd"])
        _take_environment(request)  # the training's BENCH_* options
        config = TrainConfig.from_point({"config": args[2]})
        dataset = config.dataset
        if dataset not in not_held:
            with _output_discarded(), download.refused():  # a plugin's prints and downloads are the trainings'
                loading.hold_data(config)
    except (BenchError, OSError):  # the training meets the same error and says it; holding only saves time
        pass
    finally:
        os.chdir(folder)
        os.environ.clear()
        os.environ.update(environment)
    return dataset if _thread_count() != threads else None


def _take_environment(request):
    """This process's environment as the request's: its variables set, those it unsets gone."""
    for name in request.get("unset", ()):
        os.environ.pop(name, None)
    os.environ.update(request["env"])


def _thread_count():
    return len(os.listdir("/proc/self/task"))


@contextlib.contextmanager
def _output_discarded():
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


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
        middle = os.getpid()  # read before the fork: the training may find itself adopted already
        training = os.fork()
        if training == 0:
            os.close(pid_write)
            _train(request, worker, middle, fds)
        os.write(pid_write, str(training).encode())
        os._exit(0)
    os.close(pid_write)
    os.waitpid(middle, 0)
    with os.fdopen(pid_read, "rb") as pids:
        return int(pids.read())


def _train(request, worker, middle, fds):
    """In the forked training: become the worker's child, then run `bench <args>` as a new
    process would; never returns."""
    code = 1
    try:
        while os.getppid() == middle:  # until the middle process has ended and this one is adopted
            time.sleep(0.001)
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)  # the worker's death stops it (saving), as a cold one
        if os.getppid() != worker:  # adopted by another than the worker: the worker is gone
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
    _take_environment(request)
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
