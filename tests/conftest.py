"""Shared fixtures: a workspace folder, the CLI, dataset files in the real formats,
and a loopback HTTP server that can also serve corrupt and truncated files."""

import contextlib
import fcntl
import gzip
import hashlib
import io
import itertools
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli

# pytest-xdist's workers set COLUMNS=80; bench's output to a pipe is as wide as its tables
# unless COLUMNS says otherwise, so the tests see a pipe's, and set COLUMNS where they test a width.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
# The workers already fill the two cores a test machine has: TensorFlow's own pools of two
# threads each would only fight over them (25 % slower trainings). One thread per pool, in the
# workers and the processes they start; the tests marked `all_threads` (the bit-for-bit ones)
# run their processes with TensorFlow's defaults, as a user's are.
THREAD_POOLS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
for _pool in THREAD_POOLS:
    os.environ.setdefault(_pool, "1")

PROJECT = Path(__file__).resolve().parent.parent
# The README and the guide's pages (docs/reference.md is generated from the code, and checked apart).
DOC_FILES = [PROJECT / "README.md", *sorted(path for path in (PROJECT / "docs").glob("*.md") if path.name != "reference.md")]
README = "\n".join(path.read_text() for path in DOC_FILES)
BUILTIN_MODELS = ["SingleLayerCAE", "StackedCAE", "StackedDenoisingCAE", "FullyConnectedAE", "ConvAE",
                  "UndercompleteCAE", "SparseAE", "ContractiveAE", "VAE"]


# -- the unit tier: no TensorFlow --------------------------------------------------

class _TensorFlowWhenUsed:
    """`tf` for the test modules: TensorFlow imported at its first use inside a test, not when
    the module is collected (the unit tier collects every module and imports no TensorFlow)."""

    def __getattr__(self, name):
        if name.startswith("__"):  # pytest's collector asks what the module's names are
            raise AttributeError(name)
        import tensorflow

        return getattr(tensorflow, name)


tf = _TensorFlowWhenUsed()


@pytest.fixture(autouse=True)
def unit_tests_import_no_tensorflow(request):
    """A test marked `unit` must not import TensorFlow (the unit tier runs in under a minute
    because none does): it fails when TensorFlow was not imported before it and is after."""
    unit = request.node.get_closest_marker("unit") is not None
    before = "tensorflow" in sys.modules
    yield
    if unit and not before:
        assert "tensorflow" not in sys.modules, (
            f"{request.node.nodeid} is marked unit but imported TensorFlow: mark it otherwise, or keep "
            "TensorFlow out of what it runs")


_STARTED = []


def started(process):
    """`process` (a subprocess.Popen a test started), registered so that the test's end kills
    it if it still runs: a failed test leaves no worker spinning through the rest of the suite."""
    _STARTED.append(process)
    return process


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    """Kill what the test started and left running (its process group, when it has its own:
    a search's trials end with their worker anyway)."""
    yield
    while _STARTED:
        process = _STARTED.pop()
        if process.poll() is None:
            try:
                if os.getpgid(process.pid) == process.pid:
                    os.killpg(process.pid, signal.SIGKILL)
                else:
                    process.kill()
            except ProcessLookupError:  # it ended meanwhile
                pass
            process.wait()


def unit_but(cases, *with_tensorflow):
    """Parametrize cases, each marked unit but those at the indices `with_tensorflow` (their
    error is found once TensorFlow has loaded the data or the devices)."""
    return [pytest.param(*case, marks=() if index in with_tensorflow else pytest.mark.unit)
            for index, case in enumerate(cases)]


# -- the order of the tests --------------------------------------------------------

