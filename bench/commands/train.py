"""`bench train`: train a model on a dataset, or resume its run."""

import os

import click

from bench import tf_runtime
from bench.commands.flags import RESTART_HELP, load_config_file, verbose_option
from bench.run.option_parsing import bench_option, training_options


@click.command("train", context_settings={"show_default": True})
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=load_config_file, envvar="BENCH_CONFIG",
              help="A YAML file of option: value; the command line and BENCH_* variables win.")
@training_options
@bench_option("--repeats", name="repeats", type=click.IntRange(min=1), default=1,
          help="Train N runs of this configuration, seeds S..S+N-1 (S: --seed), one after the other; "
               "then compare them (mean ± std).")
@click.option("--restart", is_flag=True, help=RESTART_HELP)
@verbose_option
def train(restart, repeats, **options):
    """Train a model on a dataset, resuming its run if it exists.

    \b
    The run lives in <log-dir>/<Model>/<Dataset>_<Optimizer>_lr=<lr>[_exp_lr][_l2=<l2>]
    [_<model option>=<v>...][_noise=<f>][_<precision>][_<option>=<v>...: aug, classes,
    bs, seed, ... in the options' order][_<optimizer argument>=<v>...][_epochs=<n>]
    [_<comment>]/: every setting that differs from its default and changes what the run
    is, its length included (unless DTB's 150). Ctrl-C saves a checkpoint; the same
    command resumes. A larger --epochs than a finished run's makes a new, longer run
    from its state; the finished run stays as it is.

    \b
    Examples:
      bench train --model SingleLayerCAE --dataset Digits --epochs 5
      bench train --model SingleLayerCAE --dataset MNIST --l2-penalty 1e-9
      bench train --config run.yaml --epochs 300
    """
    from bench.console import Reporter
    from bench.run import planning
    from bench.run.config import TrainConfig

    report = Reporter()
    warn_of_ignored_restart(report)
    if repeats > 1:
        grid = {key: [value] for key, value in options.items() if value is not None}
        from bench.study.sweep import sweep_and_show

        cold = click.BOOL.convert(os.environ.get("BENCH_COLD", "0"), None, None)  # as bench sweep --cold reads it
        sweep_and_show({**grid, "seed": [options["seed"]]}, 1, repeats, restart=restart, echo=True, cold=cold)
        return
    config = TrainConfig(**options)
    config.check()  # an impossible value is told at once, before TensorFlow is imported,
    planning.resolve_config(config)  # and so is an unknown model, dataset, optimizer or option
    if config.strategy == "multi-worker":
        from bench.run import cluster

        cluster.supervise(cluster.read_tf_config(), config.cluster_timeout, report)
    from bench.study.pruning import SearchTrial

    stopper = SearchTrial.from_environment()  # a trial of `bench search`: its pruner may stop it
    tf_runtime.import_tensorflow()
    from bench.run.train import run_training

    run_training(config, restart, report, stopper)


def warn_of_ignored_restart(report):
    """--restart deletes runs: a BENCH_RESTART left in a shell must not, so it is ignored, with a word."""
    if os.environ.get("BENCH_RESTART"):
        report.warning("BENCH_RESTART is ignored: --restart deletes runs, so bench takes it only from the command line")
