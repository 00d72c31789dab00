"""`bench sweep`: a grid of runs, N processes at once, compared at the end."""

import click

from bench.commands.flags import COMMAND_LINE_ONLY, RESTART_HELP, cold_option, option_names, verbose_option
from bench.commands.train import train, warn_of_ignored_restart


@click.command("sweep", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--grid", type=click.Path(dir_okay=False), default=None,
              help="A YAML file of bench train options; list values are the grid's axes.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at once, each in its own process.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train every point with N seeds, S..S+N-1 (S: --seed, 0 by default).")
@click.option("--restart", is_flag=True, help=RESTART_HELP)
@cold_option
@verbose_option
@click.pass_context
def sweep(ctx, grid, jobs, repeats, restart, cold):
    """Train a grid of runs: every bench train option, comma-separated values as axes.

    \b
    The DTB blog's four runs, two at a time, each with 5 seeds:
      bench sweep --model SingleLayerCAE --dataset MNIST,Cifar10 --l2-penalty 0,1e-9 --epochs 20 --repeats 5 --jobs 2
    From a file (list values are axes):
      bench sweep --grid grid.yaml

    \b
    Each run is an ordinary run folder; a failing run is reported and the others
    go on; running the sweep again skips finished runs and resumes the others.
    The runs are compared at the end, grouped over seeds (mean ± std) when repeated.
    """
    from bench.console import Reporter
    from bench.study.sweep import grid_from_file, grid_from_tokens, sweep_and_show

    warn_of_ignored_restart(Reporter())
    names = option_names(train)
    flags = {option.name for option in train.params if getattr(option, "is_flag", False)}
    axes = grid_from_file(grid, names, refused=COMMAND_LINE_ONLY) if grid else {}
    axes.update(grid_from_tokens(ctx.args, names, flags))
    sweep_and_show(axes, jobs, repeats, restart=restart, cold=cold)
