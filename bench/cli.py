"""The `bench` command line. It parses and checks, then calls the core.

TensorFlow is imported only inside the commands that train or evaluate, so
`bench --help`, `bench list` and `bench compare` answer at once.
"""

import json
import sys
import traceback

import click

from bench import tf_runtime
from bench.errors import BenchError, BenchUsageError, describe_exception
from bench.options import OPTIONS, REQUIRED, default_data_dir

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(message, exit_code):
    click.echo(f"error: {message}", err=True)
    sys.exit(exit_code)


class BenchGroup(click.Group):
    """A click group that turns every failure into one line and an exit code."""

    def main(self, args=None, prog_name=None, **extra):
        extra.pop("standalone_mode", None)
        tf_runtime.set_verbose(False)
        try:
            result = super().main(args=args, prog_name=prog_name or "bench", standalone_mode=False, **extra)
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx else "bench"
            _fail(f"{error.format_message()} (see '{where} --help')", 2)
        except click.Abort:
            _fail("aborted", 130)
        except BenchError as error:
            if tf_runtime.VERBOSE:
                traceback.print_exc()
            _fail(str(error), error.exit_code)
        except KeyboardInterrupt:
            _fail("interrupted", 130)
        except Exception as error:  # the last line of defence: no traceback unless asked
            if tf_runtime.VERBOSE:
                traceback.print_exc()
            _fail(f"{describe_exception(error)} (run with --verbose for the traceback)", 1)
        sys.exit(result if isinstance(result, int) else 0)


def _set_verbose(ctx, param, value):
    if value:  # given at the group or the command level: either turns it on
        tf_runtime.set_verbose(True)


verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
    envvar="BENCH_VERBOSE", help="Show TensorFlow's messages and full tracebacks.")


@click.group(cls=BenchGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="bench", prog_name="bench")
@verbose_option
def cli():
    """An experiment bench for autoencoders on TensorFlow 2.

    \b
    First run (offline, a minute on a laptop):
      bench train --model SingleLayerCAE --dataset Digits --epochs 5
      bench compare
      tensorboard --logdir log/
    """


# -- bench list -------------------------------------------------------------

@cli.command("list")
@click.argument("what", required=False, type=click.Choice(["models", "datasets"]))
@verbose_option
def list_command(what):
    """List the models and datasets bench can use, and where each comes from."""
    from rich.table import Table

    from bench import plugins
    from bench.console import make_console

    kinds = {"models": ["model"], "datasets": ["dataset"], None: ["model", "dataset"]}[what]
    console = make_console()
    for kind in kinds:
        table = Table(title=f"{plugins.folder_word(kind)}", title_justify="left")
        for column in ("name", "from", "description"):
            table.add_column(column, overflow="fold")
        for spec in plugins.discover(kind).values():
            description = spec.description()
            style = "red" if description.startswith("BROKEN") else None
            table.add_row(spec.name, f"{spec.origin}: {spec.where()}", description, style=style)
        console.print(table)


# -- bench train --------------------------------------------------------------

class JsonObject(click.ParamType):
    """A JSON object given on the command line, or a mapping from YAML."""

    name = "JSON"

    def convert(self, value, param, ctx):
        if isinstance(value, dict):
            return value
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as error:
            self.fail(f"{value!r} is not valid JSON ({error.msg} at column {error.colno}); "
                      "write an object, e.g. '{\"learning_rate\": 1e-5}'", param, ctx)
        if not isinstance(parsed, dict):
            self.fail(f"{value!r} is not a JSON object; write e.g. '{{\"learning_rate\": 1e-5}}'", param, ctx)
        return parsed


def option_names(command):
    """{every spelling of an option, dashes as underscores: its name} of a click command."""
    names = {}
    for option in command.params:
        if option.expose_value and option.name:
            names[option.name] = option.name
            for flag in option.opts:
                names[flag.lstrip("-").replace("-", "_")] = option.name
    return names


