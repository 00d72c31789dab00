"""Finding and loading model and dataset plugins.

A plugin is `models/<Name>.py` (or `inputs/<Name>.py`) holding `class <Name>`
(DTB's convention). They are found, later sources winning on a name clash, in:

1. bench's built-in `models/` and `inputs/`;
2. the `bench.models` / `bench.inputs` entry points of installed packages;
3. `./models` and `./inputs` of the current directory (the user's workspace).

Files are loaded by path under a private module name, so that a generic folder
name like `models` never shadows, or is shadowed by, an installed package.
Nothing here imports TensorFlow: descriptions are read from the source with
`ast`, and a plugin is imported only when it is used.
"""

import ast
import difflib
import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchUsageError, PluginError, describe_exception

KINDS = {
    # kind: (folder, entry point group, what the user calls it)
    "model": ("models", "bench.models", "model"),
    "dataset": ("inputs", "bench.inputs", "dataset"),
}

_PACKAGE_DIR = Path(__file__).resolve().parent


# The plugins bench ships: another file in the clone's own models/ or inputs/ (the folder
# bench's own plugins come from in an editable install) is the user's, and listed so.
SHIPPED = {"model": ("ContractiveAE", "ConvAE", "FullyConnectedAE", "SingleLayerCAE", "SparseAE", "StackedCAE",
                     "StackedDenoisingCAE", "UndercompleteCAE", "VAE"),
           "dataset": ("Cifar10", "Digits", "FashionMNIST", "MNIST")}


def builtin_dir(kind):
    """The folder of bench's own plugins of `kind` ("model" or "dataset")."""
    folder = KINDS[kind][0]
    installed = _PACKAGE_DIR / f"builtin_{folder}"
    if installed.is_dir():  # a regular `pip install .`
        return installed
    return _PACKAGE_DIR.parent / folder  # a clone, or `pip install -e .`


@dataclass
class PluginSpec:
    """Where one plugin comes from, and how to load it."""

    kind: str
    name: str
    origin: str
    path: Path | None = None
    entry_point: importlib.metadata.EntryPoint | None = None
    problem: str | None = field(default=None)

    def description(self):
        """The first line of the class docstring, read without importing the file."""
        if self.problem:
            return f"BROKEN: {self.problem}"
        source_file = self.source_file()
        if source_file is None:
            return ""
        try:
            tree = ast.parse(Path(source_file).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError) as error:
            return f"BROKEN: {describe_exception(error)}"
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and node.name == self.name:
                doc = ast.get_docstring(node) or ""
                return doc.strip().splitlines()[0] if doc.strip() else ""
        return f"BROKEN: defines no class {self.name}"

    def source_file(self):
        """The Python file that defines the plugin, found without importing it (None when
        an entry point's module has no file of its own)."""
        return self.path or _entry_point_file(self.entry_point)

    def where(self):
        """A short, human description of the plugin's source."""
        if self.path is not None:
            return str(_relative(self.path))
        return f"{self.entry_point.value} ({self.origin})"

    def load(self):
        """Import the plugin and return its class; PluginError says why not."""
        if self.problem:
            raise PluginError(f"{self.kind} {self.name} ({self.where()}) is broken: {self.problem}")
        if self.entry_point is not None:
            try:
                return self.entry_point.load()
            except (Exception, SystemExit) as error:  # a plugin may raise anything at import
                raise PluginError(
                    f"{self.kind} plugin {self.name} ({self.where()}) failed to import: "
                    f"{describe_exception(error)}"
                ) from error
        return _load_class_from_file(self.kind, self.name, self.path)


def _relative(path):
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def _entry_point_file(entry_point):
    top_module = entry_point.value.split(":")[0]
    try:
        spec = importlib.util.find_spec(top_module)
    except Exception:  # finding a submodule imports its parents, which may fail
        return None
    return spec.origin if spec and spec.origin and spec.origin.endswith(".py") else None