# The longest tests (tens of seconds each: processes that import TensorFlow, or many trainings),
# longest first. pytest-xdist hands each worker an equal share of the collection, in order, and a
# worker that runs out takes tests from the end of another's: these start every share, so that no
# long test is left to run alone at the end (the suite took 48 s longer when one was).
LONGEST_FIRST = (
    "test_readme.py::test_the_readme_top_to_bottom_in_one_folder",
    "test_warm.py::test_warm_trainings_equal_cold_ones_bit_for_bit",
    "test_search.py::test_two_workers_share_a_study_in_postgresql",
    "test_search.py::test_a_grid_on_two_workers_survives_killed_trials",
    "test_confirmation.py::test_a_search_confirms_its_best_trials",
    "test_distribute.py::test_two_workers_on_loopback_match_one_device",
    "test_concurrency.py::test_an_evaluation_during_training_loses_no_record",
    "test_warm.py::test_a_dataset_drawing_random_numbers_is_held_per_seed",
    "test_use.py::test_an_export_reproduces_bench_s_codes",
    "test_search.py::test_a_killed_workers_trial_is_retried_once",
    "test_distribute.py::test_mirrored_over_two_cpu_devices",
    "test_reload.py::test_every_model_reloads_to_the_trained_numbers",
    "test_distribute.py::test_two_workers_stream_an_image_folder",
    "test_warm.py::test_a_killed_start_up_process",
    "test_use.py::test_export_and_prepare_start_tensorflow",
    "test_signals.py::test_a_stopped_run_resumes_to_the_uninterrupted_numbers",
)


def pytest_collection_modifyitems(config, items):
    """Deal LONGEST_FIRST out to the starts of the workers' shares of the collection (the shares
    xdist's work-stealing scheduler sends: of what is left, an equal part to each worker in turn)."""
    def rank(item):
        return next((index for index, prefix in enumerate(LONGEST_FIRST)
                     if item.nodeid.split("/")[-1].startswith(prefix)), None)

    workers = getattr(config, "workerinput", {}).get("workercount", 1)
    longest = sorted((item for item in items if rank(item) is not None), key=rank)
    rest = [item for item in items if rank(item) is None]
    ordered, left = [], len(items)
    for worker in range(workers):
        share = left // (workers - worker)
        left -= share
        mine = longest[worker::workers]
        ordered += mine + rest[:max(0, share - len(mine))]
        rest = rest[max(0, share - len(mine)):]
    items[:] = ordered + rest


# -- the workspace and the CLI ---------------------------------------------------

@pytest.fixture
def workspace(tmp_path, monkeypatch, request):
    """An empty current directory with its own data cache; no BENCH_* or TF_CONFIG from outside.
    Runs write TensorBoard's scalars only and no ending's pictures or projector
    (BENCH_SUMMARIES=scalars, BENCH_EXTRAS=none, which change no number): a test that looks at
    histograms or images asks for `--summaries all`; one marked `extras` gets the ending's
    pictures and projector (BENCH_EXTRAS=all)."""
    for key in list(os.environ):
        if key.startswith("BENCH_") or key == "TF_CONFIG":
            monkeypatch.delenv(key)
    if request.node.get_closest_marker("all_threads"):
        for pool in THREAD_POOLS:
            monkeypatch.delenv(pool, raising=False)
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_SUMMARIES", "scalars")
    monkeypatch.setenv("BENCH_EXTRAS", "all" if request.node.get_closest_marker("extras") else "none")
    return folder


class Result:
    """What a bench command did: exit code, standard output and error."""

    def __init__(self, exit_code, stdout, stderr):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    def __repr__(self):
        return f"<exit {self.exit_code}\nstdout:\n{self.stdout}\nstderr:\n{self.stderr}>"


def bench(*args, env=None):
    """Run `bench ARGS` in this process (TensorFlow stays imported between tests), in the
    environment a user's command would see: without the test's name that pytest keeps in
    PYTEST_CURRENT_TEST (it changes with every test, and a sweep's start-up process is handed
    on only to a command of the same environment, as from one notebook cell to the next)."""
    env = {"PYTEST_CURRENT_TEST": None, **(env or {})}
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)
    return Result(result.exit_code, result.stdout, result.stderr)


def bench_process(*args, cwd=None, env=None, **popen):
    """Start `python -m bench ARGS` as its own process."""
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = str(PROJECT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return started(subprocess.Popen([sys.executable, "-m", "bench", *map(str, args)], cwd=cwd, env=full_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen))


def assert_one_line_error(result, *fragments, exit_code=None):
    """A failed command: the exit code, one `error:` line naming the fragments, no traceback."""
    assert result.exit_code != 0, result
    if exit_code is not None:
        assert result.exit_code == exit_code, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1, result
    assert "Traceback" not in result.stderr + result.stdout, result
    for fragment in fragments:
        assert fragment.lower() in errors[0].lower(), result


# -- datasets in the real file formats -------------------------------------------

def idx_bytes(array):
    """An array of unsigned bytes in the IDX format, gzipped."""
    magic = 0x0800 | array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), mtime=0)


