"""Importing TensorFlow quietly, once, and only when a command needs it."""

import contextlib
import logging
import os
import sys
import warnings

VERBOSE = False


def set_verbose(verbose):
    """Show (True) or hide (False) TensorFlow's chatter and full tracebacks from now on."""
    global VERBOSE
    VERBOSE = bool(verbose)


@contextlib.contextmanager
def _stderr_silenced():
    """Send file descriptor 2 to /dev/null: TensorFlow's C++ logger writes
    there before absl is initialised, where TF_CPP_MIN_LOG_LEVEL has no effect."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _without_scikit_learn():
    """Keras imports scikit-learn (and with it SciPy's stats), 0.8 s of every start, only for its
    scikit-learn wrappers (keras.wrappers), which bench never uses: while Keras is imported,
    scikit-learn is made unimportable, so Keras defines its wrappers without it. Imported later
    (Digits, the linear probes), scikit-learn is there as ever."""
    if "sklearn" in sys.modules:
        yield
        return
    sys.modules["sklearn"] = None  # `import sklearn` raises ImportError
    try:
        yield
    finally:
        if sys.modules.get("sklearn", 0) is None:
            del sys.modules["sklearn"]


def import_tensorflow():
    """Return the `tensorflow` module, imported without its log noise unless verbose."""
    if "tensorflow" in sys.modules and "keras" in sys.modules:
        return sys.modules["tensorflow"]
    if VERBOSE:
        with _without_scikit_learn():
            import keras  # noqa: F401
            import tensorflow as tf

        return tf
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with _stderr_silenced(), _without_scikit_learn():
        import keras  # noqa: F401  (keras' own import-time messages)
        import tensorflow as tf

        tf.config.list_physical_devices()  # device start-up messages
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="keras")
    return tf


def compiled(function, **options):
    """`tf.function(function, **options)` without AutoGraph.

    bench's compiled functions, and the model methods they call, are written with
    TensorFlow's own control flow (tf.cond, tf.while_loop) where a tensor decides, so
    AutoGraph has nothing to rewrite; rewriting their Python source anyway took 1.1 s of
    the 2.0 s a Digits training spent before its first step."""
    return import_tensorflow().function(function, autograph=False, **options)
