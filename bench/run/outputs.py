"""What a trained run's model makes, behind the commands that use it: an export
(`bench export`), codes (`bench encode`), samples and interpolations (`bench sample`,
`bench interpolate`) and a split's codes for the projector (`bench embed`). Each takes a
bench.run.loading.TrainedRun and says what it wrote; outputs are written whole, and
replace what is there only when asked to."""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import datasets
from bench.errors import BenchUsageError
from bench.files import new_folder
from bench.model import codes, embedding, exporting
from bench.run import compute
from bench.run.runs import INTERPOLATIONS_PNG, SAMPLES_PNG, projector_folder


def export(trained, part, output_format, out, report, overwrite=False):
    """Write a part of the run's model (bench.model.exporting.PARTS) in a format (FORMATS) to
    the folder `out`; returns export.json's content."""
    exporting.check_part(trained.model, part)
    config = trained.config
    about = {"run": str(trained.folder.path), "model": config.model, "dataset": config.dataset, **trained.loaded}
    with compute.device_scope(config.device):
        description = exporting.export(trained.model, part, output_format, out, about,
                                       tuple(trained.dataset.image_shape), replace=overwrite)
    report.info(f"exported the {part} of {trained.folder.path} ({trained.loaded['checkpoint']} checkpoint, epoch "
                f"{trained.loaded['epoch']}) as {output_format} to {out}/; how to load it: {out}/{exporting.README}")
    return description


@dataclass(frozen=True)
class Encoding:
    """What `bench encode` writes: the codes of a split, or of image files, to an .npz file.

    Attributes:
        out: the .npz file.
        split: the split to encode (None: test, unless `images`).
        images: files and folders of images to encode instead (found by codes.image_files).
        reconstruct: also the reconstructions, in the file and as PNG files.
        limit: at most this many images.
        batch_size: images per batch (None: the run's).
        overwrite: replace `out` (and its reconstructions' folder).
    """

    out: str
    split: str | None = None
    images: tuple = ()
    reconstruct: bool = False
    limit: int | None = None
    batch_size: int | None = None
    overwrite: bool = False

    def reconstructions_folder(self):
        """Where the PNG files go: <out without .npz>_reconstructions/."""
        out = Path(self.out)
        return out.with_name(f"{out.stem if out.suffix == '.npz' else out.name}_reconstructions")

    def check(self):
        """Refuse, before any work, what cannot be written."""
        out = Path(self.out)
        if self.split and self.images:
            raise BenchUsageError("give --split or --images, not both")
        if not out.parent.is_dir():
            raise BenchUsageError(f"--out {out}: its folder {out.parent} does not exist")
        if out.is_dir():
            raise BenchUsageError(f"--out {out} is a folder; give the .npz file to write")
        taken = [path for path in (out, self.reconstructions_folder() if self.reconstruct else None)
                 if path and path.exists()]
        if taken and not self.overwrite:
            raise BenchUsageError(f"{taken[0]} already exists; choose another --out, or replace it with --overwrite")


def encode(trained, asked, report):
    """Write the codes (and labels, files, reconstructions) `asked` (Encoding) for; returns the arrays."""
    paths = codes.image_files(asked.images) if asked.images else None
    source = codes.files_split(paths, trained.dataset.image_shape) if paths else trained.splits[asked.split or "test"]
    count = min(asked.limit or len(source), len(source))
    with compute.device_scope(trained.config.device), datasets.damaged_files_named({"images": source}, report):
        encoded, rebuilt = trained.view().codes(source, asked.batch_size or trained.config.batch_size, count,
                                                reconstruct=asked.reconstruct)
    arrays = {"codes": encoded}
    if source.labels is not None:
        arrays["labels"] = np.asarray(source.labels[:count], np.int64)
    if paths:
        arrays["files"] = np.array([str(path) for path in paths[:count]])
    if asked.reconstruct:
        arrays["reconstructions"] = rebuilt
        _write_pngs(asked.reconstructions_folder(), rebuilt, paths, replace=asked.overwrite)
    codes.write_npz(asked.out, **arrays)
    what = (f"{count:,} images from {len(asked.images)} --images argument(s)" if paths
            else f"{count:,} {asked.split or 'test'} images")
    report.info(f"wrote the codes of {what} ({' x '.join(map(str, encoded.shape[1:]))} each, "
                f"{trained.loaded['checkpoint']} checkpoint, epoch {trained.loaded['epoch']}) to {asked.out}: "
                f"{', '.join(arrays)}"
                + (f"; reconstructions as PNG files in {asked.reconstructions_folder()}/" if asked.reconstruct else ""))
    return arrays


def _write_pngs(folder, images, paths, replace=False):
    with new_folder(folder, replace=replace) as staging:
        for index, image in enumerate(images):
            name = f"{index:05d}_{Path(paths[index]).stem}.png" if paths else f"{index:05d}.png"
            (staging / name).write_bytes(codes.png_bytes(image))


def sample(trained, count, seed, out, report):
    """`count` images from the model's prior, in a square grid PNG (`out`, or the run's
    samples.png); returns (path, rows, columns)."""
    with compute.device_scope(trained.config.device):
        images = codes.samples(trained.view(), count, seed)
    return _write_grid(out or trained.folder.sub(SAMPLES_PNG), images, math.ceil(math.sqrt(count)), report,
                       f"{count} samples from the prior of {trained.folder.path} (seed {seed}, "
                       f"{trained.loaded['checkpoint']} checkpoint, epoch {trained.loaded['epoch']})")


def interpolate(trained, pairs, steps, out, report):
    """Decoded straight lines between the codes of `pairs` pairs of test images, a row each
    of `steps` images, in a grid PNG (`out`, or the run's interpolations.png); returns
    (path, rows, columns)."""
    test = trained.splits["test"]
    if len(test) < 2 * pairs:
        raise BenchUsageError(f"--pairs {pairs} needs {2 * pairs} test images; the test split has {len(test)}")
    with compute.device_scope(trained.config.device):
        images, _ = test.first(2 * pairs)
        decoded = codes.interpolations(trained.view(), images, steps)
    return _write_grid(out or trained.folder.sub(INTERPOLATIONS_PNG), decoded, steps, report,
                       f"interpolations between {pairs} pairs of test codes of {trained.folder.path} "
                       f"({trained.loaded['checkpoint']} checkpoint, epoch {trained.loaded['epoch']})")


def _write_grid(path, images, columns, report, what):
    rows = math.ceil(len(images) / columns)
    picture = codes.grid(images, columns)
    codes.write_png(path, picture)
    height, width = images.shape[1:3]
    report.info(f"wrote {what} to {path}: {rows} x {columns} grid of {height}x{width} images "
                f"({picture.shape[1]}x{picture.shape[0]} pixels)")
    return path, rows, columns


def embed(trained, split, limit, report):
    """Write the codes of a split's first `limit` images for TensorBoard's projector (the
    run's projector/ for test, projector_<split>/ for the others); returns (count, features)."""
    if limit <= 0:
        raise BenchUsageError(f"--limit must be a positive integer, got {limit}")
    folder = trained.folder.sub(projector_folder(split))
    with compute.device_scope(trained.config.device):
        count, features = embedding.write_projector(folder, trained.view(), trained.splits[split],
                                                    trained.dataset.class_names, trained.config.batch_size, limit)
    report.info(f"wrote the codes of {count:,} {split} images ({features:,} features) from the "
                f"{trained.checkpoint_words()} to {folder}; see them with: tensorboard --logdir "
                f"{trained.config.log_dir}")
    return count, features
