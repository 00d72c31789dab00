"""Peak memory (RSS) of `bench train` on CIFAR-10 shapes with 50,000 training images.

    python benchmarks/memory.py --data-dir ../shared/data [--model SingleLayerCAE]
    python benchmarks/memory.py --dataset Digits --images 2000   # offline, a smoke run

The images are the real CIFAR-10 sample in ../shared/data repeated to 50,000
training images (a workspace dataset plugin, `Repeated`), trained for one
epoch in a fresh process; the peak RSS is the child's ru_maxrss. Beside it:
a bare `python -c "import tensorflow"` for TensorFlow's own share, and what
the 50,000 images take as uint8 (as bench keeps them) and as float32.
Target: under 2 GiB.
"""

import argparse
import math
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT))

from bench import plugin_class  # noqa: E402  (finding a plugin imports no TensorFlow)

PLUGIN = '''
    import numpy as np

    from bench import plugin_class

    Source = plugin_class("dataset", "{dataset}")


    class Repeated(Source):
        """The {dataset} images at hand repeated to {images:,} training images (memory benchmark)."""

        def load(self, split):
            images, labels = super().load(split)
            if split == "train":
                repeats = -(-{images} // len(images))
                images, labels = np.tile(images, (repeats, 1, 1, 1))[:{images}], np.tile(labels, repeats)[:{images}]
            return images, labels
    '''


def peak_rss_mib(command, folder):
    """The peak RSS of `command` run to completion as a child of a fresh helper process."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", probe, *command], cwd=folder, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(PROJECT)))
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return int(done.stdout.strip().splitlines()[-1]) / 1024, time.perf_counter() - started, done.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(PROJECT.parent / "shared" / "data"))
    parser.add_argument("--model", default="SingleLayerCAE")
    parser.add_argument("--dataset", default="Cifar10")
    parser.add_argument("--images", type=int, default=50_000)
    args = parser.parse_args()
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss == 0  # nothing measured yet
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "inputs").mkdir()
        (folder / "inputs" / "Repeated.py").write_text(textwrap.dedent(PLUGIN.format(dataset=args.dataset,
                                                                                    images=args.images)))
        tensorflow, _, _ = peak_rss_mib([sys.executable, "-c", "import tensorflow"], folder)
        train, seconds, out = peak_rss_mib([sys.executable, "-m", "bench", "train", "--model", args.model,
                                            "--dataset", "Repeated", "--epochs", "1",
                                            "--data-dir", str(Path(args.data_dir).resolve())], folder)
    uint8 = args.images * math.prod(plugin_class("dataset", args.dataset).image_shape) / 2**20
    print(f"peak RSS of bench train --model {args.model} on {args.images:,} {args.dataset}-shaped images, 1 epoch "
          f"({seconds:.0f} s): {train:,.0f} MiB (target < 2,048 MiB)")
    print(f"  for scale: import tensorflow alone {tensorflow:,.0f} MiB; the images {uint8:,.0f} MiB as uint8 "
          f"(how bench keeps them), {4 * uint8:,.0f} MiB as float32")
    print("  " + [line for line in out.splitlines() if line.startswith("epoch 1/1")][0])


if __name__ == "__main__":
    main()
