"""Streaming your own data: training speed from a folder of PNG files, from TFRecord
shards and from memory, side by side; peak memory for 20,000 vs 100,000 images;
time to the first step.

    python benchmarks/streaming.py [--small 20000] [--large 100000] [--rounds 2]
    python benchmarks/streaming.py --small 200 --large 0 --rounds 1 --modes folder   # a smoke run

The PNG folders (64x64x3, real PNG files) are generated once into
~/.cache/bench-benchmarks/streaming/ (outside the repository) and the TFRecord
shards are written there by `bench prepare`. Every measurement is its own
`bench train` process (ConvAE, batch 128, one epoch): the modes run in turn,
`--rounds` times, and each ratio is taken within a round, since these machines
are noisy. Peak RSS is the process's own (wait4's ru_maxrss); for the 20,000 vs
100,000 comparison both folder runs are stopped with SIGINT the same number of
seconds after their first step, so they have done the same work.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PROJECT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bench-benchmarks" / "streaming"
SIDE = 64
TRAIN = ("train", "-m", "ConvAE", "--epochs", "1", "--batch-size", "128")

MEMORY_PLUGIN = '''
import numpy as np
from PIL import Image

from bench import Input
from bench.data.folders import folder_input


class {name}(Input):
    """The PNG folder's images, decoded into memory first (the same files and splits as folder:)."""
    image_shape = ({side}, {side}, 3)

    def load(self, split):
        folder = folder_input(__import__("pathlib").Path({root!r}))(self.data_dir, self.report)
        paths = folder.load(split).paths
        return np.stack([np.asarray(Image.open(path).convert("RGB")) for path in paths]), None
