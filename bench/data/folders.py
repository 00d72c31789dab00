"""A folder of images as a dataset (`--dataset folder:PATH`), decoded as training reads it.

- Files: PNG, JPEG, BMP and GIF (by name, checked by their first bytes), at any
  depth; hidden files and other names are left alone.
- Splits: `train/`, `validation/` (or `val/`) and `test/` subfolders when the
  folder has a `train/`; a split it lacks is carved from train. Otherwise about
  a tenth each to validation and test. A carved file's split comes from a hash
  of its path in the folder, so the same folder always splits the same way, and
  adding or removing a file moves no other file between splits; the sizes are stated.
- Labels: the first-level subfolders (of each split folder) are the classes
  when every image is in one; otherwise the data is unlabelled.
- Shape: `--image-size` (default: the first image's size) and `--channels`
  (default: the first image's: 1 for grey, 3 otherwise); every image is
  decoded to that many channels and resized to that size.
- Files that are not images (empty, other first bytes, more pixels in their
  header than `--max-image-pixels`, a guard against decompression bombs) are
  named, then refused (`--on-bad-file fail`) or left out (`skip`); with `skip`,
  files whose header is right but whose data cannot be decoded are left out too
  (bench.run.loading decodes every file once to find them).
- File names need not be UTF-8: they reach TensorFlow as the bytes the file
  system holds, and are shown with their odd bytes escaped.

The listing (split, label and path of every file, with its size) is hashed, as a
whole and split by split, and the run records it, so a run is tied to its data.
"""

import concurrent.futures
import hashlib
import mmap
import os
import struct
from dataclasses import dataclass

import numpy as np

from bench.data.input import SPLITS, ImageFiles, Input
from bench.errors import DataInputError
from bench.files import shown

SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"GIF87a", b"GIF89a")
SPLIT_FOLDERS = {"train": ("train",), "validation": ("validation", "val"), "test": ("test",)}
HELD_OUT = 10  # 1/10 of the images each to validation and test when the folder does not split itself
NAMED_AT_MOST = 5
SCAN_THREADS = 16


@dataclass
class Listing:
    """Where every image of a folder goes: {split: [(relative path, label)]}, the class names,
    how the splits were made, and the files left out."""

    splits: dict
    class_names: tuple
    how: str
    skipped: list

    def lines(self, split=None):
        """`split<TAB>label<TAB>path` for every file (of one split), the run's record of its data."""
        return [f"{name}\t{label}\t{path}" for name in ((split,) if split else SPLITS)
                for path, label in self.splits[name]]

    def without(self, paths):
        """This listing without the files at `paths` (relative, as listed), counted as skipped."""
        gone = set(paths)
        kept = {split: [(path, label) for path, label in entries if path not in gone]
                for split, entries in self.splits.items()}
        return Listing(kept, self.class_names, self.how, self.skipped + sorted(gone))


def folder_input(root):
    """A bench.Input class reading the images under `root`."""
    return type("ImageFolder", (FolderInput,), {"root": root, "__doc__": FolderInput.__doc__})


