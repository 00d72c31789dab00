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
"""

import json
import shutil

import keras
import tensorflow as tf

from bench.data import pipeline
from bench.errors import BenchUsageError
from bench.files import atomic_write_text, new_folder
from bench.model.autoencoder import defines

PARTS = ("autoencoder", "encoder", "decoder")
FORMATS = ("savedmodel", "tflite")
DESCRIPTION = "export.json"
README = "README.md"
TFLITE_FILE = "model.tflite"
SAVEDMODEL_FOLDER = "savedmodel"
FROM_UINT8 = "serving_default"
FROM_BENCH_RANGE = "from_minus_one_to_one"

KERAS_FORMAT_REFUSED = (
    "--format keras: a .keras file of a plugin model needs the plugin's Python class (and bench) to load; "
    "use --format savedmodel, which TensorFlow loads with tf.saved_model.load and Keras 3 with "
    "keras.layers.TFSMLayer(PATH, call_endpoint='serving_default')")


def to_uint8(images):
    """[-1, 1] floats → uint8 0..255 (rounded, clipped): the stored images' scale."""
    return tf.cast(tf.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)


class Endpoints:
    """The exported functions of one part of a model, as plain TensorFlow code."""

    def __init__(self, model, part):
        self.model, self.part = model, part

    def from_uint8(self, pixels):
        """uint8 pixels as stored (any size the model accepts) → the part's outputs."""
        return self.from_bench_range(pipeline.to_bench_range(pixels, self.model.input_size))

    def from_bench_range(self, images):
        """float32 images in [-1, 1] at the model's size → the part's outputs."""
        forward = self.model.forward(self.model.own_pixels(images))
        code = tf.cast(forward.encoding, tf.float32)
        if self.part == "encoder":
            return {"code": code}
        reconstruction = self.model.bench_pixels(forward.reconstruction)
        return {"code": code, "reconstruction": reconstruction, "reconstruction_uint8": to_uint8(reconstruction)}

    def decode(self, code):
        """float32 codes → reconstruction on [-1, 1] and as uint8."""
        reconstruction = self.model.bench_pixels(tf.cast(self.model.decode(code), tf.float32))
        return {"reconstruction": reconstruction, "reconstruction_uint8": to_uint8(reconstruction)}


def _tensor(dtype, shape, scale):
    return {"dtype": dtype, "shape": [None, *shape], "scale": scale}


def signatures(part, stored_shape, model_shape, code_shape):
    """{signature name: {"inputs": {...}, "outputs": {...}}}: what each exported function
    takes and returns, with shapes (None: any batch size) and scales."""
    code = {"code": _tensor("float32", code_shape, "the model's code, as bench encode writes it")}
    reconstruction = {
        "reconstruction": _tensor("float32", model_shape, "[-1, 1] (bench's metrics are measured on it)"),
        "reconstruction_uint8": _tensor("uint8", model_shape, "0..255")}
    if part == "decoder":
        return {FROM_UINT8: {"inputs": code, "outputs": reconstruction}}
    outputs = code if part == "encoder" else {**code, **reconstruction}
    return {
        FROM_UINT8: {"inputs": {"pixels": _tensor("uint8", stored_shape, "0..255, as stored; resized to "
                                                  f"{model_shape[0]}x{model_shape[1]} inside")},
                     "outputs": outputs},
        FROM_BENCH_RANGE: {"inputs": {"images": _tensor("float32", model_shape, "[-1, 1]")}, "outputs": outputs},
    }


def _specs(described):
    return [tf.TensorSpec([None, *spec["shape"][1:]], spec["dtype"], name=name) for name, spec in described.items()]


def write_savedmodel(model, part, described, folder):
    """Trace the part's functions and write them as a SavedModel in `folder`."""
    endpoints = Endpoints(model, part)
    functions = {FROM_UINT8: endpoints.decode if part == "decoder" else endpoints.from_uint8,
                 FROM_BENCH_RANGE: endpoints.from_bench_range}
    archive = keras.export.ExportArchive()
    archive.track(model)
    for name, signature in described.items():
        archive.add_endpoint(name, functions[name], input_signature=_specs(signature["inputs"]))
    archive.write_out(str(folder), verbose=False)


def write_tflite(savedmodel, path):
    """Convert the SavedModel's signatures to one TFLite file (float32 weights)."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(savedmodel))
    path.write_bytes(converter.convert())


def check_part(model, part):
    """Refuse a decoder export of a model without `decode`, in one line."""
    if part == "decoder" and not defines(model, "decode"):
        raise BenchUsageError(f"{type(model).__name__} defines no decode(code), so its decoder cannot be exported "
                              "alone; export --part autoencoder, or add decode() to the model (see help(bench.Autoencoder))")


def loading_text(output_format, part, described):
    """How to load and call the export in plain Python, as README and export.json state it."""
    inputs = ", ".join(f"{name}=..." for name in described[FROM_UINT8]["inputs"])
    if output_format == "tflite":
        return ("import tensorflow as tf  # or LiteRT: from ai_edge_litert.interpreter import Interpreter\n"
                f"runner = tf.lite.Interpreter(model_path='{TFLITE_FILE}').get_signature_runner('{FROM_UINT8}')\n"
                f"outputs = runner({inputs})")
    return ("import tensorflow as tf\n"
            f"model = tf.saved_model.load('{SAVEDMODEL_FOLDER}')\n"
            f"outputs = model.signatures['{FROM_UINT8}']({inputs})\n"
            f"# Keras 3: keras.layers.TFSMLayer('{SAVEDMODEL_FOLDER}', call_endpoint='{FROM_UINT8}')")


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
    check_part(model, part)
    model_shape = tuple(model.input_size or stored_shape[:2]) + (stored_shape[2],)
    code_shape = tuple(model.forward(tf.zeros((1,) + model_shape)).encoding.shape[1:])
    described = signatures(part, stored_shape, model_shape, code_shape)
    with new_folder(out, replace=replace) as staging:
        write_savedmodel(model, part, described, staging / SAVEDMODEL_FOLDER)
        if output_format == "tflite":
            write_tflite(staging / SAVEDMODEL_FOLDER, staging / TFLITE_FILE)
            shutil.rmtree(staging / SAVEDMODEL_FOLDER)
        description = dict(about, part=part, format=output_format, signatures=described,
                           load=loading_text(output_format, part, described))
        atomic_write_text(staging / DESCRIPTION, json.dumps(description, indent=2) + "\n")
        atomic_write_text(staging / README, readme_text(description))
    return description