def _load_config_file(ctx, param, path):
    """Turn a --config YAML file into defaults that the command line and BENCH_* override."""
    if not path:
        return
    from bench.config import read_yaml_mapping

    values = read_yaml_mapping(path)
    names = option_names(ctx.command)
    defaults = {}
    for key, value in values.items():
        name = names.get(str(key).replace("-", "_"))
        if name is None:
            known = ", ".join(sorted({n for n in names.values()}))
            raise BenchUsageError(f"{path}: unknown key '{key}'; the keys are {known}")
        defaults[name] = value
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _options(*flags, **settings):
    """A click option that BENCH_<NAME> can also set (DTB's underscore spellings as aliases)."""
    name = settings.pop("name")
    return click.option(*flags, name, envvar=f"BENCH_{name.upper()}", show_envvar=False, **settings)


def _click_settings(option):
    """click.option's settings for one bench.options.Option."""
    settings = {"help": option.help}
    if option.default is REQUIRED:
        settings["required"] = True
    elif option.kind == "flag":
        settings["is_flag"] = True
    else:
        settings["default"] = option.cli_default if option.cli_default is not None else option.default
        if option.kind == "json":
            settings["type"], settings["default"] = JsonObject(), json.dumps(option.default)
        elif isinstance(option.kind, tuple):
            settings["type"] = click.Choice(option.kind)
        elif option.default is not None:
            settings["type"] = type(option.default)
    if option.cli_default is default_data_dir:
        settings["show_default"] = "~/.cache/bench"
    return settings


def training_options(command):
    """Add every training option of bench.options.OPTIONS to a click command, in table order."""
    for option in reversed(OPTIONS):
        command = _options(option.flag, *option.aliases, name=option.name, **_click_settings(option))(command)
    return command


@cli.command(context_settings={"show_default": True})
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False,
              callback=_load_config_file, envvar="BENCH_CONFIG",
              help="A YAML file of option: value; the command line and BENCH_* variables win.")
@training_options
@_options("--repeats", name="repeats", type=click.IntRange(min=1), default=1,
          help="Train N runs of this configuration, seeds S..S+N-1 (S: --seed), one after the other; "
               "then compare them (mean ± std).")
@_options("--restart", name="restart", is_flag=True, help="Delete the run's folder and start over.")
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
        _sweep_and_show({**grid, "seed": [options["seed"]]}, 1, repeats, echo=True)
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


def _planned_run(config_file):
    """(the run folder `bench train --config FILE` trains, whether that run is already
    finished); (None, False) when the file is invalid (its process will say why)."""
    from bench.experiment import resolve_config
    from bench.runs import RunFolder

    try:
        config, restart = train_config_of(config_file)
        config = resolve_config(config)[0]
    except (BenchError, click.ClickException):
        return None, False
    run = RunFolder.for_config(config)
    return str(run.path), not restart and run.is_finished(config)


def _sweep_and_show(axes, jobs, repeats, echo=False):
    """Train the grid's runs, then show them (grouped over seeds where there are repeats)."""
    from bench import compare
    from bench.console import Reporter
    from bench.runs import RunFolder
    from bench.sweep import run_sweep, with_repeats

    axes = with_repeats(axes, repeats)
    if "repeats" in axes:
        raise BenchUsageError("--repeats is an option of the sweep, not an axis")
    tf_runtime.import_tensorflow()
    folders, failures, total = run_sweep(axes, jobs, Reporter(interactive=False), _planned_run, echo)
    rows = [row for row in (compare.run_row(RunFolder(folder)) for folder in folders) if row]
    if rows:
        compare.show(rows, f"the {len(rows)} run(s) of the sweep")
    if failures:
        raise BenchError(f"{len(failures)} of {total} run(s) failed ({', '.join(label for label, _ in failures)}); "
                         "their errors are above; fix them and run the same command again")


# -- bench sweep --------------------------------------------------------------

@cli.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--grid", type=click.Path(dir_okay=False), default=None,
              help="A YAML file of bench train options; list values are the grid's axes.")
@click.option("--jobs", "-j", type=click.IntRange(min=1), default=1, show_default=True,
              help="Runs at once, each in its own process.")
