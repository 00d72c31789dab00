"""Downloading dataset files: mirrors in order, checksums, atomic writes, safe extraction."""

import contextlib
import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import files
from bench.errors import DatasetError
from bench.files import temporary_beside

CHUNK = 1 << 16
TIMEOUT_S = 30  # for each read: a server that stops answering
DOWNLOAD_LIMIT_S = 1800  # for a whole file: a server that trickles (BENCH_DOWNLOAD_TIMEOUT overrides it)
MAX_UNDECLARED_BYTES = 1 << 31  # a file of unknown size, served without Content-Length


def md5_of(path):
    """The hex MD5 digest of a file (the checksum datasets publish)."""
    return files.digest_of(path, "md5")


def mirrors_from_env(mirrors):
    """`mirrors` with those of BENCH_MIRRORS (space-separated base URLs) tried first."""
    extra = os.environ.get("BENCH_MIRRORS", "").split()
    return [url if url.endswith("/") else url + "/" for url in extra] + list(mirrors)


_refusing = False


@contextlib.contextmanager
def refused():
    """Within it, `fetch` downloads nothing and raises DatasetError instead: the warm start-up
    process (bench.forkserver) holds only what is on disk, and leaves downloads to the
    trainings, which show their progress."""
    global _refusing
    _refusing = True
    try:
        yield
    finally:
        _refusing = False


def fetch(filename, md5, mirrors, destination, report=None, size=None):
    """Download `filename` from the first mirror that serves it intact.

    The file is streamed to a temporary name in the destination folder and
    renamed into place only once its MD5 matches, so an interrupted or corrupt
    download is never taken for a complete one.

    Args:
        filename: the file's name, appended to each mirror's base URL.
        md5: its published MD5 hex digest.
        mirrors: base URLs ending in "/", tried in order.
        destination: the file's final path.
        report: a bench.console.Reporter for progress and warnings.
        size: its size in bytes when known: a server that sends more, or announces
            another size, is left at once. Unknown, the server's Content-Length
            (or, without one, MAX_UNDECLARED_BYTES) is the limit. Every file has
            BENCH_DOWNLOAD_TIMEOUT seconds (DOWNLOAD_LIMIT_S) in all.

    Returns:
        `destination`, verified.

    Raises:
        DatasetError: no mirror gave a file with the right checksum.
    """
    if _refusing:
        raise DatasetError(f"{filename} is not downloaded here (bench.data.download.refused)")
    destination = Path(destination)
    _make_folder(destination.parent)
    failures = []
    for base in mirrors_from_env(mirrors):
        url = base + filename
        try:
            _download_verified(url, md5, destination, report, size)
            return destination
        except (OSError, http.client.HTTPException, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            failures.append(f"{url}: {reason}")
            if report is not None:
                report.warning(f"could not use {url}: {reason}")
    raise DatasetError(
        f"could not download {filename} from any of {len(failures)} mirror(s) "
        f"({'; '.join(failures)}); check your connection, or put the file in "
        f"{destination.parent} yourself, or list a mirror in BENCH_MIRRORS"
    )


def _make_folder(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(
            f"cannot create the data folder {folder}: {error.strerror}; "
            "choose another with --data-dir or BENCH_DATA_DIR"
        ) from error


def download_limit_s():
    """Seconds a whole file may take (BENCH_DOWNLOAD_TIMEOUT, or DOWNLOAD_LIMIT_S)."""
    text = os.environ.get("BENCH_DOWNLOAD_TIMEOUT", "")
    try:
        return float(text) if text else DOWNLOAD_LIMIT_S
    except ValueError as error:
        raise DatasetError(f"BENCH_DOWNLOAD_TIMEOUT={text!r} is not a number of seconds") from error


def _download_verified(url, md5, destination, report, size=None):
    limit_s = download_limit_s()
    out, partial = temporary_beside(destination, ".part")
    try:
        digest = hashlib.md5()
        with out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            expected = int(response.headers.get("Content-Length") or 0)
            if size and expected and expected != size:
                raise ValueError(f"the server announces {expected:,} bytes, the file has {size:,}")
            most = size or expected or MAX_UNDECLARED_BYTES
            received, deadline = 0, time.monotonic() + limit_s
            label = f"{destination.name} from {url.split('/')[2]}"
            with (report.download(label, expected or size or None) if report else _no_progress()) as advance:
                for chunk in iter(lambda: response.read1(CHUNK), b""):  # what has come: a trickle is seen
                    received += len(chunk)
                    if received > most:
                        raise ValueError(f"more than the {most:,} bytes expected were sent: stopped")
                    if time.monotonic() > deadline:
                        raise ValueError(f"not done after {limit_s:g} s ({received:,} of "
                                         f"{f'{most:,}' if most != MAX_UNDECLARED_BYTES else '?'} bytes): "
                                         "stopped (BENCH_DOWNLOAD_TIMEOUT sets the limit)")
                    out.write(chunk)
                    digest.update(chunk)
                    advance(len(chunk))
        if expected and received != expected:
            raise ValueError(f"interrupted after {received} of {expected} bytes")
        if digest.hexdigest() != md5:
            raise ValueError(f"checksum mismatch (md5 {digest.hexdigest()}, expected {md5}); the file was deleted")
        os.replace(partial, destination)
    finally:
        if os.path.exists(partial):
            os.remove(partial)


class _no_progress:
    def __enter__(self):
        return lambda n: None

    def __exit__(self, *exc):
        return False


def extract_tar(archive, member_prefix, destination):
    """Safely extract the members of `archive` under `member_prefix` into `destination`.

    Members are extracted into a temporary folder with tarfile's "data" filter
    (no absolute paths, no `..`, no links out, no devices), then the folder is
    renamed into place, so a half-extracted archive is never used.

    Raises:
        DatasetError: the archive is corrupt or holds unsafe members.
    """
    destination = Path(destination)
    staging = Path(tempfile.mkdtemp(dir=destination.parent, prefix=".extract-"))
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(member_prefix)]
            if not members:
                raise DatasetError(f"{archive} holds no {member_prefix}; delete it to download it again")
            tar.extractall(staging, members=members, filter="data")
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging / member_prefix, destination)
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DatasetError(f"cannot extract {archive}: {error}; delete it to download it again") from error
    finally:
        shutil.rmtree(staging, ignore_errors=True)
