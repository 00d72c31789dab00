"""`bench export`: a run's model as files that plain TensorFlow loads without bench.

The model's weights are traced into TensorFlow functions (Keras' ExportArchive)
that take the pixels as they are stored and return what bench reports:

    autoencoder  serving_default(pixels: uint8 0..255)  -> code, reconstruction, reconstruction_uint8
                 from_minus_one_to_one(images: float32 in [-1, 1], at the model's size) -> the same
    encoder      the same two signatures -> code
    decoder      serving_default(code: float32) -> reconstruction, reconstruction_uint8

`reconstruction` is on [-1, 1], the scale of every figure bench prints; the
inputs are resized to the model's size inside the function (as bench does).
Beside the model, DESCRIPTION (JSON) and README state all of this with the run
it came from. The SavedModel loads with `tf.saved_model.load` and, in Keras 3,
`keras.layers.TFSMLayer`; the TFLite file with `tf.lite.Interpreter`.

A part (PARTS) or a format (FORMATS) is one entry plus its own functions. TensorFlow
is imported only when an export is written, so `bench export --help` lists them
without it.
"""

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchUsageError
from bench.files import atomic_write_text, new_folder

DESCRIPTION = "export.json"
README = "README.md"
TFLITE_FILE = "model.tflite"
SAVEDMODEL_FOLDER = "savedmodel"
FROM_UINT8 = "serving_default"
FROM_BENCH_RANGE = "from_minus_one_to_one"


def to_uint8(images):
    """[-1, 1] floats → uint8 0..255 (rounded, clipped): the stored images' scale."""
    import tensorflow as tf

    return tf.cast(tf.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)


def _tensor(dtype, shape, scale):
    return {"dtype": dtype, "shape": [None, *shape], "scale": scale}


def _code(code_shape):
    return {"code": _tensor("float32", code_shape, "the model's code, as bench encode writes it")}


def _reconstruction(model_shape):
    return {"reconstruction": _tensor("float32", model_shape, "[-1, 1] (bench's metrics are measured on it)"),
            "reconstruction_uint8": _tensor("uint8", model_shape, "0..255")}


def _from_images(outputs, stored_shape, model_shape):
    """The two signatures of a part that takes images: stored uint8 pixels, and [-1, 1] floats."""
    return {
        FROM_UINT8: {"inputs": {"pixels": _tensor("uint8", stored_shape, "0..255, as stored; resized to "
                                                  f"{model_shape[0]}x{model_shape[1]} inside")},
                     "outputs": outputs},
        FROM_BENCH_RANGE: {"inputs": {"images": _tensor("float32", model_shape, "[-1, 1]")}, "outputs": outputs},
    }


def _outputs_of(view, images, with_reconstruction):
    outputs = view.outputs(images)
    if not with_reconstruction:
        return {"code": outputs["code"]}
    return {**outputs, "reconstruction_uint8": to_uint8(outputs["reconstruction"])}


def _image_functions(with_reconstruction):
    def functions(view):
        return {FROM_UINT8: lambda pixels: _outputs_of(view, view.scaled(pixels), with_reconstruction),
                FROM_BENCH_RANGE: lambda images: _outputs_of(view, images, with_reconstruction)}
    return functions


def _decoder_functions(view):
    def decode(code):
        reconstruction = view.decode(code)
        return {"reconstruction": reconstruction, "reconstruction_uint8": to_uint8(reconstruction)}
    return {FROM_UINT8: decode}


@dataclass(frozen=True)
class Part:
    """A part of a model that can be exported: its functions on a ModelView, by signature
    name, and their signatures ((stored shape, model shape, code shape) → {name: {inputs,
    outputs}}, shapes with None for the batch, each with its scale)."""

    what: str
    functions: object
    signatures: object
    needs: str = ""  # an optional model method the part cannot do without


PARTS = {
    "autoencoder": Part("the whole model", _image_functions(True),
                        lambda stored, model, code: _from_images({**_code(code), **_reconstruction(model)}, stored,
                                                                 model)),
    "encoder": Part("images to codes", _image_functions(False),
                    lambda stored, model, code: _from_images(_code(code), stored, model)),
    "decoder": Part("codes to images", _decoder_functions,
                    lambda stored, model, code: {FROM_UINT8: {"inputs": _code(code), "outputs": _reconstruction(model)}},
                    needs="decode"),
}
"""Every part `bench export --part` offers."""


def _specs(described):
    import tensorflow as tf

    return [tf.TensorSpec([None, *spec["shape"][1:]], spec["dtype"], name=name) for name, spec in described.items()]


def write_savedmodel(model, part, described, folder):
    """Trace the part's functions and write them as a SavedModel in `folder`."""
    import keras

    from bench.model.view import ModelView

    functions = PARTS[part].functions(ModelView(model))
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, signature in described.items():
        archive.add_endpoint(name, functions[name], input_signature=_specs(signature["inputs"]))
    archive.write_out(str(folder), verbose=False)


def _keep_savedmodel(staging):
    """The SavedModel is the export."""


