"""`bench sample` and `bench interpolate`: images a run's decoder makes from codes."""

import click

from bench import tf_runtime
from bench.commands.flags import trained_run_options, verbose_option


def _out_option(default_name):
    return click.option("--out", type=click.Path(dir_okay=False), default=None,
                        help=f"The PNG file to write [RUN/{default_name}].")


@click.command("sample")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--n", "count", type=click.IntRange(min=1, max=4096), default=64, show_default=True,
              help="How many images to draw.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="The draw's seed.")
@_out_option("samples.png")
@trained_run_options
@verbose_option
def sample_command(run_folder, count, seed, out, checkpoint, data_dir, model_file):
    """Draw images from the prior of a model that has one (VAE): a square grid in a PNG."""
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.run import outputs
    from bench.run.loading import load_trained

    report = Reporter()
    outputs.sample(load_trained(run_folder, checkpoint, data_dir, report, model_file, writing=out is None), count,
                   seed, out, report)


@click.command("interpolate")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--pairs", type=click.IntRange(min=1, max=64), default=8, show_default=True,
              help="Pairs of test images (consecutive: 1st and 2nd, 3rd and 4th, ...): one row each.")
@click.option("--steps", type=click.IntRange(min=2, max=64), default=10, show_default=True,
              help="Images per row, from the first code to the second.")
@_out_option("interpolations.png")
@trained_run_options
@verbose_option
def interpolate_command(run_folder, pairs, steps, out, checkpoint, data_dir, model_file):
    """Decode straight lines between the codes of pairs of test images: a grid in a PNG,
    one row per pair, from the first image's code (left) to the second's (right)."""
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.run import outputs
    from bench.run.loading import load_trained

    report = Reporter()
    outputs.interpolate(load_trained(run_folder, checkpoint, data_dir, report, model_file, writing=out is None),
                        pairs, steps, out, report)