def _load_class_from_file(kind, name, path):
    # Named by path and content: an edited file is a new module, two same-named
    # files in different folders never collide.
    digest = hashlib.sha1(str(path).encode() + Path(path).read_bytes()).hexdigest()[:12]
    module_name = f"bench._plugins.{KINDS[kind][0]}_{digest}.{name}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except (Exception, SystemExit) as error:  # a plugin may raise anything at import
            del sys.modules[module_name]
            raise PluginError(
                f"{kind} plugin {_relative(path)} failed to import: {describe_exception(error)}"
            ) from error
    plugin_class = getattr(module, name, None)
    if not isinstance(plugin_class, type):
        raise PluginError(f"{_relative(path)} defines no class {name}: a plugin file holds a class of its own name")
    return plugin_class


def _files_in(folder, kind, origin):
    if not folder.is_dir():
        return []
    return [
        PluginSpec(kind, path.stem, origin, path=path.resolve())
        for path in sorted(folder.glob("*.py"))
        if not path.name.startswith("_") and path.stem.isidentifier()
    ]


_remembered_entry_points = {}
"""group → its entry points, as `remember_entry_points` found them (in bench.forkserver's start-up
process, for the trainings it forks: the packages installed when it imported its modules)."""


def remember_entry_points():
    """Look for installed plugins once, for the processes this one forks (each would look again)."""
    for _, group, _ in KINDS.values():
        _remembered_entry_points[group] = importlib.metadata.entry_points(group=group)


def _entry_points(kind):
    group = KINDS[kind][1]
    specs = []
    found = _remembered_entry_points.get(group)
    for entry_point in importlib.metadata.entry_points(group=group) if found is None else found:
        dist = getattr(entry_point, "dist", None)
        origin = f"package {dist.name}" if dist is not None else "entry point"
        specs.append(PluginSpec(kind, entry_point.name, origin, entry_point=entry_point))
    return specs


def discover(kind):
    """All plugins of `kind` ("model" or "dataset") by name, later sources winning."""
    folder = KINDS[kind][0]
    builtin = builtin_dir(kind)
    workspace = Path.cwd() / folder
    found = {}
    shipped = [spec for spec in _files_in(builtin, kind, "built-in") if spec.name in SHIPPED[kind]]
    sources = [shipped, _entry_points(kind)]
    if workspace.resolve() != builtin.resolve():
        sources.append(_files_in(workspace, kind, "workspace"))
    else:  # running from the clone: its own folder is the workspace too, for what bench does not ship
        sources.append([spec for spec in _files_in(workspace, kind, "workspace") if spec.name not in SHIPPED[kind]])
    for specs in sources:
        for spec in specs:
            found[spec.name] = spec
    return dict(sorted(found.items(), key=lambda item: item[0].lower()))


def find(kind, name):
    """The plugin of `kind` called `name` (case-insensitive when unambiguous); a dataset
    named by a prefix (`folder:PATH`) is bench.data.sources.find_dataset's.

    Raises:
        BenchUsageError: no such plugin; the message suggests the closest names.
    """
    plugins = discover(kind)
    if name in plugins:
        return plugins[name]
    same_but_case = [known for known in plugins if known.lower() == name.lower()]
    if len(same_but_case) == 1:
        return plugins[same_but_case[0]]
    what = KINDS[kind][2]
    close = difflib.get_close_matches(name, list(plugins), n=3, cutoff=0.5)
    close += [k for k in plugins if name.lower() in k.lower() and k not in close]
    hint = f"did you mean {', '.join(close[:3])}? " if close else ""
    raise BenchUsageError(
        f"unknown {what} '{name}'; {hint}'bench list {folder_word(kind)}' shows all {len(plugins)}"
    )


def folder_word(kind):
    """The word `bench list` takes for `kind`: models or datasets."""
    return "models" if kind == "model" else "datasets"


def plugin_class(kind, name):
    """The class of another plugin, for plugins that build on one::

        from bench import plugin_class
        StackedCAE = plugin_class("model", "StackedCAE")

        class StackedDenoisingCAE(StackedCAE):
            ...
    """
    return find(kind, name).load()
