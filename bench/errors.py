"""The errors bench shows to its users as one line, without a traceback."""


class BenchError(Exception):
    """A problem the user can fix: shown as `error: <message>`, exit code 1.

    The message says what was wrong and what to do about it.
    """

    exit_code = 1


class BenchUsageError(BenchError):
    """A bad command line or configuration value: exit code 2, like click's."""

    exit_code = 2


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