def md5(data):
    """The hex MD5 of bytes."""
    return hashlib.md5(data).hexdigest()


MNIST_NAMES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def mnist_files(n_train=200, n_test=40, seed=0):
    """{file name: bytes} of a small MNIST-format dataset (28×28 blobs, labels 0..9)."""
    rng = np.random.default_rng(seed)

    def images(n):
        yy, xx = np.mgrid[:28, :28]
        centres = rng.uniform(8, 20, size=(n, 2))
        blobs = np.exp(-((yy - centres[:, :1, None]) ** 2 + (xx - centres[:, 1:, None]) ** 2) / 18.0)
        return (blobs * 255).astype(np.uint8)

    return {
        MNIST_NAMES["train_images"]: idx_bytes(images(n_train)),
        MNIST_NAMES["train_labels"]: idx_bytes(rng.integers(0, 10, n_train)),
        MNIST_NAMES["test_images"]: idx_bytes(images(n_test)),
        MNIST_NAMES["test_labels"]: idx_bytes(rng.integers(0, 10, n_test)),
    }


def cifar_records(n, seed):
    """n CIFAR-10 binary records: 1 label byte + 3,072 pixel bytes each."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, (n, 1), dtype=np.uint8)
    pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    return np.concatenate([labels, pixels], axis=1).tobytes()


def cifar_archive(n_per_batch=20, n_test=20, extra_members=()):
    """The bytes of a cifar-10-binary.tar.gz with five small training batches and a test batch."""
    members = {f"cifar-10-batches-bin/data_batch_{i}.bin": cifar_records(n_per_batch, i) for i in range(1, 6)}
    members["cifar-10-batches-bin/test_batch.bin"] = cifar_records(n_test, 9)
    members["cifar-10-batches-bin/batches.meta.txt"] = b"\n".join(
        name.encode() for name in ("airplane", "automobile", "bird", "cat", "deer",
                                   "dog", "frog", "horse", "ship", "truck"))
    members.update(extra_members)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_plugin(folder, name, source):
    """Write a workspace plugin file `folder/name.py`."""
    path = Path(folder) / f"{name}.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def write_tiny_mnist(workspace, mirrors, files, name="TinyMNIST", sizes=False):
    """A workspace dataset plugin in MNIST's format, served from `mirrors` (with `sizes`,
    each file's size declared too)."""
    checksums = {key: (filename, md5(files[filename])) + ((len(files[filename]),) if sizes else ())
                 for key, filename in MNIST_NAMES.items()}
    return write_plugin(workspace / "inputs", name, f'''
        from bench import IdxImageInput

        class {name}(IdxImageInput):
            """A small MNIST-format fixture served from loopback."""
            folder = "tiny-mnist"
            mirrors = {tuple(mirrors)!r}
            files = {checksums!r}
        ''')


def write_tiny_cifar(workspace, mirrors, archive, name="TinyCifar"):
    """A workspace dataset plugin in CIFAR-10's binary format, served from `mirrors`."""
    return write_plugin(workspace / "inputs", name, f'''
        from bench import CifarBinaryInput

        class {name}(CifarBinaryInput):
            """A small CIFAR-10-format fixture served from loopback."""
            folder = "tiny-cifar"
            mirrors = {tuple(mirrors)!r}
            archive = ("cifar-10-binary.tar.gz", {md5(archive)!r})
        ''')


# -- a loopback HTTP server --------------------------------------------------------

class FileServer:
    """Serves `files` ({name: bytes}) on 127.0.0.1 under five prefixes:
    /good/NAME intact, /corrupt/NAME with one byte changed, /truncated/NAME cut
    in half after announcing the full length, /trickle/NAME one byte every 0.2 s,
    /endless/NAME without a length, over and over until the client hangs up.
    Counts the requests it answers."""

    def __init__(self, files):
        self.files = files
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                _, mode, name = self.path.split("/", 2)
                data = server.files.get(name)
                if data is None or mode not in ("good", "corrupt", "truncated", "trickle", "endless"):
                    self.send_error(404)
                    return
                if mode == "corrupt":
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                self.send_response(200)
                if mode != "endless":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    if mode in ("trickle", "endless"):
                        for index in itertools.count():
                            if mode == "trickle":
                                self.wfile.write(data[index % len(data):][:1])
                                time.sleep(0.2)
                            else:
                                self.wfile.write(data)
                            self.wfile.flush()
                    self.wfile.write(data[: len(data) // 2] if mode == "truncated" else data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up, as it should

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, mode):
        """The base URL (ending in /) of one serving mode."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{mode}/"

    def stop(self):
        """Shut the server down."""
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve():
    """Start FileServers for the test; all are stopped at its end."""
    servers = []

    def start(files):
        server = FileServer(files)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def free_ports(count):
    """`count` distinct loopback ports where nothing listens now."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def closed_port_url():
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_ports(1)[0]}/"


