"""`bench prepare`: write a dataset as TFRecord shards with a manifest, or verify them."""

import click

from bench import tf_runtime
from bench.commands.flags import verbose_option
from bench.run.option_parsing import data_options


@click.command("prepare")
@click.argument("dataset")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="The folder to write the shards and manifest.json to (required unless --verify).")
@click.option("--images-per-shard", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Images per TFRecord file.")
@data_options
@click.option("--verify", is_flag=True, help="Check the sha256 of every shard of DATASET (tfrecord:DIR) instead.")
@click.option("--overwrite", is_flag=True, help="Replace the preparation --out already holds.")
@verbose_option
def prepare_command(dataset, out, images_per_shard, verify, overwrite, **data):
    """Write DATASET (built-in, plugin, folder:PATH) as TFRecord shards for --dataset tfrecord:OUT.

    \b
    Examples:
      bench prepare Cifar10 --out shards/cifar10
      bench prepare folder:~/pictures/faces --image-size 64 --out shards/faces-64
      bench train --model ConvAE --dataset tfrecord:shards/faces-64
      bench prepare --verify tfrecord:shards/faces-64
    """
    from bench.console import Reporter
    from bench.errors import BenchUsageError

    if not verify and not out:  # told before TensorFlow starts
        raise BenchUsageError("bench prepare needs --out DIR, the folder to write the shards to")
    if verify and not _shards_folder(dataset):
        raise BenchUsageError(f"--verify checks TFRecord shards: give tfrecord:DIR, not {dataset!r}")
    tf_runtime.import_tensorflow()
    if verify:
        verify_shards(dataset, Reporter())
    else:
        prepare(dataset, out, images_per_shard, Reporter(), overwrite=overwrite, **data)


def prepare(dataset_name, out, images_per_shard, report, overwrite=False, **data):
    """Load a dataset as `bench train` would (`data`: its image_size, channels, on_bad_file,
    max_image_pixels, data_dir) and write it under `out` (which must not hold a preparation,
    unless `overwrite`); returns the manifest."""
    from bench.data import records
    from bench.errors import BenchUsageError
    from bench.run import loading

    if not out:
        raise BenchUsageError("bench prepare needs --out DIR, the folder to write the shards to")
    if not overwrite:
        records.check_out(out, overwrite=False)  # refused before the data is read
    spec, dataset, held = loading.load_named_data(dataset_name, report, **data)
    records.check_out(out, overwrite)  # replaced only once the data is read
    manifest = records.write(dataset, held, out, report, images_per_shard)
    counts = ", ".join(f"{entry['count']:,} {split}" for split, entry in manifest["splits"].items())
    report.info(f"wrote {spec.name} ({counts} images of {'x'.join(map(str, dataset.image_shape))}) to {out}; "
                f"train on it with --dataset tfrecord:{out}")
    return manifest


def verify_shards(dataset_name, report):
    """Check every shard's sha256 against the manifest; BenchError names those that differ."""
    from pathlib import Path

    from bench.data import records
    from bench.errors import BenchError, BenchUsageError

    folder = _shards_folder(dataset_name)
    if not folder:
        raise BenchUsageError(f"--verify checks TFRecord shards: give tfrecord:DIR, not {dataset_name!r}")
    damaged = records.verify(Path(folder).expanduser())
    if damaged:
        raise BenchError(f"{len(damaged)} shards differ from {folder}/{records.MANIFEST}: {', '.join(damaged)}; "
                         "prepare the folder again")
    report.info(f"every shard of {folder} matches its manifest")


def _shards_folder(dataset_name):
    """DIR of a `tfrecord:DIR` dataset name, or None."""
    prefix, _, folder = dataset_name.partition(":")
    return folder if prefix == "tfrecord" and folder else None
