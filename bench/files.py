"""Writing files whole: readers see the old file or the new one, never half of it,
and a new file gets the mode any other file would (the umask's), not mkstemp's 0600."""

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

_UMASK = None


def umask():
    """The process's umask (read once: reading it means setting it)."""
    global _UMASK
    if _UMASK is None:
        _UMASK = os.umask(0o022)
        os.umask(_UMASK)
    return _UMASK


def temporary_beside(path, suffix):
    """(an open binary file, its path): a new hidden file in `path`'s folder with the
    mode a plain `open(path, "w")` would give it."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.chmod(temporary, 0o666 & ~umask())
    return os.fdopen(handle, "wb"), temporary


def digest_of(path, algorithm):
    """The hex digest ("md5", "sha256", ...) of a file, read a megabyte at a time."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_text(path, text):
    """Write `text` to `path` so that readers see the old or the new file, never half (UTF-8;
    a file name that is not UTF-8, held in `text` with escaped bytes, keeps its bytes)."""
    atomic_write_with(path, lambda file: file.write(text.encode("utf-8", "surrogateescape")))


def shown(path):
    """A path as text that can be printed: bytes of a name that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def atomic_write_with(path, write):
    """Call write(binary file) on a new file beside `path`, then put it in `path`'s place:
    readers see the old or the new file, never half."""
    file, temporary = temporary_beside(path, ".tmp")
    try:
        with file:
            write(file)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


@contextlib.contextmanager
def new_folder(path, replace=False):
    """Yield a hidden folder beside `path` to fill; it becomes `path` when the block ends, and
    is removed if the block raises: a reader never sees half a folder. `path` must not
    exist, unless `replace` (its old content then goes only once the new one is whole).
    What a killed process left beside `path` (its hidden folder) is removed first."""
    path = Path(path)
    for left in path.parent.glob(f".{path.name}.*.new"):
        pid = left.name[len(path.name) + 2:].split(".")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".new", dir=path.parent))
    except OSError as error:  # named by the folder asked for, not by the hidden one
        raise OSError(error.errno, error.strerror, str(path)) from error
    os.chmod(staging, 0o777 & ~umask())  # mkdtemp's folder is private; this one is an ordinary folder
    try:
        yield staging
        if replace and path.exists():
            old = staging.with_suffix(".old")
            path.rename(old)
            staging.rename(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def scratch_folder(kind):
    """A new folder bench-<kind>-<pid>-XXXX in the system's temporary folder, after removing
    those of the same kind whose process is gone (killed before it could clean up)."""
    for folder in Path(tempfile.gettempdir()).glob(f"bench-{kind}-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"bench-{kind}-{os.getpid()}-"))


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_temporaries(folder, patterns):
    """Remove what killed writers left in `folder` (files or folders matching `patterns`)."""
    for pattern in patterns:
        for path in Path(folder).glob(pattern):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
