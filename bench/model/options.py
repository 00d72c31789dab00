"""A model plugin's options ({option: default}) and a run's model options resolved
against them.

The options are read from the plugin's source with `ast`, without importing it,
so that a sweep's parent plans its runs without TensorFlow: the keywords of the
class's `__init__`, then its base's while it passes `**kwargs` on, up to
Autoencoder's own (`loss`, `pixel_range`). A base is followed when it is
defined in the same file, is `plugin_class("model", "Name")`, or is bench's
Autoencoder. A plugin whose source does not say its options plainly (a default
that is not a literal, a base from elsewhere) is imported, TensorFlow with it,
and its options read from the class.
"""

import ast
import difflib
import inspect
import json
from pathlib import Path

from bench import plugins, tf_runtime
from bench.errors import BenchUsageError

AUTOENCODER_FILE = Path(__file__).with_name("autoencoder.py")


class _NotPlain(Exception):
    """The source does not say the options plainly: import the plugin instead."""


def model_options(model_spec):
    """{option: default} of a model plugin, from its source when it says them plainly,
    else from its imported class."""
    return model_options_and_choices(model_spec)[0]


def model_choices(model_spec):
    """{option: (allowed values)} of a model plugin's options that declare them with a
    `typing.Literal` annotation in `__init__` (`downsample: Literal["pool", "stride"] = "pool"`)."""
    return model_options_and_choices(model_spec)[1]


def model_options_and_choices(model_spec):
    """({option: default}, {option: allowed values}) of a model plugin."""
    try:
        return _read(model_spec)
    except _NotPlain:
        tf_runtime.import_tensorflow()
        from bench.model.building import model_class_of

        model_class = model_class_of(model_spec)
        return options_of_class(model_class), choices_of_class(model_class)


def choices_of_class(model_class):
    """{option: allowed values} of an imported model class's Literal-annotated keywords."""
    import typing

    choices = {}
    for cls in model_class.__mro__:
        if "__init__" not in vars(cls):
            continue
        for parameter in inspect.signature(cls.__init__).parameters.values():
            if typing.get_origin(parameter.annotation) is typing.Literal:
                choices.setdefault(parameter.name, tuple(typing.get_args(parameter.annotation)))
    return choices


def check_choice(model_name, key, value, choices):
    """BenchUsageError when `value` is not one of the option's declared choices."""
    if key in choices and value not in choices[key]:
        allowed = ", ".join(json.dumps(choice) for choice in choices[key])
        raise BenchUsageError(f"model {model_name}'s option {key} is one of {allowed}; got {json.dumps(value)}")


def options_of_class(model_class):
    """{option: default} of an imported model class: its __init__ keywords, and its bases'
    while it passes **kwargs on (up to Autoencoder's own `loss`)."""
    from bench.model.autoencoder import Autoencoder

    options = {}
    for cls in model_class.__mro__:
        if "__init__" not in vars(cls):
            continue
        parameters = inspect.signature(cls.__init__).parameters.values()
        for parameter in parameters:
            if parameter.name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                options.setdefault(parameter.name, parameter.default)
        if cls is Autoencoder or not any(p.kind == p.VAR_KEYWORD for p in parameters):
            break
    options.pop("name", None)
    return options


