"""What a trained model's codes are for: the codes (and reconstructions) of a split or of
image files (`bench encode`), images drawn from a prior (`bench sample`) and decoded
interpolations between codes (`bench interpolate`).

Everything runs through the model's ModelView (bench.model.view), as `bench export`'s
functions do, so the exported model gives these numbers.
"""

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from bench import pictures
from bench.data import datasets
from bench.data.folders import SUFFIXES, head_check
from bench.data.input import Input
from bench.data.splits import FileSplit
from bench.errors import BenchUsageError, DataInputError
from bench.files import atomic_write_with, shown
from bench.model.autoencoder import defines


def image_files(arguments):
    """The image files named by `arguments` (files, or folders searched at any depth for
    PNG, JPEG, BMP and GIF names, hidden ones left out), in order; refuses files that are
    not images, naming them."""
    found = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            found.append(path)
        else:
            raise BenchUsageError(f"--images {argument}: no such file or folder")
    if not found:
        raise BenchUsageError(f"--images {' '.join(arguments)}: no PNG, JPEG, BMP or GIF files there")
    bad = [(path, why) for path in found for why, _ in [head_check(path, Input.max_image_pixels)] if why]
    if bad:
        named = ", ".join(f"{shown(path)} ({why})" for path, why in bad[:5])
        raise DataInputError(f"{len(bad)} of the --images files cannot be used as images: {named}; leave them out")
    return found


def files_split(paths, image_shape):
    """Image files as a split, decoded to the run's image shape as its dataset's were."""
    return FileSplit(paths, None, datasets.image_decoder(image_shape), image_shape)


def write_npz(path, **arrays):
    """The arrays in one .npz file, written whole."""
    atomic_write_with(path, lambda file: np.savez(file, **arrays))


def png_bytes(image):
    """An (h, w, c) image in [-1, 1] as PNG bytes."""
    pixels = np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)
    return tf.io.encode_png(pixels).numpy()


def write_png(path, image):
    """An (h, w, c) image in [-1, 1] as a PNG file, written whole."""
    data = png_bytes(image)
    atomic_write_with(path, lambda file: file.write(data))


GRID_LEAST_SIDE = 256  # pixels: a grid of small images (Digits' 8x8) is enlarged to be readable


def grid(images, columns):
    """(n, h, w, c) images in [-1, 1] as one image in [-1, 1]: `columns` per row, 1-pixel white gaps,
    enlarged by a whole factor (nearest neighbour) until its shorter side has GRID_LEAST_SIDE pixels
    (a row of interpolations too is readable)."""
    tiled = pictures.tile((np.asarray(images, np.float32) + 1.0) / 2.0, columns)[0] * 2.0 - 1.0
    factor = max(1, math.ceil(GRID_LEAST_SIDE / min(tiled.shape[:2])))
    return tiled.repeat(factor, axis=0).repeat(factor, axis=1)


def require(model, method, command, instead):
    """Refuse, in one line, a command that needs an optional model method the model lacks."""
    if not defines(model, method):
        raise BenchUsageError(f"{type(model).__name__} defines no {method}(), which {command} needs; {instead}")


def samples(view, count, seed):
    """`count` images on [-1, 1] decoded from codes drawn from the model's prior with `seed`."""
    model = view.model
    require(model, "prior", "bench sample",
            "only a model with a prior (VAE, or a plugin defining prior(count, seed)) can be sampled; "
            "bench interpolate RUN decodes between test codes instead")
    require(model, "decode", "bench sample", "add decode(code) to the model")
    return view.decode(model.prior(count, tf.constant([seed, 0], tf.int32))).numpy()


def interpolations(view, images, steps):
    """Rows of `steps` images decoded from (1 − t)·a + t·b, t from 0 to 1, for the codes a, b
    of consecutive pairs of `images` (uint8 or [-1, 1]); shape (pairs·steps, h, w, c)."""
    require(view.model, "decode", "bench interpolate",
            "add decode(code) to the model (see help(bench.Autoencoder)) to decode codes it did not make")
    codes = view.codes(images, len(images))[0]
    starts, ends = codes[0::2], codes[1::2]
    weights = np.linspace(0.0, 1.0, steps, dtype=np.float32).reshape((1, steps) + (1,) * (codes.ndim - 1))
    mixed = (1.0 - weights) * starts[:, None] + weights * ends[:, None]
    return view.decode(tf.convert_to_tensor(mixed.reshape((-1,) + codes.shape[1:]))).numpy()

