"""The training options as click reads them: one click option per bench.run.options.Option,
for `bench train` and `bench sweep` and for a point of a sweep or search
(bench.run.config.TrainConfig.from_point), so that a value is converted the same way wherever it comes
from (the command line, a --config file, BENCH_* variables, a space or a grid).

Nothing here imports TensorFlow.
"""

import difflib
import json

import click

from bench.errors import BenchUsageError
from bench.run.options import OPTIONS, REQUIRED, default_data_dir


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


def bench_option(*flags, **settings):
    """A click option that BENCH_<NAME> can also set (DTB's underscore spellings as aliases)."""
    name = settings.pop("name")
    return click.option(*flags, name, envvar=f"BENCH_{name.upper()}", show_envvar=False, **settings)


def click_settings(option):
    """click.option's settings for one bench.run.options.Option."""
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


DATA_OPTIONS = ("image_size", "channels", "on_bad_file", "max_image_pixels", "data_dir")


def data_options(command):
    """Add the training options that say how a dataset is read (DATA_OPTIONS), for the
    commands that read one without training (prepare, inspect --dataset)."""
    for option in reversed([option for option in OPTIONS if option.name in DATA_OPTIONS]):
        command = bench_option(option.flag, *option.aliases, name=option.name, **click_settings(option))(command)
    return command


def training_options(command):
    """Add every training option of bench.run.options.OPTIONS to a click command, in table order."""
    for option in reversed(OPTIONS):
        command = bench_option(option.flag, *option.aliases, name=option.name, **click_settings(option))(command)
    return command


@training_options
@click.command("point", add_help_option=False)
def _point(**options):
    """The training options alone: what a point ({option: value}) is read with."""


def options_of_point(point):
    """{option name: value} of every training option for a point ({option: value}, as a --config file
    gives them; an option's other spellings too): click converts the values as it does the
    file's, BENCH_* variables and the defaults fill in the rest.

    Raises:
        BenchUsageError: an unknown option, or a value the option does not take.
    """
    names = {flag.lstrip("-").replace("-", "_"): param.name for param in _point.params for flag in param.opts}
    unknown = [key for key in point if str(key).replace("-", "_") not in names]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]).replace("-", "_"), [option.name for option in OPTIONS], 1)
        raise BenchUsageError(f"unknown option '{unknown[0]}'{f' (did you mean {close[0]}?)' if close else ''}; "
                              f"the options are {', '.join(option.name for option in OPTIONS)}")
    point = {names[str(key).replace("-", "_")]: value for key, value in point.items()}
    try:
        with _point.make_context("train", [], default_map=point) as ctx:
            return dict(ctx.params)
    except click.ClickException as error:
        raise BenchUsageError(error.format_message()) from error
