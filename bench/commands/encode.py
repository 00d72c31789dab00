"""`bench encode`: the codes a run's model gives a split or image files, as NumPy arrays."""

from pathlib import Path

import click

from bench import tf_runtime
from bench.commands.flags import trained_run_options, verbose_option


@click.command("encode")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default=None,
              help="Encode this split of the run's dataset [test, unless --images].")
@click.option("--images", multiple=True, metavar="FILE_OR_FOLDER",
              help="Encode these image files (a folder: every image under it); repeat for more.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .npz file to write.")
@click.option("--reconstruct", is_flag=True,
              help="Also write the reconstructions: in the .npz and as PNG files in <out>_reconstructions/.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many images [all].")
@click.option("--batch-size", "--batch_size", type=click.IntRange(min=1), default=None,
              help="Images per batch [the run's].")
@click.option("--overwrite", is_flag=True, help="Replace --out (and its reconstructions' folder) if they exist.")
@trained_run_options
@verbose_option
def encode_command(run_folder, split, images, out, reconstruct, limit, batch_size, overwrite, checkpoint, data_dir,
                   model_file):
    """Write the codes of a split, or of image files, as NumPy arrays in a .npz file.

    \b
    The file holds:
      codes            float32 (images, *code shape), as the model returns them
      labels           int64 (images,), when the split is labelled
      files            the image files, in order (with --images)
      reconstructions  float32 (images, h, w, c) on [-1, 1] (with --reconstruct)
    Load it with numpy.load(path). Image files are decoded to the run's image
    shape, as its dataset's were.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    encode_run(run_folder, split, images, out, reconstruct, limit, batch_size, checkpoint, Reporter(), data_dir,
               model_file, overwrite)


def reconstructions_folder(out):
    """Where --reconstruct puts the PNG files: <out without .npz>_reconstructions/."""
    out = Path(out)
    return out.with_name(f"{out.stem if out.suffix == '.npz' else out.name}_reconstructions")


def _check_out(out, reconstruct, overwrite):
    from bench.errors import BenchUsageError

    out = Path(out)
    if not out.parent.is_dir():
        raise BenchUsageError(f"--out {out}: its folder {out.parent} does not exist")
    if out.is_dir():
        raise BenchUsageError(f"--out {out} is a folder; give the .npz file to write")
    taken = [path for path in (out, reconstructions_folder(out) if reconstruct else None) if path and path.exists()]
    if taken and not overwrite:
        raise BenchUsageError(f"{taken[0]} already exists; choose another --out, or replace it with --overwrite")


def encode_run(run_path, split, images, out, reconstruct, limit, batch_size, checkpoint, report, data_dir=None,
               model_file=None, overwrite=False):
    """`bench encode`: write the codes (and labels, files, reconstructions) to `out`; returns the arrays."""
    import numpy as np

    from bench.data import datasets
    from bench.errors import BenchUsageError
    from bench.model import codes
    from bench.run import compute
    from bench.run.evaluate import load_run_model

    if split and images:
        raise BenchUsageError("give --split or --images, not both")
    _check_out(out, reconstruct, overwrite)
    paths = codes.image_files(images) if images else None
    run, config, dataset, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file)
    source = codes.files_split(paths, dataset.image_shape) if paths else splits[split or "test"]
    count = min(limit or len(source), len(source))
    with compute.device_scope(config.device), datasets.damaged_files_named({"images": source}, report):
        encoded, rebuilt = codes.encode(model, source, batch_size or config.batch_size, count, reconstruct)
    arrays = {"codes": encoded}
    if source.labels is not None:
        arrays["labels"] = np.asarray(source.labels[:count], np.int64)
    if paths:
        arrays["files"] = np.array([str(path) for path in paths[:count]])
    if reconstruct:
        arrays["reconstructions"] = rebuilt
        _write_pngs(reconstructions_folder(out), rebuilt, paths, replace=overwrite)
    codes.write_npz(out, **arrays)
    what = f"{count:,} images from {len(images)} --images argument(s)" if paths else f"{count:,} {split or 'test'} images"
    report.info(f"wrote the codes of {what} ({' x '.join(map(str, encoded.shape[1:]))} each, {checkpoint} checkpoint, "
                f"epoch {loaded['epoch']}) to {out}: {', '.join(arrays)}"
                + (f"; reconstructions as PNG files in {reconstructions_folder(out)}/" if reconstruct else ""))
    return arrays


def _write_pngs(folder, images, paths, replace=False):
    from bench.files import new_folder
    from bench.model import codes

    with new_folder(folder, replace=replace) as staging:
        for index, image in enumerate(images):
            name = f"{index:05d}_{Path(paths[index]).stem}.png" if paths else f"{index:05d}.png"
            (staging / name).write_bytes(codes.png_bytes(image))
