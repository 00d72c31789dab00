"""Retake the documentation's TensorBoard screenshots (docs/hparams.png, docs/images.png,
docs/projector.png) from a real TensorBoard, in headless Chromium:

    python docs/screenshots.py                  # trains the runs it shows, in a temporary folder
    python docs/screenshots.py --log-dir log    # shows runs you already have

The runs it trains: SingleLayerCAE, ConvAE and VAE on Digits, L2 0 and 0.001, 8 epochs
(`bench sweep`, about two minutes on two cores). Needs the project (pip install -e .) and
Chromium (Debian: apt install chromium; or --chromium PATH).
"""

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
SWEEP = ["--model", "SingleLayerCAE,ConvAE,VAE", "--dataset", "Digits", "--epochs", "8", "--batch-size", "128",
         "--l2-penalty", "0,0.001", "--jobs", "2"]
PAGES = {"hparams.png": "#hparams", "images.png": "#images", "projector.png": "#projector"}
# Headless Chromium on a closed network: no background connections, no first-run work.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader", "--disable-quic",
                  "--no-first-run", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--hide-scrollbars", "--window-size=1500,800"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def train(log_dir):
    """The runs the screenshots show, trained by `bench sweep` into `log_dir`."""
    print(f"training the runs to show into {log_dir} ...", flush=True)
    subprocess.run([sys.executable, "-m", "bench", "sweep", *SWEEP, "--log-dir", str(log_dir)], check=True)


def serve(log_dir, port):
    """TensorBoard over `log_dir`, once it lists the runs; the process."""
    server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir), "--port", str(port),
                               "--host", "127.0.0.1", "--reload_interval", "1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as answer:
                if json.loads(answer.read()):
                    time.sleep(5)  # a reload or two more, so every run's plugins are read
                    return server
        except OSError:
            pass
        time.sleep(1)
    server.kill()
    sys.exit("TensorBoard did not list any run within 120 s")


def screenshot(chromium, url, out, wait_ms):
    """A PNG of `url` after `wait_ms` of the page's own time."""
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--virtual-time-budget={wait_ms}",
                        f"--screenshot={out}", url], check=True, capture_output=True, timeout=180)
    print(f"wrote {out}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log-dir", help="runs to show (default: train them in a temporary folder)")
    parser.add_argument("--out", default=str(DOCS), help="where the PNG files go [docs/]")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--wait-ms", type=int, default=20000, help="page time before each screenshot")
    args = parser.parse_args()
    if not args.chromium:
        sys.exit("Chromium is needed: apt install chromium (or --chromium PATH)")
    with tempfile.TemporaryDirectory() as temporary:
        log_dir = Path(args.log_dir) if args.log_dir else Path(temporary) / "log"
        if not args.log_dir:
            train(log_dir)
        port = free_port()
        server = serve(log_dir, port)
        try:
            for name, fragment in PAGES.items():
                screenshot(args.chromium, f"http://127.0.0.1:{port}/{fragment}", Path(args.out) / name, args.wait_ms)
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
