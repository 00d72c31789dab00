"""`bench embed`: a run's codes for TensorBoard's embedding projector."""

import click

from bench import tf_runtime
from bench.commands.flags import MODEL_FILE_HELP, verbose_option


@click.command("embed")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--split", type=click.Choice(["train", "validation", "test"]), default="test", show_default=True,
              help="Whose images to encode.")
@click.option("--limit", type=int, default=5000, show_default=True, help="At most this many images.")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="The best model on validation, or the latest state.")
@click.option("--data-dir", "--data_dir", default=None, envvar="BENCH_DATA_DIR", help="Dataset cache [the run's].")
@click.option("--model-file", type=click.Path(dir_okay=False), default=None, help=MODEL_FILE_HELP)
@verbose_option
def embed_command(run_folder, split, limit, checkpoint, data_dir, model_file):
    """Write a run's codes for TensorBoard's embedding projector (PCA, t-SNE, by class).

    Training already does this for the test split (in projector/); another split's
    codes go to projector_<split>/, beside it. Use it for another split, checkpoint
    or number of images.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.run import outputs
    from bench.run.loading import load_trained

    report = Reporter()
    outputs.embed(load_trained(run_folder, checkpoint, data_dir, report, model_file, writing=True), split, limit,
                  report)
