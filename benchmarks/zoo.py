"""Every model of the zoo, 2 epochs on real MNIST: validation error, parameters, training images/s,
and (with --probe) the linear probe of its codes, measured by `bench eval` from the saved best checkpoint.

    python benchmarks/zoo.py --data-dir ../shared/data [--epochs 2] [--models ConvAE,VAE] [--probe]
    python benchmarks/zoo.py --dataset Digits --epochs 1 --models SingleLayerCAE   # offline, a smoke run

Each model trains with bench's own training path and default options (Adam,
lr 0.001, batch 128) into a temporary log folder; the table gives the best
validation `error` (½·mean((x − x̃)²) on [-1, 1]; UndercompleteCAE's at its
32x32 working size), the parameter count, and the last epoch's images/s. With
--probe, `bench eval` reloads the best checkpoint (and checks that it gives the
training's test error back, exactly) and fits the logistic regression on the
codes of 5,000 training images, scored on the test split.
"""

import argparse
import math
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import tf_runtime  # noqa: E402

tf_runtime.import_tensorflow()

from bench import plugins  # noqa: E402
from bench.run.evaluation import Asked, evaluate  # noqa: E402
from bench.run.loading import load_trained  # noqa: E402
from bench.console import Reporter  # noqa: E402
from bench.data import sources  # noqa: E402
from bench.model import building  # noqa: E402
from bench.run import planning  # noqa: E402
from bench.run.config import TrainConfig  # noqa: E402
from bench.run.runs import RunFolder  # noqa: E402
from bench.run.train import run_training  # noqa: E402

ZOO = ["SingleLayerCAE", "StackedCAE", "StackedDenoisingCAE", "FullyConnectedAE", "ConvAE",
       "UndercompleteCAE", "SparseAE", "ContractiveAE", "VAE"]


def parameters(model_name, image_shape):
    model = building.build_model(plugins.find("model", model_name), image_shape)
    return sum(math.prod(weight.shape) for weight in model.weights)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--dataset", default="MNIST")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--models", default=",".join(ZOO))
    parser.add_argument("--probe", action="store_true", help="also the linear probe of the best checkpoint's codes")
    args = parser.parse_args()

    rows = []
    report = Reporter(interactive=False)
    with tempfile.TemporaryDirectory() as log_dir:
        for name in args.models.split(","):
            config = TrainConfig(model=name, dataset=args.dataset, epochs=args.epochs,
                                 data_dir=args.data_dir, log_dir=log_dir)
            results = run_training(config, restart=True, report=report)
            image_shape = sources.find_dataset(args.dataset).load().image_shape
            probe = ""
            if args.probe:
                run = RunFolder.for_config(planning.resolve_config(config)[0])
                trained = load_trained(run.path, report=report)
                again = evaluate(trained, Asked(probe_limit=5000), report)["test"]["error"]
                if again != results["best"]["test"]["error"]:
                    raise SystemExit(f"{name}: the best checkpoint gives {again}, training reported "
                                     f"{results['best']['test']['error']}")
                probed = run.read_results()["probe"]
                probe = f" {probed['features']:,} | {probed['codes']:.4f} | {probed['pixels']:.4f} |"
            rows.append((name, results["best"]["validation"]["error"], parameters(name, image_shape),
                         results.get("train_images_per_second", float("nan")), probe))
    print(f"\n{args.epochs} epochs on {args.dataset}, default options, Adam lr 0.001, batch 128:\n")
    probe_heading = (" code features | probe accuracy (codes) | probe accuracy (raw pixels) |", "---:|---:|---:|")
    print("| model | validation error | parameters | training images/s |" + (probe_heading[0] if args.probe else ""))
    print("|---|---:|---:|---:|" + (probe_heading[1] if args.probe else ""))
    for name, error, count, speed, probe in rows:
        print(f"| {name} | {error:.5f} | {count:,} | {speed:,.0f} |{probe}")


if __name__ == "__main__":
    main()
