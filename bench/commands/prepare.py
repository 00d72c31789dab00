"""`bench prepare`: write a dataset as TFRecord shards with a manifest, or verify them."""

import click

from bench import tf_runtime
from bench.commands.flags import verbose_option
from bench.options import default_data_dir


@click.command("prepare")
@click.argument("dataset")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The folder to write the shards and manifest.json to (required unless --verify).")
@click.option("--image-size", default="", help="Resize every image to H or HxW pixels.")
@click.option("--channels", type=click.Choice(["0", "1", "3"]), default="0", show_default=True,
              help="An image folder's channels (0: its first image's).")
@click.option("--on-bad-file", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="An image folder's files that are not images: stop, or leave them out.")
@click.option("--images-per-shard", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Images per TFRecord file.")
@click.option("--data-dir", "--data_dir", default=default_data_dir, envvar="BENCH_DATA_DIR",
              show_default="~/.cache/bench", help="Dataset cache (BENCH_DATA_DIR).")
@click.option("--verify", is_flag=True, help="Check the sha256 of every shard of DATASET (tfrecord:DIR) instead.")
@verbose_option
def prepare_command(dataset, out, image_size, channels, on_bad_file, images_per_shard, data_dir, verify):
    """Write DATASET (built-in, plugin, folder:PATH) as TFRecord shards for --dataset tfrecord:OUT.

    \b
    Examples:
      bench prepare Cifar10 --out shards/cifar10
      bench prepare folder:~/pictures/faces --image-size 64 --out shards/faces-64
      bench train --model ConvAE --dataset tfrecord:shards/faces-64
      bench prepare --verify tfrecord:shards/faces-64
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    if verify:
        verify_shards(dataset, Reporter())
    else:
        prepare(dataset, out, image_size, int(channels), on_bad_file, images_per_shard, data_dir, Reporter())


def prepare(dataset_name, out, image_size, channels, on_bad_file, images_per_shard, data_dir, report):
    """Load a dataset as `bench train` would and write it under `out`; returns the manifest."""
    from bench import loading, plugins, records
    from bench.config import TrainConfig
    from bench.errors import BenchUsageError

    if not out:
        raise BenchUsageError("bench prepare needs --out DIR, the folder to write the shards to")
    options = TrainConfig(model="-", dataset=dataset_name, image_size=image_size, channels=channels,
                          on_bad_file=on_bad_file)
    options.image_hw()  # checked before any work
    spec = plugins.find("dataset", dataset_name)
    dataset, held = loading.load_data(spec, data_dir, report, **loading.data_options(options))
    manifest = records.write(dataset, held, out, report, images_per_shard)
    counts = ", ".join(f"{entry['count']:,} {split}" for split, entry in manifest["splits"].items())
    report.info(f"wrote {spec.name} ({counts} images of {'x'.join(map(str, dataset.image_shape))}) to {out}; "
                f"train on it with --dataset tfrecord:{out}")
    return manifest


def verify_shards(dataset_name, report):
    """Check every shard's sha256 against the manifest; BenchError names those that differ."""
    from pathlib import Path

    from bench import records
    from bench.errors import BenchError, BenchUsageError

    prefix, _, folder = dataset_name.partition(":")
    if prefix != "tfrecord" or not folder:
        raise BenchUsageError(f"--verify checks TFRecord shards: give tfrecord:DIR, not {dataset_name!r}")
    damaged = records.verify(Path(folder).expanduser())
    if damaged:
        raise BenchError(f"{len(damaged)} shards differ from {folder}/{records.MANIFEST}: {', '.join(damaged)}; "
                         "prepare the folder again")
    report.info(f"every shard of {folder} matches its manifest")
