"""What a worker of `bench search` keeps of each trial it trains: a TrialJob."""

import time
from dataclasses import dataclass, field


@dataclass
class TrialJob:
    """One trial a worker trains: its runs (one per seed, `points` and their `plans`) and the
    one in progress (`index`, its `folder`, the `process` training it and its `output` file).

    Attributes:
        trial: the Optuna trial (ask and tell).
        label: "trial N: key=value ...", as the worker's lines name it.
    """

    trial: object
    label: str
    points: list
    plans: list
    started: float = field(default_factory=time.time)
    index: int = 0
    folder: str | None = None
    process: object = None
    output: object = None

    @property
    def number(self):
        """The trial's number in its study."""
        return self.trial.number

    @property
    def folders(self):
        """The run folders of the trial's seeds."""
        return [plan.folder for plan in self.plans]

    def next_unfinished(self):
        """The index of the trial's next run that is not finished (from the current one on), or None."""
        return next((i for i, plan in enumerate(self.plans) if not plan.finished and i >= self.index), None)


class WaitingForRun:
    """Stands for a trial's process while another trial (the same settings drawn at once)
    trains the same run: nothing to poll, signal or wait for."""

    returncode = None

    def poll(self):
        """Never ended: the worker looks at the run's lock instead."""
        return None

    def wait(self):
        """Nothing to wait for."""
        return None

    def send_signal(self, signum):
        """Nothing to signal."""
