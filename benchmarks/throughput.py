"""Steady-state training images/s: bench's training loop vs a bare tf.function loop
vs Keras `model.fit`, on the same model, batch, optimizer and images.

    python benchmarks/throughput.py --data-dir ../shared/data          # SingleLayerCAE, ConvAE on MNIST, Cifar10
    python benchmarks/throughput.py --models ConvAE --datasets MNIST --variants jit,mixed_bfloat16,steps1
    python benchmarks/throughput.py --datasets Digits --rounds 1 --limit 512   # offline, a smoke run

The sides, each after one untimed warm-up epoch, in interleaved rounds whose
order alternates:
  bench  `Trainer.train_epoch`, the real epoch loop with the default options:
         the tf.data pipeline from uint8, 8 compiled steps per call, progress
         checks, TensorBoard summaries every 100 steps (compiled, as a long
         run's are; a run's first ones are eager: their cost is printed apart);
  bare   the loop a person writes by hand: float32 images, shuffle, batch,
         prefetch, a tf.function step;
  fit    Keras: the model wrapped in a keras.Model, compile(Adam, its loss),
         fit(x, x) on float32 arrays (Keras's defaults: no XLA on a CPU-only
         machine), timed from its epoch-begin to its epoch-end callback;
  and with --variants, bench with --jit, --precision mixed_bfloat16 /
  mixed_float16, or --steps-per-call N (`stepsN`).

On these 2-vCPU machines whole epochs sometimes run at half speed with one
core idle (the bare loop alone too), and such noise only ever slows an epoch
down, so the headline ratios compare each side's best epoch (best of N); the
median of per-round ratios is printed beside them. Targets: bench / fit >= 1.0,
bench / bare >= 0.95, summaries < 5% of the training time. Compare only ratios:
absolute images/s on a shared 2-core VM vary by 2x.
"""

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import tf_runtime

tf = tf_runtime.import_tensorflow()

import keras

from bench.console import Reporter
from bench.data import datasets
from bench.data.splits import ArraySplit
from bench.model import building
from bench.run import compute, optimizers, planning, summaries
from bench.run.config import TrainConfig
from bench.run.runs import RunFolder
from bench.run.summaries import EAGER_CALLS as EAGER_SUMMARIES
from bench.run.train import Trainer
from bench.signals import StopSignals


def build(config, dataset):
    model_spec, _ = planning.find_plugins(config.model, config.dataset)
    return building.build_model(model_spec, dataset.image_shape)


def bench_side(config, dataset, splits, report, folder):
    """A Trainer on a throw-away run folder; returns a function that trains one epoch."""
    compute.set_precision(config.precision)  # the layers take the policy when they are made
    try:
        model = build(config, dataset)
        run = RunFolder(folder)
        run.prepare(config, restart=True)
        trainer = Trainer(config, run, dataset, splits, model, report)
        trainer.open_writers()
    finally:
        compute.set_precision("float32")
    signals = StopSignals()
    epochs = iter(range(10**6))

    def one_epoch():
        started = time.perf_counter()
        trainer.train_epoch(next(epochs), signals)
        return time.perf_counter() - started

    one_epoch.trainer = trainer
    return one_epoch


def bare_side(config, dataset, train_images):
    """The hand-written loop: float32 images, shuffle, batch, prefetch, a tf.function step."""
    model = build(config, dataset)
    optimizer = keras.optimizers.Adam(learning_rate=config.optimizer_args["learning_rate"])
    images = train_images.astype("float32") / 127.5 - 1.0
    data = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images))
            .batch(config.batch_size).prefetch(tf.data.AUTOTUNE))

    @tf.function
    def step(batch):
        with tf.GradientTape() as tape:
            loss = model.forward(batch, train_phase=True, targets=batch).total()
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    def one_epoch():
        started, loss = time.perf_counter(), None
        for batch in data:
            loss = step(batch)
        float(loss)  # wait for the last step
        return time.perf_counter() - started

    return one_epoch


class EpochTimer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.started


def fit_side(config, dataset, train_images):
    """Keras: the plugin model inside a keras.Model, compiled with its loss, fit on float32 arrays."""
    plugin = build(config, dataset)

    class Reconstructor(keras.Model):
        def __init__(self):
            super().__init__()
            self.autoencoder = plugin

        def call(self, images, training=False):
            return plugin.get(images, train_phase=training)[1]

    model = Reconstructor()
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.optimizer_args["learning_rate"]),
                  loss=lambda images, reconstruction: plugin.loss(reconstruction, images))
    images = train_images.astype("float32") / 127.5 - 1.0
    timer = EpochTimer()

    def one_epoch():
        model.fit(images, images, batch_size=config.batch_size, epochs=1, shuffle=True, verbose=0, callbacks=[timer])
        return timer.seconds

    return one_epoch


def summary_seconds(trainer, repeats=20):
    """Median wall times of one training summary (scalars, activation histograms and zero
    fractions), the work done every --summary-every steps, written to a new run's writers:
    (eager, as a run's first EAGER_SUMMARIES are; compiled, as the later ones are; the
    compiling itself, once)."""
    outputs = next(trainer.step.calls(0, 0))[1]
    fresh = RunFolder(Path(tempfile.mkdtemp()))
    for folder in ("train", "validation"):
        fresh.sub(folder).mkdir()
    trainer.writers = summaries.RunWriters(fresh)
    times = []
    for _ in range(EAGER_SUMMARIES + 1 + repeats):
        start = time.perf_counter()
        trainer._log_step(0, outputs)
        times.append(time.perf_counter() - start)
    return statistics.median(times[:EAGER_SUMMARIES]), statistics.median(times[-repeats:]), times[EAGER_SUMMARIES]