@click.option("--repeats", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train every point with N seeds, S..S+N-1 (S: --seed, 0 by default).")
@verbose_option
@click.pass_context
def sweep(ctx, grid, jobs, repeats):
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
    from bench.sweep import grid_from_file, grid_from_tokens

    names = option_names(train)
    flags = {option.name for option in train.params if getattr(option, "is_flag", False)}
    axes = grid_from_file(grid, names) if grid else {}
    axes.update(grid_from_tokens(ctx.args, names, flags))
    _sweep_and_show(axes, jobs, repeats)


# -- bench eval ---------------------------------------------------------------

MODEL_FILE_HELP = ("Build the model from this file instead of the plugin found by name, e.g. the run's "
                   "recorded copy RUN/model_source/<Model>.py.")


@cli.command("eval")
@click.argument("run_folder", type=click.Path(file_okay=False))
@click.option("--split", "splits", type=click.Choice(["validation", "test"]), multiple=True, default=["test"],
              show_default=True, help="Which split to measure (repeat for both).")
@click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
              help="The best model on validation, or the latest state.")
@click.option("--batch-size", "--batch_size", type=int, default=None, help="Images per batch [the run's].")
@click.option("--data-dir", "--data_dir", default=None, envvar="BENCH_DATA_DIR",
              help="Dataset cache [the run's].")
@click.option("--noise-factor", "--noise_factor", type=float, default=0.0, show_default=True,
              help="Score reconstructions of inputs with this much Gaussian noise against the clean images.")
@click.option("--probe-limit", type=click.IntRange(min=0), default=5000, show_default=True,
              help="Training images for the linear probe of the codes (labelled datasets); 0 skips it.")
@click.option("--model-file", type=click.Path(dir_okay=False), default=None, help=MODEL_FILE_HELP)
@verbose_option
def eval_command(run_folder, splits, checkpoint, batch_size, data_dir, noise_factor, probe_limit, model_file):
    """Measure a run's model on a split; the figures are added to its results.

    Each figure is recorded with where it came from: the checkpoint (best or
    last, its epoch and step), the split, clean or noisy input, and when.
    On labelled datasets it also fits a logistic regression on the codes of the
    training images and reports its test accuracy, next to the same classifier
    on raw pixels: what the representation is worth, not only the reconstruction.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.evaluate import evaluate_run

    evaluate_run(run_folder, splits, checkpoint, batch_size, Reporter(), data_dir, noise_factor, probe_limit,
                 model_file)


# -- bench embed --------------------------------------------------------------

@cli.command("embed")
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

    Training already does this for the test split; use it for another split,
    checkpoint or number of images.
    """
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.evaluate import embed_run

    embed_run(run_folder, split, limit, checkpoint, Reporter(), data_dir, model_file)


# -- bench inspect ------------------------------------------------------------

@cli.command("inspect")
@click.option("--model", "-m", required=True, help="Model plugin name (bench list models).")
@click.option("--dataset", "-d", required=True, help="Dataset whose image shape to use (nothing is downloaded).")
@click.option("--model-args", "--model_args", type=JsonObject(), default="{}", help="The model's options as JSON.")
@verbose_option
def inspect_command(model, dataset, model_args):
    """A model's layers, output shapes and parameter counts, without training."""
    from bench.console import Reporter

    tf_runtime.import_tensorflow()
    from bench.architecture import inspect_model

    inspect_model(model, dataset, model_args, Reporter())


# -- bench compare ------------------------------------------------------------

@cli.command()
@click.option("--log-dir", "--log_dir", default="log", envvar="BENCH_LOG_DIR", show_default=True,
              help="Root folder of the runs.")
@click.option("--model", "-m", default=None, help="Only runs of this model.")
@click.option("--dataset", "-d", default=None, help="Only runs on this dataset.")
@click.option("--sort", "sort_key", default="validation_error", show_default=True,
              help="Column to sort by: validation_error, test_error, test_mse, test_psnr, epochs, lr, l2.")
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
@verbose_option
def compare(log_dir, model, dataset, sort_key, where, output_format, plot, group):
    """One row per run, or per configuration over seeds: results side by side; * marks each metric's best.

    \b
    Examples:
      bench compare --dataset MNIST --sort test_psnr
      bench compare --where l2_penalty=1e-9 --format markdown
      bench compare --group --format markdown
      bench compare --dataset MNIST --plot compare.png
    """
    from bench.compare import compare_runs

    compare_runs(log_dir, model, dataset, sort_key, where, output_format, plot, group)


def main():
    """The `bench` console script."""
    cli.main(prog_name="bench")