class FolderInput(Input):
    """A folder of PNG, JPEG, BMP or GIF images (`--dataset folder:PATH`)."""

    root = None

    def __init__(self, data_dir, report=None):
        super().__init__(data_dir, report)
        self.listing = None
        self.sizes = {}  # every image file's size, by its path in the folder
        self.files_sha256, self.splits_sha256 = None, None

    @property
    def name(self):
        return f"folder:{self.root}"

    def load(self, split):
        """The split's files, scanned at the first call (see the module's docstring)."""
        if self.listing is None:
            self._scan()
        entries = self.listing.splits[split]
        labels = np.array([label for _, label in entries], np.int64) if self.num_classes else None
        return ImageFiles([os.path.join(self.root, path) for path, _ in entries], labels)

    def leave_out(self, paths):
        """Take the files at `paths` (as `load` gave them) out of the listing: files found
        undecodable under --on-bad-file skip."""
        relative = [os.path.relpath(path, self.root) for path in paths]
        self.listing = self.listing.without(relative)
        self.files_sha256, self.splits_sha256 = _listing_hashes(self.listing, self.sizes)

    def _scan(self):
        if not self.root.is_dir():
            raise DataInputError(f"{self.name}: no such folder" if not self.root.exists()
                               else f"{self.name} is a file, not a folder of images")
        candidates = [path.relative_to(self.root) for path in sorted(self.root.rglob("*"))
                      if path.suffix.lower() in SUFFIXES]
        candidates = [path for path in candidates if not any(part.startswith(".") for part in path.parts)]
        # the headers of every file, read by threads: on a network file system each read waits
        limit = self.max_image_pixels
        chunks = [candidates[start::SCAN_THREADS] for start in range(SCAN_THREADS)]  # one task a thread
        with concurrent.futures.ThreadPoolExecutor(SCAN_THREADS) as pool:
            done = list(pool.map(lambda chunk: [head_check(self.root / path, limit) for path in chunk], chunks))
        checked = [None] * len(candidates)
        for start, results in enumerate(done):
            checked[start::SCAN_THREADS] = results
        paths, bad, self.sizes = [], [], {}
        for path, (problem, size) in zip(candidates, checked):
            (bad.append((path, problem)) if problem else paths.append(path))
            self.sizes[str(path)] = size
        self._refuse_or_skip(bad)
        if not paths:
            raise DataInputError(f"{self.name} holds no PNG, JPEG, BMP or GIF images")
        self.listing = _split(paths, [str(path) for path, _ in bad])
        self.class_names = self.listing.class_names
        self.num_classes = len(self.class_names)
        self.image_shape = self._shape(self.root / paths[0])
        self.files_sha256, self.splits_sha256 = _listing_hashes(self.listing, self.sizes)
        sizes = ", ".join(f"{len(self.listing.splits[split]):,} {split}" for split in SPLITS)
        classes = f"{self.num_classes} classes" if self.num_classes else "unlabelled"
        self.info(f"{self.name}: {sizes} images ({self.listing.how}; {classes}), "
                  f"at {'x'.join(map(str, self.image_shape))}")

    def _refuse_or_skip(self, bad):
        if not bad:
            return
        named = "; ".join(f"{shown(path)} ({problem})" for path, problem in bad[:NAMED_AT_MOST])
        more = f" and {len(bad) - NAMED_AT_MOST} more" if len(bad) > NAMED_AT_MOST else ""
        if self.on_bad_file != "skip":
            them = "it" if len(bad) == 1 else "them"
            raise DataInputError(f"{self.name}: {_not_images(len(bad), 'cannot')}: {named}{more}. "
                                 f"Remove {them}, or leave {them} out with --on-bad-file skip")
        self.warn(f"{self.name}: left out {_not_images(len(bad), 'that cannot')} (--on-bad-file skip): "
                  f"{named}{more}")

    def _shape(self, first):
        """(height, width, channels) from --image-size and --channels, else from the first image."""
        from PIL import Image

        try:
            with Image.open(first) as image:
                width, height = image.size
                grey = image.mode in ("1", "L", "LA", "I", "I;16", "F") or (
                    image.mode == "P" and image.palette is not None and image.palette.mode == "L")
        except (OSError, SyntaxError) as error:
            raise DataInputError(f"{self.name}: cannot read {shown(first.relative_to(self.root))}: {error}") from error
        size = self.image_size or (height, width)
        channels = self.channels or (1 if grey else 3)
        return (*size, channels)

    def info(self, message):
        if self.report is not None:
            self.report.info(message)


def _not_images(count, verb):
    return f"1 file {verb} be used as an image" if count == 1 else f"{count} files {verb} be used as images"


HEAD_BYTES = 32  # the first bytes of a file: its format, and for PNG, GIF and BMP its size too


def head_check(path, max_pixels=None):
    """(why `path` is not an image, None when its first bytes are an image format's and its
    header's size is at most `max_pixels`; its size in bytes). Only the header is read."""
    try:
        with open(path, "rb") as file:
            head, size = file.read(HEAD_BYTES), os.fstat(file.fileno()).st_size
    except OSError as error:
        return error.strerror or "unreadable", None
    if not head:
        return "empty", size
    if not any(head.startswith(magic) for magic in MAGIC):
        return "not a PNG, JPEG, BMP or GIF", size
    if max_pixels is None:
        return None, size
    width, height = header_size(path, head)
    if width is None:
        return "its header cannot be read", size
    frames = gif_frames(path) if head.startswith((b"GIF87a", b"GIF89a")) else 1
    if frames is None:
        return "its GIF blocks cannot be read", size
    if width * height * frames > max_pixels:
        times = f" x {frames:,} frames" if frames > 1 else ""
        return (f"{width}x{height} pixels{times}, more than --max-image-pixels {max_pixels:,}: too large to decode "
                "safely"), size
    return None, size


def gif_frames(path):
    """How many frames a GIF holds, counted from its block structure without decoding (each
    frame decodes to the whole screen: frames x screen pixels is what decoding costs); None
    when the blocks are not a GIF's."""
    with open(path, "rb") as file:
        try:  # mapped, not read: a huge file costs address space, not memory
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty, or not a regular file
            return None
    with data:
        return _count_gif_frames(data)


def _count_gif_frames(data):
    """gif_frames' walk over a GIF's bytes (a bytes-like object)."""
    flags = data[10] if len(data) > 10 else 0
    at = 13 + (3 * 2 ** ((flags & 7) + 1) if flags & 0x80 else 0)  # the global colour table
    frames = 0
    while at < len(data):
        block = data[at]
        if block == 0x3B:  # the trailer
            break
        if block == 0x21:  # an extension: its label, then sub-blocks
            at += 2
        elif block == 0x2C:  # an image: its descriptor, a local colour table, the LZW code size, sub-blocks
            frames += 1
            local = data[at + 9] if at + 9 < len(data) else 0
            at += 10 + (3 * 2 ** ((local & 7) + 1) if local & 0x80 else 0) + 1
        else:
            return None
        while at < len(data) and data[at]:  # sub-blocks, each led by its size, until an empty one
            at += data[at] + 1
        at += 1
    return max(frames, 1)


