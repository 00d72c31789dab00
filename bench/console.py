"""What the user sees: messages, warnings, progress bars, and the run's train.log.

On a terminal, long work shows a rich progress bar; elsewhere (a pipe, a CI
log, a test) it prints one plain line per unit of work. Every line also goes
to the attached log file, so `train.log` holds what the console showed.
"""

import contextlib
import os
import sys
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def make_console(unbounded=False):
    """A rich console on standard output, as wide as the terminal or $COLUMNS; 200 columns
    when neither says (tables written to files and pipes are not folded to 80), or as
    wide as what it prints when `unbounded` (bench compare --wide)."""
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS", "").isdigit() else 200
    if unbounded:
        width = 1000
    return Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)


class Reporter:
    """Console and log output for one command."""

    def __init__(self, interactive=None):
        """Args:
        interactive: force (True) or forbid (False) progress bars; by default
            they are shown when standard output is a terminal.
        """
        self.interactive = sys.stdout.isatty() if interactive is None else interactive
        self._log_file = None
        self._console = None
        self._before_log = []  # lines shown before a log was attached (the dataset's warnings, ...)

    @property
    def console(self):
        """The rich console on the current standard output."""
        if self._console is None or self._console.file is not sys.stdout:
            self._console = make_console()
        return self._console

    def attach_log(self, path):
        """Append every later line to `path` too (the run's train.log), after the lines shown
        before it was attached (loading the data comes before the run's folder)."""
        self.detach_log()
        self._log_file = open(path, "a", encoding="utf-8", buffering=1)
        for line in self._before_log:
            self._log_file.write(line)
        self._before_log = []

    def detach_log(self):
        """Stop writing to the log file."""
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _log(self, text):
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n"
        if self._log_file is not None:
            self._log_file.write(line)
        else:
            self._before_log.append(line)

    def info(self, text):
        """A line for the user and the log."""
        print(text, flush=True)
        self._log(text)

    def warning(self, text):
        """A warning on standard error and in the log."""
        print(f"warning: {text}", file=sys.stderr, flush=True)
        self._log(f"warning: {text}")

    def warnings_only(self):
        """This reporter without its info lines (warnings, tables and progress kept): for
        reading again what a run already said when it was trained (an image folder's scan,
        its classes)."""
        return _WarningsOnly(self)

    def table(self, table):
        """Print a rich Table (plain text when not on a terminal) and log it."""
        with self.console.capture() as captured:
            self.console.print(table)
        text = captured.get().rstrip("\n")
        print(text, flush=True)
        for line in text.splitlines():
            self._log(line)

    @contextlib.contextmanager
    def download(self, label, total_bytes):
        """Progress of a download: yields `advance(n_bytes)`."""
        if not self.interactive:
            self.info(f"downloading {label}")
            yield lambda n: None
            return
        columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn(), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(f"downloading {label}", total=total_bytes)
            yield lambda n: progress.advance(task, n)

    @contextlib.contextmanager
    def epoch(self, description, total_steps):
        """Progress of one epoch: yields `update(step, fields)`; silent unless interactive."""
        if not self.interactive:
            yield lambda step, fields: None
            return
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[status]}"), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            task = progress.add_task(description, total=total_steps, status="")

            def update(step, fields):
                progress.update(task, completed=step, status=fields)

            yield update

    @contextlib.contextmanager
    def runs_board(self, description, total):
        """Live progress of runs trained by other processes (a sweep's, a search's): yields a
        RunsBoard, which draws nothing unless interactive."""
        if not self.interactive:
            yield RunsBoard(None, description, total)
            return
        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[unit]}"), TimeRemainingColumn()]
        with Progress(*columns, console=self.console, transient=True) as progress:
            yield RunsBoard(progress, description, total)


class RunsBoard:
    """One live line for the whole work (runs done of `total`) and one per running run (its
    epochs done of its epochs, and the time left at its pace), as Reporter.runs_board makes
    it; without a rich Progress (not a terminal) it draws nothing."""

    def __init__(self, progress, description, total):
        self.progress, self.lines = progress, {}
        self.whole = None if progress is None else progress.add_task(description, total=total, unit="runs")

    def show(self, running, done):
        """Redraw: `running` {label: (epochs done, epochs planned or None)}, `done` runs ended."""
        if self.progress is None:
            return
        for label in [label for label in self.lines if label not in running]:
            self.progress.remove_task(self.lines.pop(label))
        for label, (epochs, planned) in running.items():
            if label not in self.lines:
                self.lines[label] = self.progress.add_task(f"  {label}", total=planned, unit="epochs")
            self.progress.update(self.lines[label], completed=epochs, total=planned)
        self.progress.update(self.whole, completed=done)


class _WarningsOnly:
    """A Reporter that keeps everything but its info lines (Reporter.warnings_only)."""

    def __init__(self, report):
        self._report = report

    def info(self, text):
        """Not shown: the run said it when it was trained."""

    def __getattr__(self, name):
        return getattr(self._report, name)
