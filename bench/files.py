"""Writing files whole: readers see the old file or the new one, never half of it,
and a new file gets the mode any other file would (the umask's), not mkstemp's 0600."""

import os
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


def atomic_write_text(path, text):
    """Write `text` to `path` so that readers see the old or the new file, never half."""
    file, temporary = temporary_beside(path, ".tmp")
    try:
        with file:
            file.write(text.encode("utf-8"))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
