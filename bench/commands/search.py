"""`bench search`: look for good settings with an Optuna study whose trials are ordinary runs."""

import click

from bench.commands.flags import COMMAND_LINE_ONLY, cold_option, option_names, verbose_option
from bench.commands.train import train
from bench.errors import BenchUsageError
from bench.study.pruning import OBJECTIVES, PRUNERS
from bench.study.study import SAMPLERS


@click.command("search", context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--space", type=click.Path(dir_okay=False), default=None,
              help="A YAML file: the settings to draw ({log_uniform|uniform|int|choice: ...}) and those every "
                   "trial shares (dataset, epochs: each trial's most).")
@click.option("--study", required=True, help="The study's name; workers that give the same name share it.")
@click.option("--storage", default=None, envvar="BENCH_SEARCH_STORAGE",
              help="An Optuna storage URL shared by several machines, e.g. postgresql://bench@db-host/bench "
                   "(default: a journal file in LOG_DIR/_studies/STUDY/).")
@click.option("--trials", type=click.IntRange(min=1), default=20, show_default=True,
              help="Trials of the whole study, every worker's counted.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trials at once on this machine, each in its own process.")
@click.option("--sampler", type=click.Choice(SAMPLERS), default="tpe", show_default=True,
              help="How settings are proposed (grid: every combination of the space's choices).")
@click.option("--pruner", type=click.Choice(PRUNERS), default="median",
              show_default=True, help="How hopeless trials are stopped at an epoch's end.")
@click.option("--objective", type=click.Choice(list(OBJECTIVES)),
              default="validation_error", show_default=True,
              help="What to optimise: a validation metric of each run's best model (" + "; ".join(
                  f"{name.removeprefix('validation_')}: {'higher' if direction == 'maximize' else 'lower'}"
                  for name, direction in OBJECTIVES.items()) + " is better). Each epoch's value is what the pruner sees.")
@click.option("--min-epochs", type=click.IntRange(min=1), default=None,
              help="Epochs every trial trains before it can be pruned [default: half a trial's epochs, rounded "
                   "up: earlier, seed noise decides, and the sampler is left few finished trials to learn from].")
@click.option("--reduction-factor", type=click.IntRange(min=2), default=3, show_default=True,
              help="asha, hyperband: one trial in this many goes on at each rung.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="The sampler's seed (a trial's training seed is a setting of the space).")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs per trial, seeds S..S+N-1 (S: the space's seed, 0 by default); a trial's value is their "
                   "mean, its spread kept beside it. The first seed's run is the one pruned.")
@click.option("--lease-seconds", type=click.FloatRange(min=1), default=120.0, show_default=True,
              help="A trial whose worker has not renewed its lease (journal) or beaten its heartbeat (database) "
                   "for this long is retried by another worker.")
@click.option("--max-retries", type=click.IntRange(min=0), default=2, show_default=True,
              help="How many times a trial whose process or worker was killed is tried again, from its checkpoint "
                   "(a trial that fails by itself, e.g. a plugin that raises, is not).")
@click.option("--confirm", type=click.IntRange(min=0), default=2, show_default=True,
              help="When the trials are done, retrain this many of the best over fresh seeds: the winner is the "
                   "best confirmed mean, tested against the runner-up (0: report the best trial's own value). "
                   "Run on a finished study, it confirms it.")
@click.option("--confirm-repeats", type=click.IntRange(min=2), default=3, show_default=True,
              help="Seeds each confirmed trial is retrained with (seeds no trial used).")
@click.option("--show", is_flag=True, help="Show the study's trials, best first, and draw its pictures; train nothing.")
@click.option("--format", "output_format", type=click.Choice(["table", "markdown", "csv", "json"]), default="table",
              show_default=True, help="With --show: the output format.")
@cold_option
@verbose_option
@click.pass_context
def search(ctx, space, study, storage, trials, workers, sampler, pruner, objective, min_epochs, reduction_factor,
           seed, repeats, lease_seconds, max_retries, confirm, confirm_repeats, show, output_format, cold):
    """Search settings with Optuna: each trial is a `bench train` run, pruned early when hopeless.

    \b
      bench search --space space.yaml --study cae-lr --trials 40 --pruner asha
      bench search --space space.yaml --study cae-lr --storage postgresql://bench@db-host/bench
      bench search --study cae-lr --show

    \b
    Other bench train options (--log-dir, --data-dir, ...) are shared by every trial.
    Every trial is an ordinary run folder: compare, eval and export see it. Ctrl-C stops
    the running trials at a checkpoint; the same command resumes them.
    """
    from bench.console import Reporter
    from bench.study.study import SearchSettings, check_study_name

    check_study_name(study)  # before anything is read or written
    names = option_names(train)
    shared = _shared_options(ctx.args, names)
    settings = SearchSettings(study=study, storage=storage, trials=trials, workers=workers, sampler=sampler,
                              pruner=pruner, min_epochs=min_epochs, reduction_factor=reduction_factor, seed=seed,
                              repeats=repeats, lease_s=lease_seconds, max_retries=max_retries, log_dir=shared.get("log_dir", "log"),
                              objective=objective, confirm=confirm, confirm_repeats=confirm_repeats)
    report = Reporter(interactive=False)
    if show:
        from bench.study.search_results import show_study

        text = show_study(settings, report, output_format)
        if text is not None:
            click.echo(text)
        return
    if not space:
        raise BenchUsageError("bench search needs --space FILE to train (or --show to see a study)")
    _search(space, shared, settings, names, report, cold)


def _shared_options(tokens, names):
    """{option: value} of the bench train options given after the search's own (one value each)."""
    from bench.study.sweep import grid_from_tokens

    flags = {option.name for option in train.params if getattr(option, "is_flag", False)}
    grid = grid_from_tokens(tokens, names, flags)
    several = [name for name, values in grid.items() if len(values) != 1]
    if several:
        raise BenchUsageError(f"--{several[0].replace('_', '-')} takes one value in a search; "
                              "to search it, put it in the space file as {choice: [...]}")
    return {name: values[0] for name, values in grid.items()}


def _search(space_file, shared, settings, names, report, cold):
    import dataclasses

    from bench.run.config import TrainConfig
    from bench.run.planning import plan_run
    from bench.study.processes import warm_starts
    from bench.study.search import Search
    from bench.study.search_results import starving_lines, trial_rows
    from bench.study.space import check_space, read_space

    space = read_space(space_file, names, refused=COMMAND_LINE_ONLY)
    space = dataclasses.replace(space, fixed={**space.fixed, **shared})
    check_space(space, space_file, lambda point: plan_run(TrainConfig.from_point(point)))
    worker = Search(settings, space, report)
    with warm_starts(report, cold):  # one warm start-up process for the trials and the confirmations
        complete, pruned, failed = worker.run()
        report.info(f"search {settings.study}: this worker's trials: {complete} finished, {pruned} pruned, "
                    f"{failed} failed; bench search --study {settings.study} --show lists the study's")
        for line in starving_lines(trial_rows(worker.study)):
            report.warning(line)
        if settings.confirm:
            from bench.study.confirming import confirm

            confirm(worker.study, space, settings, report)
