"""`bench export`: a run's model as a SavedModel or TFLite file that TensorFlow loads without bench."""

from pathlib import Path

import click

from bench import tf_runtime
from bench.commands.flags import trained_run_options, verbose_option

FORMAT_CHOICES = ("savedmodel", "tflite", "keras")


@click.command("export")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--part", type=click.Choice(["autoencoder", "encoder", "decoder"]), default="autoencoder",
              show_default=True, help="The whole model, the images-to-codes half, or codes-to-images.")
@click.option("--format", "output_format", type=click.Choice(FORMAT_CHOICES), default="savedmodel",
              show_default=True, help="SavedModel (TensorFlow, Keras 3's TFSMLayer) or TFLite.")
@click.option("--out", required=True, type=click.Path(), help="A new folder to write the export to.")
@click.option("--overwrite", is_flag=True, help="Replace what --out holds (once the new export is whole).")
@trained_run_options
@verbose_option
def export_command(run_folder, part, output_format, out, overwrite, checkpoint, data_dir, model_file):
    """Write a run's model as files plain TensorFlow loads, without bench.

    The folder holds the model (savedmodel/ or model.tflite), export.json (its
    signatures: inputs, outputs, shapes and pixel scales; the run, checkpoint
    and epoch it came from) and a README saying how to load it. The default
    signature takes uint8 pixels as stored; from_minus_one_to_one takes
    float32 images in [-1, 1]. Reconstructions come out on [-1, 1] and as uint8.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    export_run(run_folder, part, output_format, out, checkpoint, Reporter(), data_dir, model_file, overwrite)


def _check_out(out, overwrite):
    from bench.errors import BenchUsageError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchUsageError(f"--out {out} is a file; give a folder to write the export to")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise BenchUsageError(f"--out {out} already exists; choose a new folder, or replace it with --overwrite")
    if not out.parent.is_dir():
        raise BenchUsageError(f"--out {out}: its folder {out.parent} does not exist")
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # empty: the export is moved in as a whole


def export_run(run_path, part, output_format, out, checkpoint, report, data_dir=None, model_file=None,
               overwrite=False):
    """`bench export`: write a part of a run's model to `out`; returns export.json's content."""
    from bench.errors import BenchUsageError
    from bench.model import exporting
    from bench.run import compute
    from bench.run.evaluate import load_run_model

    if output_format == "keras":
        raise BenchUsageError(exporting.KERAS_FORMAT_REFUSED)
    _check_out(out, overwrite)
    run, config, dataset, _, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file)
    exporting.check_part(model, part)
    about = {"run": str(run.path), "model": config.model, "dataset": config.dataset, **loaded}
    with compute.device_scope(config.device):
        description = exporting.export(model, part, output_format, out, about, tuple(dataset.image_shape),
                                       replace=overwrite)
    report.info(f"exported the {part} of {run.path} ({checkpoint} checkpoint, epoch {loaded['epoch']}) as "
                f"{output_format} to {out}/; how to load it: {out}/{exporting.README}")
    return description
