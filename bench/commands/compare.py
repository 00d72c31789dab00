"""`bench compare`: runs side by side, or configurations over their seeds."""

import click

from bench.commands.flags import verbose_option
from bench.model.metrics import METRICS

TEST_METRICS = [f"test_{metric.name}" for metric in METRICS]
WIDE_METRICS = [metric.name for metric in METRICS if not metric.narrow]


@click.command("compare")
@click.option("--log-dir", "--log_dir", default="log", envvar="BENCH_LOG_DIR", show_default=True,
              help="Root folder of the runs.")
@click.option("--model", "-m", default=None, help="Only runs of this model.")
@click.option("--dataset", "-d", default=None, help="Only runs on this dataset.")
@click.option("--sort", "sort_key", default="validation_error", show_default=True,
              help=f"Column to sort by: validation_error, {', '.join(TEST_METRICS)}, probe_accuracy, "
                   "probe_pixels, anomaly_auroc, probe_labels_<N>[_pixels], epochs, lr, l2.")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only runs whose configuration has this value (any hyperparameter, model option, or dotted key such as "
                   "optimizer_args.learning_rate; numbers as compare and search print them); repeatable.")
@click.option("--format", "output_format", type=click.Choice(["table", "csv", "json", "markdown"]),
              default="table", show_default=True, help="Output format.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Also draw the selected runs' validation curves into this PNG file (groups: mean and ± std band).")
@click.option("--group/--no-group", default=None,
              help="One row per configuration over its seeds (n, mean ± std, 95% CI, Welch's t-test between "
                   "configurations that differ in one setting), or one row per run. Default: grouped when "
                   "some configuration has several seeds.")
@click.option("--wide", is_flag=True,
              help=f"Every column (each configuration setting apart, {', '.join(WIDE_METRICS)}, confidence intervals), "
                   "however wide.")
@click.option("--study", default=None,
              help="Only the runs of this bench search study (its trials' and its confirmation's), grouped, with the "
                   "confirmation's figures.")
@click.option("--storage", default=None, envvar="BENCH_SEARCH_STORAGE",
              help="With --study: the study's Optuna storage URL (default: its journal under LOG_DIR/_studies/).")
@click.option("--versus", "pairs", nargs=2, default=None, metavar="A B",
              help="Test two configurations against each other, whatever their settings: each side is KEY=VALUE "
                   "pairs, comma-separated, picking one group (Welch's t-test and the bootstrap probability that B "
                   "is better).")
@verbose_option
def compare(log_dir, model, dataset, sort_key, where, output_format, plot, group, wide, study, storage, pairs):
    """One row per run, or per configuration over seeds: results side by side; * marks each metric's best.

    \b
    Examples:
      bench compare --dataset MNIST --sort test_psnr
      bench compare --where l2_penalty=1e-9 --format markdown
      bench compare --group --format markdown
      bench compare --dataset MNIST --plot compare.png
      bench compare --study digits-lr
      bench compare --versus lr=0.001,batch_size=32 lr=0.01,batch_size=64
    """
    from bench.study.compare import compare_runs

    if study:
        from bench.study.study import check_study_name

        check_study_name(study)
    compare_runs(log_dir, model, dataset, sort_key, where, output_format, plot, group, wide, study, storage, pairs)
