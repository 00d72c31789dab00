"""What model a run was trained with, recorded at its start and checked whenever it is read again.

    <run>/model.json      the model plugin (name, origin), the sha256 of each of its
                          source files, and the path and shape of every weight
    <run>/model_source/   a copy of each source file as it was when the run started

`bench eval`, `bench embed` and resuming compare the plugin found now with the
record: another source is a warning that names the file (the numbers are those
of today's code), other weights an error. `--model-file RUN/model_source/X.py`
uses the recorded copy instead.
"""

import hashlib
import inspect
import json
from pathlib import Path

from bench.errors import BenchError
from bench.files import atomic_write_text
from bench.model.autoencoder import Autoencoder
from bench.model.checkpoints import SHOWN, signature
from bench.plugins import PluginSpec
from bench.run.runs import MODEL_FILE, MODEL_SOURCE


def source_files(model_class):
    """The files that define a model plugin: its own class's, then those of the
    plugin classes it builds on (bench's own base class excluded)."""
    files = []
    for cls in model_class.__mro__:
        if cls is Autoencoder or not issubclass(cls, Autoencoder):
            break
        try:
            found = inspect.getsourcefile(cls)
        except TypeError:  # defined where there is no file
            continue
        if found and Path(found).resolve() not in files:
            files.append(Path(found).resolve())
    return files


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def record(run, model_spec, model, weights):
    """Write model.json and model_source/ for a run that starts now."""
    folder = run.sub(MODEL_SOURCE)
    folder.mkdir(exist_ok=True)
    sources = []
    for index, path in enumerate(source_files(type(model))):
        data = path.read_bytes()
        copy = folder / (path.name if index == 0 else f"{index}_{path.name}")
        copy.write_bytes(data)
        sources.append({"file": str(path), "sha256": hashlib.sha256(data).hexdigest(),
                        "copy": f"{MODEL_SOURCE}/{copy.name}"})
    shapes = signature(weights)
    document = {"model": model_spec.name, "origin": model_spec.origin, "sources": sources,
                "parameters": sum(_size(shape) for shape in shapes.values()), "weights": shapes}
    atomic_write_text(run.sub(MODEL_FILE), _as_text(document))


def _as_text(document):
    """model.json's text: indented, one line per weight."""
    head = json.dumps({key: value for key, value in document.items() if key != "weights"}, indent=2)
    weights = ",\n".join(f"    {json.dumps(path)}: {json.dumps(shape)}" for path, shape in document["weights"].items())
    return f'{head[:-2]},\n  "weights": {{\n{weights}\n  }}\n}}\n'


def _size(shape):
    size = 1
    for dimension in shape:
        size *= dimension
    return size


def read(run):
    """The run's model.json as a dict; None for a run recorded before bench kept one."""
    path = run.sub(MODEL_FILE)
    if not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(document.get("weights"), dict) or not isinstance(document.get("sources"), list):
            raise ValueError("it lacks 'weights' or 'sources'")
        return document
    except (OSError, ValueError, AttributeError) as error:
        raise BenchError(f"{path} is damaged ({error}); it says what model the run was trained with: "
                         "restore it from a copy, or start the run over with --restart") from error


def recorded_copy(run, document):
    """The path of the recorded copy of the plugin's own file (from its model.json `document`), or None."""
    if not document or not document["sources"]:
        return None
    return run.sub(document["sources"][0]["copy"])


def spec_for_file(name, model_file):
    """A PluginSpec that loads class `name` from `model_file` (--model-file)."""
    path = Path(model_file)
    if not path.is_file():
        raise BenchError(f"--model-file {model_file}: no such file")
    return PluginSpec("model", name, "--model-file", path=path.resolve())


def check(run, model, weights, report):
    """Compare the model built now with the run's record: a warning when its
    source differs, BenchError when its weights do."""
    document = read(run)
    if document is None:
        return
    now = source_files(type(model))
    recorded = {source["sha256"] for source in document["sources"]}
    changed = [path for path in now if _sha256(path) not in recorded]
    copy = recorded_copy(run, document)
    hint = f"--model-file {copy}" if copy else "the model file it was trained with"
    trained = [source["file"] for source in document["sources"]]
    if changed or len(now) != len(trained):
        if [str(path) for path in now] == trained:
            what = f"{', '.join(map(str, changed))} changed since {run.path} was trained (its sha256 differs)"
        else:
            what = (f"{run.path} was trained with {', '.join(trained)}; the model now comes from "
                    f"{', '.join(map(str, now))}")
        report.warning(f"{what}: the numbers are those of the code found now. To use the recorded copy: {hint}")
    shapes = signature(weights)
    saved = {path: list(shape) for path, shape in document["weights"].items()}
    if shapes != saved:
        missing = sorted(set(saved) - set(shapes))
        new = sorted(set(shapes) - set(saved))
        reshaped = sorted(p for p in set(saved) & set(shapes) if saved[p] != shapes[p])
        parts = [f"{label}: {', '.join(names[:SHOWN])}{' ...' if len(names) > SHOWN else ''}"
                 for label, names in (("gone", missing), ("new", new), ("reshaped", reshaped)) if names]
        raise BenchError(f"model {document['model']} as found now has other weights than {run.path} was trained "
                         f"with ({'; '.join(parts)}); use {hint}, or train again with --restart")
