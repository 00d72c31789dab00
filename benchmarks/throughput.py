"""Steady-state training images/s: bench's training loop vs a bare tf.function loop.

Both train the same model class on the same images with the same batch size
and optimizer, after one untimed warm-up epoch each, in interleaved rounds
whose order alternates. On these 2-vCPU machines whole epochs sometimes run
at exactly half speed with one core idle (seen with the bare loop alone too:
TensorFlow's thread pools, not the bench), and such noise only ever slows an
epoch down, so the headline ratios compare each side's best epoch (best of
N); the median of the per-round ratios is printed beside them. bench's side is its real epoch loop
(`Trainer.train_epoch`: the tf.data pipeline from uint8, the compiled step,
progress checks and TensorBoard summaries); the bare side is the loop a
person would write by hand over pre-scaled float32 images.

    python benchmarks/throughput.py --data-dir ../shared/data            # MNIST
    python benchmarks/throughput.py --dataset Cifar10 --data-dir ../shared/data
    python benchmarks/throughput.py --dataset Digits                      # offline

A third side, bench with summaries off (--summary-every larger than the
run), gives what the summaries themselves cost at the default --summary-every
(target: under 5%).

Prints each round and the median ratios (target: bench / bare >= 0.95).
Compare only ratios: absolute images/s on a shared 2-core VM vary by 2x.
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import tf_runtime  # noqa: E402

tf = tf_runtime.import_tensorflow()

import keras  # noqa: E402

from bench import experiment, optimizers, pipeline  # noqa: E402
from bench.config import TrainConfig  # noqa: E402
from bench.console import Reporter  # noqa: E402
from bench.runs import RunFolder  # noqa: E402
from bench.train import StopSignals, Trainer  # noqa: E402


def bench_side(config, dataset, splits, report, folder):
    """A Trainer on a throw-away run folder; returns a function that trains one epoch
    (with the epoch-end summaries, as a real run writes them)."""
    model_spec, _ = experiment.find_plugins(config.model, config.dataset)
    model = experiment.build_model(model_spec, dataset.image_shape)
    run = RunFolder(folder)
    run.prepare(config, restart=True)
    trainer = Trainer(config, run, dataset, splits, model, report)
    signals = StopSignals()
    epochs = iter(range(10**6))

    def one_epoch():
        trainer.train_epoch(next(epochs), signals)

    one_epoch.trainer = trainer
    return one_epoch


def summary_seconds(trainer, repeats=20):
    """Median wall time of one training summary (scalars, activation histograms and
    zero fractions), the work done every --summary-every steps."""
    batch = next(iter(pipeline.training_batches(trainer.train_images, trainer.config.batch_size, 0, 0)))
    outputs = trainer.train_step(batch)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trainer._log_step(0, outputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bare_side(config, dataset, train_images):
    """The hand-written loop: float32 images, shuffle, batch, prefetch, a tf.function step."""
    model_spec, _ = experiment.find_plugins(config.model, config.dataset)
    model = experiment.build_model(model_spec, dataset.image_shape)
    optimizer = keras.optimizers.Adam(learning_rate=config.optimizer_args["learning_rate"])
    images = train_images.astype("float32") / 127.5 - 1.0
    data = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images))
            .batch(config.batch_size).prefetch(tf.data.AUTOTUNE))

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            _, reconstruction = model.get(batch, train_phase=True)
            loss = model.loss(reconstruction, batch)
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    def one_epoch():
        loss = None
        for batch in data:
            loss = step(batch)
        float(loss)  # wait for the last step

    return one_epoch


def timed(one_epoch, n_images):
    start = time.perf_counter()
    one_epoch()
    return n_images / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="SingleLayerCAE")
    parser.add_argument("--dataset", default="MNIST")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    report = Reporter(interactive=False)
    config = TrainConfig(model=args.model, dataset=args.dataset, batch_size=args.batch_size,
                         data_dir=args.data_dir, epochs=10**6)
    config.optimizer, config.optimizer_args = optimizers.resolve(config.optimizer, config.optimizer_args)
    _, dataset_spec = experiment.find_plugins(config.model, config.dataset)
    dataset, splits = experiment.load_data(dataset_spec, config.data_dir, report)
    train_images = splits["train"][0][: args.limit]
    splits = dict(splits, train=(train_images, None))
    n_images = len(train_images)

    quiet = dataclasses.replace(config, summary_every=10**9)
    with tempfile.TemporaryDirectory() as folder:
        sides = {"bench": bench_side(config, dataset, splits, report, Path(folder) / "run"),
                 "no summaries": bench_side(quiet, dataset, splits, report, Path(folder) / "quiet"),
                 "bare": bare_side(config, dataset, train_images)}
        for one_epoch in sides.values():
            one_epoch()  # warm-up: tracing, pipeline start
        speeds = {name: [] for name in sides}
        ratios, costs = [], []
        for round_number in range(1, args.rounds + 1):
            order = list(sides) if round_number % 2 else list(reversed(sides))
            for name in order:
                speeds[name].append(timed(sides[name], n_images))
            ratios.append(speeds["bench"][-1] / speeds["bare"][-1])
            costs.append(1 - speeds["bench"][-1] / speeds["no summaries"][-1])
            print(f"round {round_number}: " + ", ".join(f"{name} {speeds[name][-1]:,.0f} img/s" for name in sides)
                  + f"; bench/bare {ratios[-1]:.3f}, summaries cost {100 * costs[-1]:+.1f}%", flush=True)
        per_summary = summary_seconds(sides["bench"].trainer)
    best = {name: max(values) for name, values in speeds.items()}
    steps_between = config.summary_every * config.batch_size / best["bench"]
    print(f"{args.model} on {args.dataset} ({n_images} images, batch {args.batch_size}, "
          f"{tf.config.list_logical_devices()[-1].name}):")
    for name in sides:
        print(f"  {name:>13}: best {best[name]:,.0f} img/s, median {statistics.median(speeds[name]):,.0f} "
              f"(of {args.rounds} epochs)")
    print(f"  bench / bare: {best['bench'] / best['bare']:.3f} best of {args.rounds} "
          f"(median of per-round ratios {statistics.median(ratios):.3f}); target >= 0.95")
    print(f"  summaries' cost at --summary-every {config.summary_every}: one summary takes "
          f"{1000 * per_summary:.1f} ms (median of 20) against {steps_between:.2f} s of training between two: "
          f"{100 * per_summary / steps_between:.2f}% (target < 5%)")
    print(f"    (end to end, bench vs bench without summaries: {100 * (1 - best['bench'] / best['no summaries']):.1f}% "
          f"best of {args.rounds}, {100 * statistics.median(costs):.1f}% median of per-round: within this VM's noise)")


if __name__ == "__main__":
    main()
