"""Stopping cleanly: SIGINT and SIGTERM turned into a flag that long work checks
between its steps (a training between compiled calls, a sweep between polls)."""

import signal


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False