DEFAULT_RUN_NAME = "Adam_lr=0.001"  # bench train's defaults: Adam at its learning rate


def run_dir(model, parts="", dataset="Digits", log_dir="log", epochs=2):
    """The folder of a run of `epochs` epochs trained with bench's default optimizer:
    <log>/<model>/<dataset>_Adam_lr=0.001<parts>_epochs=<epochs> (`parts` as the name spells
    them, e.g. "_l2=0.01" or "_seed=2"; no length for DTB's 150)."""
    length = "" if epochs == 150 else f"_epochs={epochs}"
    return Path(log_dir) / model / f"{dataset}_{DEFAULT_RUN_NAME}{parts}{length}"


def planned(*args):
    """What `bench train ARGS` would train, read as that command reads its options (the
    command line, a --config file, BENCH_* variables, the defaults) and planned as it plans,
    without training: (its bench.run.planning.Plan, its resolved TrainConfig)."""
    from bench.commands.train import train
    from bench.run.config import TrainConfig
    from bench.run.planning import plan_run, resolve_config

    with train.make_context("train", [str(arg) for arg in args]) as ctx:
        options = {key: value for key, value in ctx.params.items() if key not in ("restart", "repeats")}
    config = TrainConfig(**options)
    return plan_run(config), resolve_config(config)[0]


def read_results(run_folder):
    """A run's results.json."""
    return json.loads((Path(run_folder) / "results.json").read_text())


def readme_command(fragment):
    """The README's one `bench ...` line that contains `fragment`, as arguments (after `bench`)."""
    lines = [line.strip() for line in README.splitlines() if line.startswith("    bench ") and fragment in line]
    assert len(lines) == 1, lines
    return shlex.split(lines[0])[1:]


# README commands that a test file runs as shown, with more checks, instead of test_readme.py.
README_RUN_ELSEWHERE = {
    "--epochs 10 --classes 0,1,2,3,4": "test_use.py",
    "--anomaly --probe-labels 10,50": "test_use.py",
}


def heredoc_files():
    """{file name: text} of the README's `cat > NAME <<'YAML' ... YAML` blocks."""
    blocks = re.findall(r"    cat > (\S+) <<'YAML'\n(.*?)    YAML\n", README, flags=re.S)
    return {name: "\n".join(line[4:] for line in text.splitlines()) + "\n" for name, text in blocks}


