"""Checkpoints that a reader can hold while the trainer writes newer ones.

The trainer keeps one checkpoint per folder (`best/`, `checkpoints/`): it writes the new one,
points the folder's index at it, then deletes the older ones, but not one a reader holds.
A reader (`bench eval`, export, encode, embed, sample, interpolate) names the newest
checkpoint, holds it (a shared flock on `.<name>.hold` beside it) and reads it; when the
trainer deleted it between the naming and the holding, the reader takes the newer one,
once it holds that (which the trainer then cannot delete). An old checkpoint left because a
reader held it goes at the trainer's next save.
"""

import contextlib
import fcntl
import os
from pathlib import Path

from bench.files import atomic_write_text
from bench.model import checkpoints


def hold_file(prefix):
    """The lock file that holds the checkpoint at `prefix` (…/best/ckpt-5 → …/best/.ckpt-5.hold)."""
    prefix = Path(prefix)
    return prefix.parent / f".{prefix.name}.hold"


@contextlib.contextmanager
def held_latest(folder):
    """Yield the newest checkpoint's prefix in `folder` (None when it holds none), held against
    the trainer's deletion until the block ends; the hold leaves no file behind.

    Raises:
        CheckpointError: the index is damaged, or names a checkpoint deleted twice in a row.
    """
    for _ in range(2):  # the newest, or once the newer one that replaced it meanwhile
        prefix = checkpoints.latest(folder)
        if prefix is None:
            yield None
            return
        handle = _locked(hold_file(prefix), fcntl.LOCK_SH)
        if handle is None:  # a folder nobody can write: nobody deletes in it either
            yield prefix
            return
        try:
            if Path(f"{prefix}.index").is_file():
                yield prefix
                return
        finally:
            _release(handle, hold_file(prefix))
    raise checkpoints.CheckpointError(f"{folder}'s newest checkpoint was replaced twice while it was being "
                                      "opened; run the same command again")


def _locked(path, operation):
    """An open lock file at `path` holding `operation` (a blocking flock, or None with LOCK_NB
    when another holds it; None when the folder cannot be written). The file is the one at
    `path` once locked: one that another process unlinked meanwhile is opened anew."""
    while True:
        try:
            handle = open(path, "a", encoding="utf-8")
        except OSError:
            return None
        try:
            fcntl.flock(handle, operation)
        except BlockingIOError:
            handle.close()
            return None
        try:
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def _release(handle, path):
    """Let go of a hold; the last holder removes the file (when no other process holds it)."""
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path)
    except (BlockingIOError, FileNotFoundError):
        pass
    finally:
        handle.close()


class KeptCheckpoint:
    """One checkpoint kept in `folder`: `save` writes the new one as ckpt-<number>, points the
    index at it and deletes the older ones that no reader holds (tf.train.CheckpointManager's
    max_to_keep=1, but for the holds)."""

    def __init__(self, checkpoint, folder):
        self.checkpoint, self.folder = checkpoint, Path(folder)

    def save(self, checkpoint_number):
        """Write the checkpoint as ckpt-<checkpoint_number>; returns its prefix."""
        self.checkpoint.save_counter.assign_add(1)  # saved with it, as CheckpointManager.save does
        prefix = self.checkpoint.write(str(self.folder / f"ckpt-{checkpoint_number}"))
        # The index (a text proto), written whole; the name relative to the folder, as
        # CheckpointManager writes it, so that a copied run reads its own files.
        name = Path(prefix).name
        atomic_write_text(self.folder / checkpoints.INDEX_FILE,
                          f'model_checkpoint_path: "{name}"\nall_model_checkpoint_paths: "{name}"\n')
        self.sweep(keep=prefix)
        return prefix

    def sweep(self, keep):
        """Delete every checkpoint in the folder but `keep` and those readers hold."""
        for index in self.folder.glob("ckpt-*.index"):
            prefix = str(index)[:-len(".index")]
            if prefix == str(keep):
                continue
            handle = _locked(hold_file(prefix), fcntl.LOCK_EX | fcntl.LOCK_NB)
            if handle is None:
                continue  # a reader holds it: deleted at the next save
            with handle:
                for path in self.folder.glob(f"{Path(prefix).name}.*"):
                    path.unlink(missing_ok=True)
                os.unlink(hold_file(prefix))