'''


def make_pngs(count):
    """A folder of `count` 64x64x3 PNG files (smooth random pictures with noise), made once."""
    folder = CACHE / f"png-{count}"
    if (folder / ".complete").is_file():
        return folder
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    started = time.perf_counter()
    for index in range(count):
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).resize((SIDE, SIDE), Image.BILINEAR)
        noisy = np.clip(np.asarray(small, np.int16) + rng.integers(-12, 13, (SIDE, SIDE, 3)), 0, 255)
        sub = folder / f"{index // 1000:03d}"  # a thousand files a folder
        sub.mkdir(exist_ok=True)
        Image.fromarray(noisy.astype(np.uint8)).save(sub / f"{index:06d}.png")
        if index % 5000 == 4999:
            print(f"  made {index + 1:,} of {count:,} PNG files ({time.perf_counter() - started:.0f} s)", flush=True)
    (folder / ".complete").write_text(str(count))
    return folder


def bench_process(args, cwd, stop_after_first_step_s=None):
    """Run `bench ARGS`; (exit code, peak RSS in MiB, wall seconds)."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bench", *map(str, args)], cwd=cwd, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if stop_after_first_step_s is not None:
        for line in process.stdout:
            if line.startswith("starting "):
                break
        time.sleep(stop_after_first_step_s)  # measured from the run's start, its first step close behind
        os.kill(process.pid, signal.SIGINT)  # not send_signal: its poll() could reap the child before wait4
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 130):
        raise SystemExit(f"bench {' '.join(map(str, args))} failed ({code}):\n{output[-3000:]}")
    return code, usage.ru_maxrss / 1024, time.perf_counter() - started


def results_of(log_dir):
    (path,) = [p for p in Path(log_dir).glob("ConvAE/*/results.json")]
    return json.loads(path.read_text())


def decode_rate(folder, workspace):
    """Images/s at which tf.data reads and decodes the folder's PNG files on this machine's cores."""
    code = (
        "import time, sys; from pathlib import Path; from bench.data.folders import folder_input; "
        "from bench.data import datasets; d = folder_input(Path(sys.argv[1]))('.', None); files = d.load('train'); "
        "from bench.data.splits import FileSplit; s = FileSplit(files.paths[:8000], None, "
        "datasets.image_decoder(d.image_shape), d.image_shape); it = iter(s.shuffled(0).batch(128).prefetch(4)); "
        "next(it); t = time.perf_counter(); n = sum(len(b) for b in it); print(n / (time.perf_counter() - t))")
    env = dict(os.environ, PYTHONPATH=str(PROJECT), TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=workspace, env=env, capture_output=True,
                          text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def show_speeds(speeds, decoded, options):
    """The median speeds, their ratios to memory (taken within each round) and what limits the folder."""
    print(f"ConvAE, 64x64x3, batch 128, {options.small:,} training images, {os.cpu_count()} CPUs, "
          f"median of {options.rounds} rounds:")
    for mode, values in speeds.items():
        ratio = ""
        if mode != "memory" and "memory" in speeds:
            ratio = f"  = {statistics.median(s / m for s, m in zip(values, speeds['memory'])):.2f}x memory"
        print(f"  from {mode:10s} {statistics.median(values):8,.0f} img/s{ratio}")
    slowest = min(statistics.median(values) for values in speeds.values())
    limit = "decoding" if decoded < slowest else "training"
    print(f"  PNG decoding alone (tf.data, all cores): {decoded:,.0f} img/s: the folder's speed is limited by {limit}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=100_000, help="0: no memory comparison")
    parser.add_argument("--rounds", type=int, default=2, help="0: only the memory comparison")
    parser.add_argument("--stop-after", type=float, default=45.0, help="seconds of the memory comparison runs")
    parser.add_argument("--modes", default="memory,tfrecord,folder", help="where the images come from")
    options = parser.parse_args()
    chosen = options.modes.split(",")
    print(f"PNG folders in {CACHE}", flush=True)
    small, large = make_pngs(options.small), (make_pngs(options.large) if options.large else None)
    shards = CACHE / f"tfrecord-{options.small}"
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as workspace:
        if "tfrecord" in chosen and not (shards / "manifest.json").is_file():
            bench_process(["prepare", f"folder:{small}", "--out", shards], workspace)
        memory = f"Memory{options.small}"
        (Path(workspace) / "inputs").mkdir()
        (Path(workspace) / "inputs" / f"{memory}.py").write_text(
            MEMORY_PLUGIN.format(name=memory, side=SIDE, root=str(small)))
        modes = {"memory": memory, "tfrecord": f"tfrecord:{shards}", "folder": f"folder:{small}"}
        modes = {mode: dataset for mode, dataset in modes.items() if mode in chosen}
        speeds = {mode: [] for mode in modes}
        for round_ in range(options.rounds):
            for mode, dataset in modes.items():
                log = Path(workspace) / f"log-{mode}-{round_}"
                _, rss, wall = bench_process([*TRAIN, "-d", dataset, "--log-dir", log], workspace)
                results = results_of(log)
                speeds[mode].append(results["train_images_per_second"])
                print(f"round {round_ + 1} {mode:8s} {results['train_images_per_second']:8,.0f} img/s  "
                      f"first step {results['seconds_to_first_step']:6.1f} s  peak RSS {rss:7,.0f} MiB", flush=True)
        decoded = decode_rate(small, workspace) if options.rounds else None
        peaks, first_steps = {}, {}
        for count, folder in ((options.small, small), (options.large, large)) if options.large else ():
            log = Path(workspace) / f"log-rss-{count}"
            _, peaks[count], _ = bench_process([*TRAIN, "-d", f"folder:{folder}", "--log-dir", log], workspace,
                                               stop_after_first_step_s=options.stop_after)
            first_steps[count] = results_of(log)["seconds_to_first_step"]
    print()
    if options.rounds:
        show_speeds(speeds, decoded, options)
    if not options.large:
        return
    print(f"peak RSS, folder streaming, stopped {options.stop_after:g} s into training: "
          f"{options.small:,} images {peaks[options.small]:,.0f} MiB, {options.large:,} images "
          f"{peaks[options.large]:,.0f} MiB (ratio {peaks[options.large] / peaks[options.small]:.2f})")
    print(f"time to the first step: {options.small:,} images {first_steps[options.small]:.1f} s, "
          f"{options.large:,} images {first_steps[options.large]:.1f} s")


if __name__ == "__main__":
    main()
