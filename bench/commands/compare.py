"""`bench compare`: runs side by side, or configurations over their seeds."""

import click

from bench.commands.flags import verbose_option


@click.command("compare")
@click.option("--log-dir", "--log_dir", default="log", envvar="BENCH_LOG_DIR", show_default=True,
              help="Root folder of the runs.")
@click.option("--model", "-m", default=None, help="Only runs of this model.")
@click.option("--dataset", "-d", default=None, help="Only runs on this dataset.")
@click.option("--sort", "sort_key", default="validation_error", show_default=True,
              help="Column to sort by: validation_error, test_error, test_mse, test_psnr, probe_accuracy, "
                   "anomaly_auroc, probe_labels_<N>, epochs, lr, l2.")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only runs whose configuration has this value (any hyperparameter or model option); repeatable.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json", "markdown"]),
              default="table", show_default=True, help="Output format.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the selected runs' validation curves into this PNG file (groups: mean and ± std band).")
@click.option("--group/--no-group", default=None,
              help="One row per configuration over its seeds (n, mean ± std, 95% CI, Welch's t-test between "
                   "configurations that differ in one setting), or one row per run. Default: grouped when "
                   "some configuration has several seeds.")
@click.option("--wide", is_flag=True,
              help="Every column (each configuration setting apart, mse, psnr, confidence intervals), however wide.")
@verbose_option
def compare(log_dir, model, dataset, sort_key, where, output_format, plot, group, wide):
    """One row per run, or per configuration over seeds: results side by side; * marks each metric's best.

    \b
    Examples:
      bench compare --dataset MNIST --sort test_psnr
      bench compare --where l2_penalty=1e-9 --format markdown
      bench compare --group --format markdown
      bench compare --dataset MNIST --plot compare.png
    """
    from bench.study.compare import compare_runs

    compare_runs(log_dir, model, dataset, sort_key, where, output_format, plot, group, wide)
