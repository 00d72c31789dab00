"""The `bench` command line. It parses and checks, then calls the core.

TensorFlow is imported only inside the commands that train or evaluate, so
`bench --help`, `bench list` and `bench compare` answer at once.
"""

import sys
import traceback

import click

from bench import commands, tf_runtime
from bench.commands.flags import verbose_option
from bench.errors import BenchError, describe_exception, storage_problem

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
            problem = storage_problem(error)
            _fail(problem or f"{describe_exception(error)} (run with --verbose for the traceback)", 1)
        sys.exit(result if isinstance(result, int) else 0)


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


for _command in commands.ALL:
    cli.add_command(_command)


def main():
    """The `bench` console script."""
    cli.main(prog_name="bench")
