"""`bench encode`: the codes a run's model gives a split or image files, as NumPy arrays."""

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
    from bench.run import outputs
    from bench.run.loading import load_trained

    asked = outputs.Encoding(out, split, tuple(images), reconstruct, limit, batch_size, overwrite)
    asked.check()
    report = Reporter()
    outputs.encode(load_trained(run_folder, checkpoint, data_dir, report, model_file), asked, report)
