"""`bench export`: a run's model as a SavedModel or TFLite file that TensorFlow loads without bench."""

import click

from bench import tf_runtime
from bench.commands.flags import trained_run_options, verbose_option
from bench.model import exporting
from bench.model.exporting import FORMATS, PARTS  # (names and words: no TensorFlow)



@click.command("export")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--part", type=click.Choice(list(PARTS)), default="autoencoder", show_default=True,
              help="; ".join(f"{name}: {part.what}" for name, part in PARTS.items()) + ".")
@click.option("--format", "output_format", type=click.Choice(list(FORMATS)), default="savedmodel",
              show_default=True, help="; ".join(f"{name}: {form.what}" for name, form in FORMATS.items()) + ".")
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

    exporting.check_out(out, overwrite)  # before TensorFlow starts, which it must do quietly
    tf_runtime.import_tensorflow()
    from bench.run import outputs
    from bench.run.loading import load_trained

    report = Reporter()
    outputs.export(load_trained(run_folder, checkpoint, data_dir, report, model_file), part, output_format, out, report,
                   overwrite)
