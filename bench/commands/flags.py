"""click plumbing the commands share: the --verbose flag, --config files, and the options of
commands that load a trained run (the training options themselves: bench.run.option_parsing)."""

import click

from bench import tf_runtime
from bench.errors import BenchUsageError

RESTART_HELP = ("Delete the run's folder and start over. Taken only from the command line, never from "
                "BENCH_RESTART or a config file: it deletes.")
COMMAND_LINE_ONLY = ("restart",)
MODEL_FILE_HELP = ("Build the model from this file instead of the plugin found by name, e.g. the run's "
                   "recorded copy RUN/model_source/<Model>.py.")


def _set_verbose(ctx, param, value):
    if value:  # given at the group or the command level: either turns it on
        tf_runtime.set_verbose(True)


verbose_option = click.option(
    "--verbose", "-v", is_flag=True, expose_value=False, is_eager=True, callback=_set_verbose,
    envvar="BENCH_VERBOSE", help="Show TensorFlow's messages and full tracebacks.")

cold_option = click.option(
    "--cold", is_flag=True, envvar="BENCH_COLD",
    help="Start each training as a new process (Python and TensorFlow imported anew, about 5 s) instead of "
         "forking it from one warm process that imported them once; for a plugin that must see them start anew.")


def option_names(command):
    """{every spelling of an option, dashes as underscores: its name} of a click command."""
    names = {}
    for option in command.params:
        if option.expose_value and option.name:
            names[option.name] = option.name
            for flag in option.opts:
                names[flag.lstrip("-").replace("-", "_")] = option.name
    return names


def load_config_file(ctx, param, path):
    """Turn a --config YAML file into defaults that the command line and BENCH_* override."""
    if not path:
        return
    from bench.run.config import read_yaml_mapping

    values = read_yaml_mapping(path)
    names = option_names(ctx.command)
    defaults = {}
    for key, value in values.items():
        name = names.get(str(key).replace("-", "_"))
        if name is None:
            known = ", ".join(sorted({n for n in names.values()} - set(COMMAND_LINE_ONLY)))
            raise BenchUsageError(f"{path}: unknown key '{key}'; the keys are {known}")
        if name in COMMAND_LINE_ONLY:
            raise BenchUsageError(f"{path}: '{key}' deletes runs, so bench takes it only from the command line "
                                  f"(--{name}); remove it from the file")
        defaults[name] = _converted(ctx, path, key, name, value)
    ctx.default_map = {**(ctx.default_map or {}), **defaults}


def _converted(ctx, path, key, name, value):
    """A config file's value as the option's type converts it; BenchUsageError names the key."""
    param = next(param for param in ctx.command.params if param.name == name)
    if value is None:  # "not set" (config.yaml's `device: null`): the option's own default applies
        return None
    try:
        if isinstance(value, (list, tuple)) and not param.multiple:
            raise click.BadParameter(f"one value, not a list ({value!r})")
        return param.type.convert(value, param, ctx)
    except (click.BadParameter, TypeError, ValueError) as error:
        message = getattr(error, "message", str(error))
        raise BenchUsageError(f"{path}: '{key}' must be {param.type.name}: {message}") from error


def trained_run_options(command):
    """The options of a command that loads a run's saved model: --checkpoint, --data-dir,
    --model-file (the commands that use what a run trained)."""
    command = click.option("--model-file", type=click.Path(dir_okay=False), default=None,
                           help=MODEL_FILE_HELP)(command)
    command = click.option("--data-dir", "--data_dir", default=None, envvar="BENCH_DATA_DIR",
                           help="Dataset cache [the run's].")(command)
    return click.option("--checkpoint", type=click.Choice(["best", "last"]), default="best", show_default=True,
                        help="The best model on validation, or the latest state.")(command)
