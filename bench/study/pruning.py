"""A run trained as a trial of a search (`bench search`): after each epoch it reports the
search's objective (its validation error by default) to the study, and stops there,
"pruned", when the study's pruner says so.

The search starts each trial as `bench train` with BENCH_SEARCH_TRIAL in its environment
(TRIAL_VARIABLE: JSON naming the storage, the study, the trial and the pruner); without
it a run is an ordinary run. Optuna is imported only by a trial's process; the pruners
and storages are made here, for the search and its trials alike.
"""

import fcntl
import json
import os
import threading

from bench.errors import BenchUsageError
from bench.model import metrics

TRIAL_VARIABLE = "BENCH_SEARCH_TRIAL"
PRUNERS = ("none", "median", "asha", "hyperband")
OBJECTIVES = metrics.OBJECTIVES


def objective_value(results, objective):
    """The run's value of `objective`: its best model's validation metric (None when it has none)."""
    return results.get("best", {}).get("validation", {}).get(objective.removeprefix("validation_"))


def make_pruner(name, epochs, min_epochs=1, reduction_factor=3, startup_trials=5):
    """An Optuna pruner by bench's name: none, median (against the median of earlier trials at
    the same epoch, after `startup_trials` trials and `min_epochs` epochs), asha (asynchronous
    successive halving from `min_epochs`), hyperband (brackets of successive halving up to
    `epochs`). An epoch is the resource."""
    import optuna

    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=startup_trials, n_warmup_steps=min_epochs - 1)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=min_epochs, reduction_factor=reduction_factor)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=min_epochs, max_resource=max(epochs, min_epochs),
                                              reduction_factor=reduction_factor)
    raise BenchUsageError(f"unknown pruner '{name}'; the pruners are {', '.join(PRUNERS)}")


def is_database(storage):
    """Whether a storage spec is a database URL (else: a journal file's path)."""
    return "://" in storage


def open_storage(storage, heartbeat_s=None, on_stale=None):
    """An Optuna storage: a URL (postgresql://, mysql://, sqlite:///) as Optuna takes it, or the
    path of a journal file (the embedded storage: no server; one file several processes share).

    With `heartbeat_s`, a database storage keeps Optuna's heartbeat: a running trial whose
    heartbeat is older than `heartbeat_s` is failed by `optuna.storages.fail_stale_trials`,
    which then calls `on_stale(study, trial)`. A journal has no heartbeat (the search keeps a
    lease instead).

    Raises:
        BenchUsageError: a storage that cannot be reached or read, in one line.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    try:
        if is_database(storage):
            return _database(storage, heartbeat_s, on_stale)
        return optuna.storages.JournalStorage(JournalFileBackend(storage, lock_obj=JournalLock(storage)))
    except ImportError as error:
        raise BenchUsageError(f"the storage {_shown(storage)} needs a driver that is not installed ({error}); "
                              "pip install -e '.[search]' installs PostgreSQL's") from error
    except Exception as error:  # sqlalchemy's, the drivers' and a damaged journal's errors: one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        what_to_do = ("check the URL, the server and the credentials" if is_database(storage) else
                      "the journal is damaged: restore it from a copy, or name a new study with --study")
        raise BenchUsageError(f"cannot open the search storage {_shown(storage)}: {first}; {what_to_do}") from error


class JournalLock:
    """The lock a journal file's writers hold around each append (Optuna's `lock_obj`): the
    kernel's lock on the journal file itself (flock), which a process killed while holding
    it (SIGKILL, the OOM killer) releases as it dies, and which a waiter waits on asleep.

    Optuna's default lock is a symbolic link that a killed holder leaves behind: the others
    wait out its grace period, and for a journal named by a relative path (log/_studies/...)
    they spin at full speed for ever, since the link's relative target never resolves.
    (Several machines share a database, --storage, rather than a journal.)"""

    def __init__(self, path):
        self._path = path
        self._in_process = threading.Lock()  # flock excludes processes; this, threads
        self._held = None

    def acquire(self):
        """Wait until this process holds the lock; True."""
        self._in_process.acquire()
        try:
            held = open(self._path, "ab")  # noqa: SIM115 (open until release)
            try:
                fcntl.flock(held, fcntl.LOCK_EX)
            except BaseException:
                held.close()
                raise
        except BaseException:
            self._in_process.release()
            raise
        self._held = held
        return True

    def release(self):
        """Let the next writer in."""
        held, self._held = self._held, None
        held.close()  # closing the file releases its flock
        self._in_process.release()

    def __getstate__(self):  # a storage pickles (Optuna's do): its copy locks the same file anew
        return {"path": self._path}

    def __setstate__(self, state):
        self.__init__(state["path"])


def _database(url, heartbeat_s=None, on_stale=None, attempts=3):
    """An RDBStorage; workers that start together race to create its tables, so a failed
    first opening is tried again."""
    import time

    import optuna

    heartbeat = {}
    if heartbeat_s:  # Optuna takes whole seconds; a few beats per grace period
        heartbeat = {"heartbeat_interval": max(1, int(heartbeat_s / 4)), "grace_period": max(2, int(heartbeat_s)),
                     "heartbeat_stale_trial_callback": on_stale}
    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True}, **heartbeat)
        except ImportError:
            raise
        except Exception:
            if attempt == attempts - 1:
                raise
            time.sleep(0.5 * (attempt + 1))


def _shown(storage):
    """A storage URL without its password."""
    if is_database(storage) and "@" in storage:
        scheme, rest = storage.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return storage


class SearchTrial:
    """The trial a run is trained as: reports each epoch's objective, says when to stop (the
    Trainer's stopper, bench.run.train.Trainer)."""

    stopped_by = "pruned by the search"

    def __init__(self, spec):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage(spec["storage"])
        self.study = optuna.load_study(study_name=spec["study"], storage=storage, pruner=make_pruner(**spec["pruner"]))
        self.trial = optuna.trial.Trial(self.study, spec["trial_id"])
        self.reported = set(storage.get_trial(spec["trial_id"]).intermediate_values)
        self.objective = spec.get("objective", "validation_error")

    @classmethod
    def from_environment(cls):
        """The SearchTrial of this process, or None (an ordinary run)."""
        text = os.environ.get(TRIAL_VARIABLE)
        return cls(json.loads(text)) if text else None

    def should_stop(self, history):
        """Report the epochs of `history` ([{epoch, validation_error, ...}]) not yet reported
        (an epoch recorded before bench kept its objective is left out); True when the pruner
        stops the trial after the last of them."""
        for entry in history:
            if entry["epoch"] not in self.reported and self.objective in entry:
                self.trial.report(entry[self.objective], entry["epoch"])
                self.reported.add(entry["epoch"])
        return bool(history) and self.trial.should_prune()
