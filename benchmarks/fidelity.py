"""Each configs/ file trained by bench and, in the same process, by a plain-Keras rebuild of its
source (benchmarks/sources.py): validation error per epoch, side by side, and their ratio.

    python benchmarks/fidelity.py --data-dir ../shared/data [--epochs 3] [--seeds 3] [--configs dtb-blog-mnist,tutorial-fc-mnist]
    python benchmarks/fidelity.py --configs dtb-blog-mnist --dataset Digits --epochs 1   # offline, a smoke run

bench trains with its own path (`bench train --config FILE --epochs N`, in
this process). The rebuild trains with a plain TensorFlow loop written from
the source: its pixel range, loss, L2 term (λ·½‖W‖² on the source's kernels),
optimizer, batch size and the source's own learning-rate schedule (the
tutorials decay by 0.96 every 1,000 steps; bench's configs every 5 epochs),
denoising noise on [0, 1]; shuffled batches, the same data splits. Both
errors are the validation `error`, ½·mean((x − x̃)²) with pixels on [-1, 1]
(UndercompleteCAE's at its 32x32 working size), so a ratio of 1 means bench
reproduces the source's curve. With `--seeds N` each side trains N seeds
(0..N-1) and each curve is the mean over its seeds, with the seed spread
(standard deviation) beside it; a ratio inside the spread is a match.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import tf_runtime  # noqa: E402

tf = tf_runtime.import_tensorflow()

import keras  # noqa: E402

from bench.run.config import TrainConfig, read_yaml_mapping  # noqa: E402
from bench.console import Reporter  # noqa: E402
from bench.data import datasets  # noqa: E402
from bench.run import optimizers, planning  # noqa: E402
from bench.run.train import run_training  # noqa: E402
from benchmarks import sources  # noqa: E402

SOURCE_DECAY = (1000, 0.96)  # the tutorials' exponential_decay(lr, step, 1000, 0.96, staircase=True)


def unit_images(stored, size):
    """uint8 images as float32 on [0, 1], resized (bilinear) to `size` when the model has one."""
    images = tf.cast(stored, tf.float32) / 255.0
    if size is not None and tuple(images.shape[1:3]) != tuple(size):
        images = tf.image.resize(images, size, method="bilinear")
    return images


def reference_trainer(reference, config):
    """A compiled training step of the rebuild with the source's loss, L2 term and optimizer."""
    low, high = reference.pixel_range
    name, arguments = optimizers.resolve(config.optimizer, config.optimizer_args)  # TF 1 names and defaults
    if config.lr_decay:
        arguments["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(
            arguments["learning_rate"], *SOURCE_DECAY, staircase=True)
    optimizer = keras.optimizers.get({"class_name": name, "config": arguments})
    variables = reference.model.trainable_variables

    @tf.function
    def step(batch, seed):
        clean = unit_images(batch, reference.model.input_shape[1:3])
        noisy = clean
        if config.noise_factor:
            noise = tf.random.stateless_normal(tf.shape(clean), seed)
            noisy = tf.clip_by_value(clean + config.noise_factor * noise, 0.0, 1.0)
        inputs, targets = low + (high - low) * noisy, low + (high - low) * clean
        with tf.GradientTape() as tape:
            outputs = reference.model(inputs, training=True)
            if reference.loss == "sigmoid_cross_entropy":
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=clean, logits=outputs))
            else:
                loss = 0.5 * tf.reduce_mean(tf.square(outputs - targets))
            if config.l2_penalty:
                loss += config.l2_penalty * tf.add_n([tf.nn.l2_loss(kernel) for kernel in reference.regularized])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    return step


def reference_error(reference, images):
    """Validation `error` of the rebuild: ½·mean((x − x̃)²) on [-1, 1]."""
    low, high = reference.pixel_range
    total, count = 0.0, 0
    for batch in tf.data.Dataset.from_tensor_slices(images).batch(1000):
        clean = unit_images(batch, reference.model.input_shape[1:3])
        outputs = reference.model(low + (high - low) * clean, training=False)
        pixels = tf.sigmoid(outputs) if reference.output == "logits" else (outputs - low) / (high - low)
        total += float(tf.reduce_sum(tf.square(2.0 * pixels - 2.0 * clean)))
        count += int(tf.size(clean))
    return 0.5 * total / count


