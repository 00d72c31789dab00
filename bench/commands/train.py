"""`bench train`: train a model on a dataset, or resume its run."""

import click

from bench import tf_runtime
from bench.commands.flags import bench_option, load_config_file, training_options, verbose_option
from bench.errors import BenchError


@click.command("train", context_settings={"show_default": True})
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=load_config_file, envvar="BENCH_CONFIG",
              help="A YAML file of option: value; the command line and BENCH_* variables win.")
@training_options
@bench_option("--repeats", name="repeats", type=click.IntRange(min=1), default=1,
          help="Train N runs of this configuration, seeds S..S+N-1 (S: --seed), one after the other; "
               "then compare them (mean ± std).")
@bench_option("--restart", name="restart", is_flag=True, help="Delete the run's folder and start over.")
@verbose_option
def train(restart, repeats, **options):
    """Train a model on a dataset, resuming its run if it exists.

    \b
    The run lives in <log-dir>/<Model>/<Dataset>_<Optimizer>_lr=<lr>[_exp_lr][_l2=<l2>]
    [_<options>][_<precision>][_<comment>]/.
    Ctrl-C saves a checkpoint; the same command resumes.

    \b
    Examples:
      bench train --model SingleLayerCAE --dataset Digits --epochs 5
      bench train --model SingleLayerCAE --dataset MNIST --l2-penalty 1e-9
      bench train --config run.yaml --epochs 300
    """
    from bench.config import TrainConfig
    from bench.console import Reporter

    if repeats > 1:
        grid = {key: [value] for key, value in options.items() if value is not None}
        if restart:
            grid["restart"] = [True]
        from bench.sweep import sweep_and_show

        sweep_and_show({**grid, "seed": [options["seed"]]}, 1, repeats, planned_run, echo=True)
        return
    tf_runtime.import_tensorflow()
    from bench.train import run_training

    run_training(TrainConfig(**options), restart, Reporter())


def train_config_of(config_file):
    """The TrainConfig that `bench train --config FILE` trains (the file, BENCH_* variables,
    the defaults), and whether it restarts."""
    from bench.config import TrainConfig

    with train.make_context("train", ["--config", str(config_file)]) as ctx:
        options = dict(ctx.params)
    restart = options.pop("restart")
    options.pop("repeats")
    return TrainConfig(**options), restart


def planned_run(config_file):
    """(the run folder `bench train --config FILE` trains, whether that run is already
    finished); (None, False) when the file is invalid (its process will say why)."""
    from bench.loading import resolve_config
    from bench.runs import RunFolder

    try:
        config, restart = train_config_of(config_file)
        config = resolve_config(config)[0]
    except (BenchError, click.ClickException):
        return None, False
    run = RunFolder.for_config(config)
    return str(run.path), not restart and run.is_finished(config)
