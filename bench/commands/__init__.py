"""bench's commands, one module each: the click command, its options and what it does
beyond the libraries it calls. Each imports TensorFlow only inside its body, so
`bench --help`, `bench list` and `bench compare` answer at once."""

from bench.commands.compare import compare
from bench.commands.embed import embed_command
from bench.commands.encode import encode_command
from bench.commands.eval import eval_command
from bench.commands.export import export_command
from bench.commands.generate import interpolate_command, sample_command
from bench.commands.inspect import inspect_command
from bench.commands.list_plugins import list_command
from bench.commands.prepare import prepare_command
from bench.commands.search import search
from bench.commands.sweep import sweep
from bench.commands.train import train

ALL = (list_command, train, sweep, search, eval_command, embed_command, inspect_command, compare, prepare_command,
       export_command, encode_command, sample_command, interpolate_command)
