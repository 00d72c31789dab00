"""The errors bench shows to its users as one line, without a traceback."""

import errno
import re


class BenchError(Exception):
    """A problem the user can fix: shown as `error: <message>`, exit code 1.

    The message says what was wrong and what to do about it.
    """

    exit_code = 1


class BenchUsageError(BenchError):
    """A bad command line or configuration value: exit code 2, like click's."""

    exit_code = 2


class DamagedFileError(BenchError):
    """A file of a run that bench cannot have written (garbled, truncated, of the wrong
    shape) or that is missing: that run alone is unusable until it is restored."""


class RunBusyError(BenchError):
    """Another process trains the run: exit code 75 (EX_TEMPFAIL, "try again later"), so a
    sweep or search tells this refusal from a failure."""

    exit_code = 75


class PluginError(BenchError):
    """A model or dataset plugin could not be loaded, or raised while used."""


class DatasetError(BenchError):
    """A dataset could not be downloaded, verified or read."""


class DataInputError(DatasetError):
    """Data named on the command line that cannot be used as given (a folder that does not
    exist, holds no images, or holds files that are not images): exit code 2."""

    exit_code = 2


class TrainingStopped(BenchError):
    """Training stopped before its end (a signal, or a non-finite loss)."""

    def __init__(self, message, exit_code=1):
        super().__init__(message)
        self.exit_code = exit_code


def describe_exception(error):
    """`Type: message` on one line (TensorFlow's messages carry a trace: keep its last line)."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} (line {error.lineno})"
    if isinstance(error, SystemExit):
        return f"SystemExit: sys.exit({error.code!r}) was called"
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[-1] if lines else ""
    if type(error).__name__ == "StagingError" and message:  # tf.function's wrapper: the cause is the last line
        return message
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


STORAGE_REASONS = {errno.ENOSPC: "no space is left on its device", errno.EDQUOT: "the disk quota is used up",
                   errno.EROFS: "its file system is read-only"}
# TensorFlow's errors carry the strerror text after the path: "<path>; No space left on device".
TF_STORAGE_REASONS = {"No space left on device": errno.ENOSPC, "Disk quota exceeded": errno.EDQUOT,
                      "Read-only file system": errno.EROFS}


def storage_problem(error):
    """One line for an error of a full or read-only disk (an OSError, or TensorFlow's error,
    whose message names the path), else None."""
    code, path = getattr(error, "errno", None), getattr(error, "filename", None)
    if code not in STORAGE_REASONS:
        message = str(error)
        for text, number in TF_STORAGE_REASONS.items():
            if text in message:
                code = number
                found = re.search(r"([^\s;{}'\"]+)'?;? " + re.escape(text), message)
                path = found.group(1) if found else None
                break
        else:
            return None
    where = f"cannot write {path}" if path else "cannot write"
    advice = "write elsewhere" if code == errno.EROFS else "free some space, or write elsewhere"
    return f"{where}: {STORAGE_REASONS[code]}; {advice} (--log-dir, --out), then run the same command again"