def past_eager_summaries(trainer):
    """Write the summaries a run writes eagerly, so that the timed epochs see a long run's
    compiled ones (their cost is measured apart, by summary_seconds)."""
    outputs = next(trainer.step.calls(0, 0))[1]
    while trainer.writers._activation_calls <= EAGER_SUMMARIES:
        trainer._log_step(0, outputs)


def variant_config(config, variant):
    """The bench config of a --variants name: jit, mixed_bfloat16, mixed_float16, stepsN."""
    if variant == "jit":
        return dataclasses.replace(config, jit=True)
    if variant.startswith("mixed_"):
        return dataclasses.replace(config, precision=variant)
    if variant.startswith("steps") and variant[5:].isdigit():
        return dataclasses.replace(config, steps_per_call=int(variant[5:]))
    raise SystemExit(f"unknown variant {variant!r}: use jit, mixed_bfloat16, mixed_float16 or stepsN")


def measure(model_name, dataset_name, args, report, folder):
    """Interleaved rounds of every side on one model and dataset; prints and returns best img/s."""
    config = TrainConfig(model=model_name, dataset=dataset_name, batch_size=args.batch_size,
                         data_dir=args.data_dir, epochs=10**6)
    config.optimizer, config.optimizer_args = optimizers.resolve(config.optimizer, config.optimizer_args)
    _, dataset_spec = planning.find_plugins(config.model, config.dataset)
    dataset, splits = datasets.load_data(dataset_spec, config.data_dir, report)
    train_images = splits["train"].array[: args.limit]
    splits = dict(splits, train=ArraySplit(train_images, None))
    n_images = len(train_images)
    sides = {"bench": bench_side(config, dataset, splits, report, folder / f"{model_name}-{dataset_name}"),
             "bare": bare_side(config, dataset, train_images),
             "fit": fit_side(config, dataset, train_images)}
    for variant in args.variants:
        sides[variant] = bench_side(variant_config(config, variant), dataset, splits, report,
                                    folder / f"{model_name}-{dataset_name}-{variant}")
    for one_epoch in sides.values():
        one_epoch()  # warm-up: tracing, pipeline start
        if hasattr(one_epoch, "trainer"):
            past_eager_summaries(one_epoch.trainer)
    speeds = {name: [] for name in sides}
    for round_number in range(1, args.rounds + 1):
        order = list(sides) if round_number % 2 else list(reversed(sides))
        for name in order:
            speeds[name].append(n_images / sides[name]())
        print(f"  round {round_number}: " + ", ".join(f"{name} {speeds[name][-1]:,.0f}" for name in sides)
              + " img/s", flush=True)
    best = {name: max(values) for name, values in speeds.items()}

    def ratio(a, b):
        per_round = statistics.median(x / y for x, y in zip(speeds[a], speeds[b]))
        return f"{best[a] / best[b]:.3f} (median per round {per_round:.3f})"

    print(f"{model_name} on {dataset_name}: {n_images} images, batch {args.batch_size}, best of {args.rounds}")
    for name in sides:
        print(f"  {name:>15}: best {best[name]:,.0f} img/s, median {statistics.median(speeds[name]):,.0f}")
    print(f"  bench / bare: {ratio('bench', 'bare')}  target >= 0.95")
    print(f"  bench / fit:  {ratio('bench', 'fit')}  target >= 1.0")
    for variant in args.variants:
        print(f"  {variant} / bench: {ratio(variant, 'bench')}")
    eager, compiled, compiling = summary_seconds(sides["bench"].trainer)
    between = config.summary_every * config.batch_size / best["bench"]
    print(f"  one summary, compiled (after a run's first {EAGER_SUMMARIES}): {1000 * compiled:.1f} ms against "
          f"{between:.2f} s of training between two at --summary-every {config.summary_every}: "
          f"{100 * compiled / between:.2f}% (target < 5%)", flush=True)
    print(f"  a run's first {EAGER_SUMMARIES} summaries, eager: {1000 * eager:.1f} ms each "
          f"({100 * eager / between:.2f}%); compiling them: {compiling:.2f} s, once", flush=True)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="SingleLayerCAE,ConvAE")
    parser.add_argument("--datasets", default="MNIST,Cifar10")
    parser.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--limit", type=int, default=10000, help="training images per epoch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--variants", default="", help="comma list: jit, mixed_bfloat16, mixed_float16, stepsN")
    args = parser.parse_args()
    args.variants = [v for v in args.variants.split(",") if v]
    print(f"device: {tf.config.list_logical_devices()[-1].name}", flush=True)
    report = Reporter(interactive=False)
    with tempfile.TemporaryDirectory() as folder:
        for dataset_name in args.datasets.split(","):
            for model_name in args.models.split(","):
                measure(model_name, dataset_name, args, report, Path(folder))


if __name__ == "__main__":
    main()