def readme_plugin_examples():
    """{relative path: source} of the README's python blocks that start with '# models/...'."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    return {block.splitlines()[0][2:].strip(): block for block in blocks if block.startswith("# ")}


def files_of(folder):
    """{relative path: sha256} of every file under `folder`: a snapshot to check that nothing changed
    (but the runs' lock files, `.<run>.lock`, which a training takes before it reads a run's state)."""
    folder = Path(folder)
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and not (path.name.startswith(".") and path.name.endswith(".lock"))}


@contextlib.contextmanager
def inside(folder):
    """Run the block with `folder` as the current directory."""
    previous = os.getcwd()
    os.chdir(folder)
    try:
        yield Path(folder)
    finally:
        os.chdir(previous)


# A model whose layers live in a list, a dict, a nested Keras layer and a Sequential.
HOLDERS_MODEL = '''
    import keras
    from bench import Autoencoder


    class Block(keras.layers.Layer):
        """A nested layer holding two layers of its own."""

        def __init__(self, filters):
            super().__init__()
            self.first = keras.layers.Conv2D(filters, 3, padding="same", activation="relu")
            self.second = keras.layers.Conv2D(filters, 3, padding="same", activation="tanh")

        def call(self, x):
            return self.second(self.first(x))


    class Holders(Autoencoder):
        """Layers held in a list, a dict, a nested layer and a Sequential."""

        def __init__(self):
            super().__init__()
            self.stack = [keras.layers.Conv2D(8, 3, padding="same", activation="relu") for _ in range(2)]
            self.named = {"middle": keras.layers.Conv2D(8, 1, activation="relu")}
            self.block = Block(4)

        def build(self, input_shape):
            self.head = keras.Sequential([keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
                                          keras.layers.Conv2D(input_shape[-1], 3, padding="same",
                                                              activation="tanh")])

        def get(self, images, train_phase=False, l2_penalty=0.0):
            x = images
            for layer in self.stack:
                x = layer(x)
            code = self.block(self.named["middle"](x))
            return code, self.head(code)
    '''


def process_env(overrides):
    """os.environ with CliRunner-style `overrides` applied (None removes a variable) and
    this checkout on PYTHONPATH: the environment of a bench process started by a test."""
    env = {key: value for key, value in os.environ.items() if overrides.get(key, "") is not None}
    env.update({key: value for key, value in overrides.items() if value is not None})
    env["PYTHONPATH"] = str(PROJECT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def train_quietly(*args, env):
    """`bench train ARGS` in this process; the run must succeed."""
    result = bench("train", *args, env=env)
    assert result.exit_code == 0, result
    return result


def shared_folder(tmp_path_factory, worker_id, name):
    """A folder that every pytest-xdist worker of this session sees (in this session's
    own base folder when there are no workers)."""
    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent  # pytest-N/, the parent of each worker's popen-gwK/
    return root / name


# The zoo's runs whose histograms, pictures and projector tests look at (test_tensorboard.py's).
ZOO_IN_FULL = ("SingleLayerCAE", "ConvAE")


@pytest.fixture(scope="session")
def zoo_runs(tmp_path_factory, worker_id):
    """Every built-in model, the README's TinyCAE and Holders, each trained 2 epochs on
    Digits into one shared workspace, once per session whatever the number of workers
    (they share the training out): (workspace, {model: run folder}, env). Tests copy a
    run (or the workspace) before they change or evaluate it. The runs of ZOO_IN_FULL write
    everything a user's run does; the others, scalars only and no ending's pictures or
    projector, which nobody looks at (the same numbers, a third less time)."""
    folder = shared_folder(tmp_path_factory, worker_id, "zoo")
    env = {key: None for key in os.environ if key.startswith("BENCH_") or key == "TF_CONFIG"}
    env["BENCH_DATA_DIR"] = str(folder / "cache")
    models = BUILTIN_MODELS + ["TinyCAE", "Holders"]
    runs = {model: folder / run_dir(model) for model in models}
    (folder / "locks").mkdir(parents=True, exist_ok=True)
    with open(folder / "locks" / "plugins", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "models").exists():  # once: another worker may be importing them
            write_plugin(folder / "models", "Holders", HOLDERS_MODEL)
            (folder / "models" / "TinyCAE.py").write_text(readme_plugin_examples()["models/TinyCAE.py"])
    waiting = list(models)
    while waiting:  # take the first model nobody trains yet; wait only when all are taken
        for model in list(waiting):
            with open(folder / "locks" / model, "w") as lock:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | (fcntl.LOCK_NB if model != waiting[-1] else 0))
                except BlockingIOError:
                    continue
                if not (folder / "locks" / f"{model}.done").exists():
                    lean = {} if model in ZOO_IN_FULL else {"BENCH_SUMMARIES": "scalars", "BENCH_EXTRAS": "none"}
                    with inside(folder):
                        train_quietly("-m", model, "-d", "Digits", "--epochs", "2", env={**env, **lean})
                    (folder / "locks" / f"{model}.done").write_text("")
                waiting.remove(model)
                break
    return folder, runs, env


# -- TensorBoard event files ----------------------------------------------------

def event_tags(folder):
    """{tag: [(step, plugin name)]} of every event file in `folder`."""
    import tensorflow as tf

    tags = {}
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append((event.step, value.metadata.plugin_data.plugin_name))
    return tags


def scalar_values(folder, tag):
    """[(step, value)] of a scalar tag in the event files of `folder`."""
    import tensorflow as tf

    values = []
    for path in sorted(Path(folder).glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.tag == tag:
                    values.append((event.step, float(tf.make_ndarray(value.tensor))))
    return values