def _to_tflite(staging):
    """Convert the SavedModel's signatures to one TFLite file (float32 weights), which replaces it."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(str(staging / SAVEDMODEL_FOLDER))
    (staging / TFLITE_FILE).write_bytes(converter.convert())
    shutil.rmtree(staging / SAVEDMODEL_FOLDER)


def _savedmodel_loading(inputs):
    return ("import tensorflow as tf\n"
            f"model = tf.saved_model.load('{SAVEDMODEL_FOLDER}')\n"
            f"outputs = model.signatures['{FROM_UINT8}']({inputs})\n"
            f"# Keras 3: keras.layers.TFSMLayer('{SAVEDMODEL_FOLDER}', call_endpoint='{FROM_UINT8}')")


def _tflite_loading(inputs):
    return ("import tensorflow as tf  # or LiteRT: from ai_edge_litert.interpreter import Interpreter\n"
            f"runner = tf.lite.Interpreter(model_path='{TFLITE_FILE}').get_signature_runner('{FROM_UINT8}')\n"
            f"outputs = runner({inputs})")


@dataclass(frozen=True)
class Format:
    """A file format of an export: what it is, how the written SavedModel becomes it (in the
    staging folder), and how plain Python loads it (given the call's keyword arguments)."""

    what: str
    finish: object
    loading: object


FORMATS = {
    "savedmodel": Format("SavedModel (TensorFlow; Keras 3's TFSMLayer)", _keep_savedmodel, _savedmodel_loading),
    "tflite": Format("TFLite (tf.lite or LiteRT)", _to_tflite, _tflite_loading),
}
"""Every format `bench export --format` offers."""


def check_part(model, part):
    """Refuse, in one line, a part that needs an optional method the model lacks."""
    from bench.model.autoencoder import defines

    needs = PARTS[part].needs
    if needs and not defines(model, needs):
        raise BenchUsageError(f"{type(model).__name__} defines no {needs}(code), so its {part} cannot be exported "
                              "alone; export --part autoencoder, or add decode() to the model (see help(bench.Autoencoder))")


def loading_text(output_format, described):
    """How to load and call the export in plain Python, as README and export.json state it."""
    return FORMATS[output_format].loading(", ".join(f"{name}=..." for name in described[FROM_UINT8]["inputs"]))


def readme_text(description):
    """The README beside an export: what it is, where it came from, how to use it."""
    lines = [f"# {description['model']} {description['part']}, exported by bench",
             "",
             f"From run `{description['run']}` ({description['dataset']}), {description['checkpoint']} checkpoint "
             f"(epoch {description['epoch']}, step {description['step']}); format {description['format']}.",
             "",
             "## Signatures", ""]
    for name, signature in description["signatures"].items():
        lines.append(f"`{name}`")
        for kind in ("inputs", "outputs"):
            for tensor, spec in signature[kind].items():
                shape = "x".join("batch" if size is None else str(size) for size in spec["shape"])
                lines.append(f"- {kind[:-1]} `{tensor}`: {spec['dtype']} {shape}, {spec['scale']}")
        lines.append("")
    lines += ["## Load it (TensorFlow only; bench is not needed)", "", "```python", description["load"], "```", ""]
    return "\n".join(lines)


def check_out(out, overwrite):
    """Refuse, before any work, an --out that holds something (unless `overwrite`) or has no folder."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BenchUsageError(f"--out {out} is a file; give a folder to write the export to")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise BenchUsageError(f"--out {out} already exists; choose a new folder, or replace it with --overwrite")
    if not out.parent.is_dir():
        raise BenchUsageError(f"--out {out}: its folder {out.parent} does not exist")
    if out.is_dir() and not any(out.iterdir()):
        out.rmdir()  # empty: the export is moved in as a whole


def export(model, part, output_format, out, about, stored_shape, replace=False):
    """Write a part of a model to the new folder `out` (SavedModel or TFLite) with its
    description; everything is written beside `out` first and moved in place last.

    Args:
        about: what the description says of the run: run, model, dataset, checkpoint, epoch, step.
        stored_shape: (height, width, channels) of the images as the dataset stores them.
        replace: replace what `out` holds (once the new export is whole).
    Returns:
        the description written to export.json.
    """
    import tensorflow as tf

    from bench.model.view import ModelView

    check_part(model, part)
    model_shape = tuple(model.input_size or stored_shape[:2]) + (stored_shape[2],)
    code_shape = tuple(ModelView(model).outputs(tf.zeros((1,) + model_shape))["code"].shape[1:])
    described = PARTS[part].signatures(stored_shape, model_shape, code_shape)
    with new_folder(out, replace=replace) as staging:
        write_savedmodel(model, part, described, staging / SAVEDMODEL_FOLDER)
        FORMATS[output_format].finish(staging)
        description = dict(about, part=part, format=output_format, signatures=described,
                           load=loading_text(output_format, described))
        atomic_write_text(staging / DESCRIPTION, json.dumps(description, indent=2) + "\n")
        atomic_write_text(staging / README, readme_text(description))
    return description
