"""`bench sample` and `bench interpolate`: images a run's decoder makes from codes."""

import math

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
    sample_run(run_folder, count, seed, out, checkpoint, Reporter(), data_dir, model_file)


def sample_run(run_path, count, seed, out, checkpoint, report, data_dir=None, model_file=None):
    """`bench sample`: decode `count` codes from the prior into a grid PNG; returns (path, rows, columns)."""
    from bench.model import codes
    from bench.run import compute
    from bench.run.evaluate import load_run_model
    from bench.run.runs import SAMPLES_PNG

    run, config, _, _, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file,
                                                      writing=out is None)
    with compute.device_scope(config.device):
        images = codes.samples(model, count, seed)
    columns = math.ceil(math.sqrt(count))
    return _write_grid(out or run.sub(SAMPLES_PNG), images, columns, report,
                       f"{count} samples from the prior of {run.path} (seed {seed}, {checkpoint} checkpoint, "
                       f"epoch {loaded['epoch']})")


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
    interpolate_run(run_folder, pairs, steps, out, checkpoint, Reporter(), data_dir, model_file)


def interpolate_run(run_path, pairs, steps, out, checkpoint, report, data_dir=None, model_file=None):
    """`bench interpolate`: a grid PNG of decoded interpolations; returns (path, rows, columns)."""
    from bench.errors import BenchUsageError
    from bench.model import codes
    from bench.run import compute
    from bench.run.evaluate import load_run_model
    from bench.run.runs import INTERPOLATIONS_PNG

    run, config, _, splits, model, loaded = load_run_model(run_path, checkpoint, data_dir, report, model_file,
                                                           writing=out is None)
    if len(splits["test"]) < 2 * pairs:
        raise BenchUsageError(f"--pairs {pairs} needs {2 * pairs} test images; the test split has "
                              f"{len(splits['test'])}")
    with compute.device_scope(config.device):
        images, _ = splits["test"].first(2 * pairs)
        decoded = codes.interpolations(model, images, steps)
    return _write_grid(out or run.sub(INTERPOLATIONS_PNG), decoded, steps, report,
                       f"interpolations between {pairs} pairs of test codes of {run.path} ({checkpoint} "
                       f"checkpoint, epoch {loaded['epoch']})")


def _write_grid(path, images, columns, report, what):
    from bench.model import codes

    rows = math.ceil(len(images) / columns)
    codes.write_png(path, codes.grid(images, columns))
    height, width = images.shape[1:3]
    report.info(f"wrote {what} to {path}: {rows} x {columns} grid of {height}x{width} images")
    return path, rows, columns