def header_size(path, head=b""):
    """(width, height) from an image file's header, without decoding a pixel: from `head`, its
    first bytes, for PNG, GIF and BMP; by Pillow, which reads JPEG's markers, otherwise.
    (None, None) when the header cannot be read."""
    if head.startswith(MAGIC[0]) and len(head) >= 24:  # PNG: IHDR's width and height, big-endian
        return struct.unpack(">II", head[16:24])
    if head.startswith((b"GIF87a", b"GIF89a")) and len(head) >= 10:  # the logical screen's size
        return struct.unpack("<HH", head[6:10])
    if head.startswith(b"BM") and len(head) >= 26 and struct.unpack("<I", head[14:18])[0] >= 40:
        width, height = struct.unpack("<ii", head[18:26])  # BITMAPINFOHEADER; a negative height is top-down
        return abs(width), abs(height)
    from PIL import Image

    Image.MAX_IMAGE_PIXELS = None  # bench sets its own limit (--max-image-pixels), told in one line
    try:
        with Image.open(path) as image:
            return image.size
    except (OSError, SyntaxError, ValueError):
        return None, None


def _split(paths, skipped):
    """The Listing of `paths` (relative to the folder), split by its subfolders or by their hashes."""
    named = {split: [p for p in paths if p.parts[0].lower() in SPLIT_FOLDERS[split]] for split in SPLITS}
    if named["train"]:
        within = {split: [(p, p.relative_to(p.parts[0])) for p in named[split]] for split in SPLITS}
        carved = [split for split in ("validation", "test") if not within[split]]
        how = "its train/validation/test folders"
        if carved:
            rest, held = _draw(within["train"], len(carved))
            within["train"] = rest
            for split, part in zip(carved, held):
                within[split] = part
            how = f"its folders, {' and '.join(carved)} about a tenth of train/ (by a hash of each path)"
    else:
        if len(paths) < 3:
            raise DataInputError(f"a folder of {len(paths)} images cannot be split into train, validation and test")
        rest, (validation, test) = _draw([(p, p) for p in paths], 2)
        within = {"train": rest, "validation": validation, "test": test}
        how = "about a tenth each to validation and test, by a hash of each path"
    class_names = _classes(within)
    splits = {split: [(str(path), class_names.index(inner.parts[0]) if class_names else -1)
                      for path, inner in within[split]] for split in SPLITS}
    return Listing(splits, tuple(class_names), how, skipped)


def path_share(path):
    """A number in [0, 1) from the sha256 of a file's path in the folder: where the file falls,
    whatever else the folder holds."""
    return int.from_bytes(hashlib.sha256(os.fsencode(str(path))).digest()[:8], "big") / 2.0**64


def _draw(entries, parts):
    """`parts` lists of about a tenth of `entries` each (part k: the entries whose path_share is in
    [k/10, (k+1)/10)), and the rest, each in its original order. A part that no entry falls
    in takes the rest's entry of the smallest share (tiny folders only)."""
    shares = [path_share(path) for path, _ in entries]
    place = [min(int(share * HELD_OUT), parts) for share in shares]  # `parts`: the rest
    for part in range(parts):
        if part not in place:
            rest = [index for index, where in enumerate(place) if where == parts]
            if rest:
                place[min(rest, key=lambda index: shares[index])] = part
    rest = [entry for entry, where in zip(entries, place) if where == parts]
    if not rest:
        raise DataInputError(f"{len(entries)} images are too few to set a tenth apart for validation and test")
    return rest, [[entry for entry, where in zip(entries, place) if where == part] for part in range(parts)]


def _classes(within):
    """The class names: the first-level subfolders when every image is in one, else ()."""
    inner_paths = [inner for entries in within.values() for _, inner in entries]
    if any(len(inner.parts) < 2 for inner in inner_paths):
        return []
    return sorted({inner.parts[0] for inner in inner_paths})


def _listing_hashes(listing, sizes):
    """(sha256 of every file's split, label, path and size; {split: that of the split's files}):
    what ties a run to its data."""
    whole, by_split = hashlib.sha256(), {}
    for split in SPLITS:
        digest = hashlib.sha256()
        for line in listing.lines(split):
            entry = f"{line}\t{sizes[line.rsplit(chr(9), 1)[1]]}\n".encode("utf-8", "surrogateescape")
            digest.update(entry)
            whole.update(entry)
        by_split[split] = digest.hexdigest()
    return whole.hexdigest(), by_split