def train_reference(config, splits, image_shape, epochs):
    """The rebuild's validation error after each of `epochs` epochs."""
    keras.utils.set_random_seed(config.seed + 1)  # not bench's seed: the two draw independently
    reference = sources.REBUILDS[config.model](tuple(image_shape))
    train, validation = splits["train"].array, splits["validation"].array
    step = reference_trainer(reference, config)
    errors = []
    for epoch in range(epochs):
        batches = (tf.data.Dataset.from_tensor_slices(train).shuffle(len(train), seed=config.seed * 1000 + epoch)
                   .batch(config.batch_size))
        for index, batch in enumerate(batches):
            step(batch, tf.constant([epoch, index], tf.int64))
        errors.append(reference_error(reference, validation))
    return errors


def train_both(config_file, seed, args, report):
    """One seed of bench and of the rebuild: their validation-error curves and training seconds."""
    config = TrainConfig.from_point(read_yaml_mapping(config_file))
    if args.dataset:
        config.dataset = args.dataset
    with tempfile.TemporaryDirectory() as log_dir:
        config.epochs, config.data_dir, config.log_dir, config.seed = args.epochs, args.data_dir, log_dir, seed
        started = time.perf_counter()
        results = run_training(config, restart=True, report=report)
        bench_seconds = time.perf_counter() - started
    dataset_spec = planning.find_plugins(config.model, config.dataset)[1]
    dataset, splits = datasets.load_data(dataset_spec, args.data_dir, report)
    started = time.perf_counter()
    source_errors = train_reference(config, splits, dataset.image_shape, args.epochs)
    source_seconds = time.perf_counter() - started
    bench_errors = [entry["validation_error"] for entry in results["history"]]
    return config, bench_errors, source_errors, bench_seconds, source_seconds


def mean_spread(values):
    """Mean and sample standard deviation (0 for one value)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def compare(config_file, args, report):
    """Train bench and the rebuild on one config over `args.seeds` seeds; print their curves and ratios."""
    runs = [train_both(config_file, seed, args, report) for seed in range(args.seeds)]
    config = runs[0][0]
    bench_seconds, source_seconds = sum(run[3] for run in runs), sum(run[4] for run in runs)
    print(f"\n{config_file.name}: {config.model} on {config.dataset}, {args.epochs} epochs, {args.seeds} seed(s) "
          f"(bench {bench_seconds:.0f} s, rebuild {source_seconds:.0f} s)\n")
    print("| epoch | bench | source rebuild | bench / rebuild |")
    print("|---:|---:|---:|---:|")
    rows = []
    for epoch in range(args.epochs):
        ours = mean_spread([run[1][epoch] for run in runs])
        theirs = mean_spread([run[2][epoch] for run in runs])
        rows.append((ours, theirs))
        print(f"| {epoch + 1} | {ours[0]:.5f} ± {ours[1]:.5f} | {theirs[0]:.5f} ± {theirs[1]:.5f} "
              f"| {ours[0] / theirs[0]:.3f} |")
    return config_file.stem, *rows[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=1, help="seeds per side; each curve is their mean")
    parser.add_argument("--configs", default="", help="comma-separated config names (default: every configs/ file)")
    parser.add_argument("--dataset", default="", help="train every config on this dataset instead (Digits: offline)")
    args = parser.parse_args()
    names = args.configs.split(",") if args.configs else sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
    report = Reporter(interactive=False)
    finals = [compare(ROOT / "configs" / f"{name}.yaml", args, report) for name in names]
    print(f"\nafter {args.epochs} epochs: validation error, mean ± spread over {args.seeds} seed(s)\n")
    print("| config | bench | source rebuild | bench / rebuild |")
    print("|---|---:|---:|---:|")
    for name, ours, theirs in finals:
        print(f"| {name} | {ours[0]:.5f} ± {ours[1]:.5f} | {theirs[0]:.5f} ± {theirs[1]:.5f} "
              f"| {ours[0] / theirs[0]:.3f} |")


if __name__ == "__main__":
    main()