def resolve_model_args(model_spec, args):
    """The model options of a run: unknown names refused, values equal to the
    default dropped (so one architecture always gets one run name)."""
    options, choices = model_options_and_choices(model_spec)
    resolved = {}
    for key, value in args.items():
        if key not in options:
            close = difflib.get_close_matches(key, list(options), n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            known = f"its options are {', '.join(options)}" if options else "it takes no options"
            raise BenchUsageError(f"model {model_spec.name} has no option '{key}'; {hint}{known}")
        check_choice(model_spec.name, key, value, choices)
        default = options[key]
        if value != default and not (isinstance(default, tuple) and list(default) == value):
            resolved[key] = value
    return resolved


# -- reading the source -------------------------------------------------------------------

def read_options(model_spec):
    """{option: default} of a model plugin read from its source; _NotPlain when it does not say."""
    return _read(model_spec)[0]


def _read(model_spec):
    """({option: default}, {option: allowed values}) read from a plugin's source."""
    source = model_spec.source_file()
    if source is None:
        raise _NotPlain(model_spec.name)
    options, choices = {}, {}
    for init in _init_chain(Path(source), model_spec.name, seen=set()):
        for name, default in _keywords(init):
            options.setdefault(name, default)
        for name, allowed in _literal_choices(init).items():
            choices.setdefault(name, allowed)
    options.pop("name", None)
    return options, choices


def _literal_choices(init):
    """{keyword: allowed values} of an __init__'s keywords annotated `Literal[...]` (or
    `typing.Literal[...]`) with literal values; other annotations say nothing here."""
    arguments = init.args
    choices = {}
    for argument in [*arguments.args[1:], *arguments.kwonlyargs]:
        annotation = argument.annotation
        if not isinstance(annotation, ast.Subscript):
            continue
        name = annotation.value.attr if isinstance(annotation.value, ast.Attribute) else \
            getattr(annotation.value, "id", None)
        if name != "Literal":
            continue
        try:
            allowed = ast.literal_eval(annotation.slice)
        except (ValueError, TypeError, SyntaxError) as error:
            raise _NotPlain(argument.arg) from error
        choices[argument.arg] = allowed if isinstance(allowed, tuple) else (allowed,)
    return choices


def _parsed(path):
    try:
        return ast.parse(Path(path).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as error:
        raise _NotPlain(str(path)) from error


def _init_chain(path, class_name, seen):
    """The __init__ definitions whose keywords are the class's options, nearest first."""
    if (path, class_name) in seen or len(seen) > 20:
        raise _NotPlain(class_name)
    seen.add((path, class_name))
    tree = _parsed(path)
    node = next((item for item in tree.body if isinstance(item, ast.ClassDef) and item.name == class_name), None)
    if node is None:
        raise _NotPlain(class_name)
    init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
    chain = [init] if init else []
    if (init and init.args.kwarg is None) or (path == AUTOENCODER_FILE and class_name == "Autoencoder"):
        return chain
    return chain + _init_chain(*_base(tree, node, path), seen)


def _base(tree, node, path):
    """(file, class name) of a class's one base, when the source says where it is."""
    if len(node.bases) != 1 or node.keywords:
        raise _NotPlain(node.name)
    base = node.bases[0]
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
    for item in tree.body:
        if isinstance(item, ast.ClassDef) and item.name == name:
            return path, name
        if isinstance(item, ast.Assign) and [getattr(t, "id", None) for t in item.targets] == [name]:
            return _plugin_base(item.value)
    if name == "Autoencoder" and _imports_autoencoder(tree, base):
        return AUTOENCODER_FILE, "Autoencoder"
    raise _NotPlain(node.name)


def _plugin_base(value):
    """(file, class name) of the model plugin `plugin_class("model", "Name")` names; _NotPlain
    for anything else."""
    if not (isinstance(value, ast.Call) and getattr(value.func, "id", getattr(value.func, "attr", "")) ==
            "plugin_class" and len(value.args) == 2 and not value.keywords):
        raise _NotPlain("a base that is not plugin_class(...)")
    kind, name = (arg.value if isinstance(arg, ast.Constant) else None for arg in value.args)
    if kind != "model" or not isinstance(name, str):
        raise _NotPlain("a base that is not a model plugin")
    spec = plugins.find("model", name)
    if spec.source_file() is None:
        raise _NotPlain("a base without a source file")
    return Path(spec.source_file()), spec.name


def _imports_autoencoder(tree, base):
    """Whether `Autoencoder` (or `bench.Autoencoder`) is bench's."""
    if isinstance(base, ast.Attribute):
        return getattr(base.value, "id", None) == "bench"
    return any(isinstance(item, ast.ImportFrom) and item.module in ("bench", "bench.model.autoencoder")
               and any(alias.name == "Autoencoder" and alias.asname in (None, "Autoencoder") for alias in item.names)
               for item in tree.body)


def _keywords(init):
    """(name, default) of an __init__'s keywords; _NotPlain for one without a literal default."""
    arguments = init.args
    if arguments.posonlyargs:
        raise _NotPlain(init.name)
    positional = arguments.args[1:]  # self
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    pairs = list(zip(positional, defaults)) + list(zip(arguments.kwonlyargs, arguments.kw_defaults))
    keywords = []
    for argument, default in pairs:
        if default is None:
            raise _NotPlain(argument.arg)  # an option without a default: the class says what it is
        try:
            keywords.append((argument.arg, ast.literal_eval(default)))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as error:
            raise _NotPlain(argument.arg) from error
    return keywords
