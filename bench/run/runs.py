"""The run folder's schema: where a run lives, every file in it, and the records
its results.json holds. Every command names a run's files through these constants.

    log/<Model>/<run name>/
        config.yaml          CONFIG_FILE: the whole resolved configuration
        events.out.tfevents.*  the run's HParams and final metrics (TensorBoard)
        train/ validation/   TRAIN_EVENTS, VALIDATION_EVENTS: TensorBoard events
        checkpoints/         CHECKPOINTS: latest state: every model variable,
                             optimizer, step, epoch, best value
        best/                BEST: the best model on validation: every weight,
                             its epoch and step
        model.json           MODEL_FILE: the model plugin's source hash and
                             weights (bench.run.fingerprint)
        model_source/        MODEL_SOURCE: a copy of the plugin's source files
        results.json         RESULTS_JSON: the results, for `bench compare`
        results.txt          RESULTS_TXT: the same for people, each metric's
                             scale and provenance stated
        train.log            LOG_FILE: what the console showed
        reconstructions.png  RECONSTRUCTIONS_PNG: test images and the best
                             model's reconstructions
        filters.png          FILTERS_PNG: the first layer's filters
        curves.png           CURVES_PNG: train and validation error per epoch
        anomaly_scores.png   ANOMALY_PNG: histogram of the test images' anomaly
                             scores, seen and unseen classes (bench eval --anomaly)
        anomaly_scores.npz   ANOMALY_SCORES: each test image's score and label
        samples.png          SAMPLES_PNG: images drawn from the prior (bench sample)
        interpolations.png   INTERPOLATIONS_PNG: decoded interpolations between
                             test codes (bench interpolate)
        projector/           PROJECTOR: the test codes for TensorBoard's projector
        projector_train/ ... projector_folder(split): another split's, from bench embed
        data_files.tsv       DATA_FILES: an image folder's files (split, label,
                             path), whose hash results.json's "data" holds

results.json holds one object, changed only through bench.run.results's named records,
under `RunFolder.update_results`'s lock.

Nothing here imports TensorFlow.
"""

import contextlib
import fcntl
import json
import os
import shutil
import socket
import time
from pathlib import Path

from bench import schema
from bench.errors import BenchError, BenchUsageError, DamagedFileError, RunBusyError, storage_problem
from bench.files import atomic_write_text, remove_temporaries, shown
from bench.run.config import TrainConfig, check_values, read_yaml_mapping, write_yaml
from bench.run.results import ANOMALY_PNG, ANOMALY_SCORES, check_results, results_text  # noqa: F401 (run files)

CONFIG_FILE = "config.yaml"
TRAIN_EVENTS = "train"
VALIDATION_EVENTS = "validation"
CHECKPOINTS = "checkpoints"
BEST = "best"
CHECKPOINT_FOLDERS = {"best": BEST, "last": CHECKPOINTS}
MODEL_FILE = "model.json"
MODEL_SOURCE = "model_source"
RESULTS_JSON = "results.json"
RESULTS_TXT = "results.txt"
LOG_FILE = "train.log"
RECONSTRUCTIONS_PNG = "reconstructions.png"
FILTERS_PNG = "filters.png"
CURVES_PNG = "curves.png"
SAMPLES_PNG = "samples.png"
INTERPOLATIONS_PNG = "interpolations.png"
PROJECTOR = "projector"
RESULTS_LOCK = ".results.json.lock"  # held for each read-modify-write of results.json
UNCHANGED = "nothing was changed: restore it from a copy, or start the run over with --restart"
LOOKING_S = 1.0  # how long `lock` retries while a reader looks at the run lock (`trainer`)
RESULTS_WAIT_S = 60


def projector_folder(split):
    """The projector folder of a split's codes: PROJECTOR for test (training writes it),
    projector_<split> for the others (bench embed), so that one never replaces another."""
    return PROJECTOR if split == "test" else f"{PROJECTOR}_{split}"


DATA_FILES = "data_files.tsv"


class RunFolder:
    """One run's folder on disk."""

    def __init__(self, path):
        self.path = Path(path)

    @classmethod
    def for_config(cls, config):
        """The folder of `config`'s run: <log_dir>/<Model>/<run name>."""
        return cls(Path(config.log_dir) / config.model / config.run_name())

    def sub(self, name):
        """A path inside the run folder."""
        return self.path / name

    def lock_path(self):
        """The run lock's file: `.<run name>.lock` beside the folder (so --restart can remove the folder)."""
        return self.path.parent / f".{self.path.name}.lock"

    @contextlib.contextmanager
    def lock(self):
        """Hold the run for this process: an OS lock (flock) on `lock_path()`, released when
        the process ends however it ends (kill -9 included). Readers never hold it; `trainer()`
        looks at it for a moment.

        Raises:
            BenchError: another process holds it; the message names that process and host.
        """
        path = self.lock_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "a+", encoding="utf-8")
        except OSError as error:
            raise BenchError(f"cannot write the run folder {self.path}: {error.strerror or error}; "
                             "choose a writable folder with --log-dir") from error
        with handle:
            if not _flock(handle, fcntl.LOCK_EX, LOOKING_S):
                handle.seek(0)
                raise self._being_trained(handle.read().strip() or "another process")
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()} on host {socket.gethostname()}\n")
            handle.flush()
            yield

    def _being_trained(self, holder):
        return RunBusyError(f"run {self.path} is being trained by {holder}; wait for it to end, "
                            "or stop it (Ctrl-C saves its checkpoint) and run again")

    def check_untrained_now(self):
        """Refuse at once a run that another process trains (`lock` is what holds it)."""
        holder = self.trainer()
        if holder:
            raise self._being_trained(holder)

    def trainer(self):
        """Who trains this run now ("process N on host H"), or None when no process does
        (a run whose results say "running" and that no process holds was stopped without
        a word: killed, or its disk filled)."""
        try:
            handle = open(self.lock_path(), encoding="utf-8")
        except OSError:
            return None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return handle.read().strip() or "another process"
            fcntl.flock(handle, fcntl.LOCK_UN)
            return None

    def is_run(self):
        """Whether the folder holds a run (a config.yaml)."""
        return self.sub(CONFIG_FILE).is_file()

    def read_config_values(self, results=None, check_identity=True):
        """The run's config.yaml as a mapping, checked against its schema (bench.schema) and
        against the identity results.json recorded (`results`: results.json already read, so
        that it is not read twice; `check_identity=False`: the caller checks it with
        `check_identity` once it has read results.json).

        Raises:
            BenchUsageError: the folder does not exist or holds no config.yaml.
            DamagedFileError: config.yaml is unreadable, or not what bench writes; names the key.
        """
        if not self.path.is_dir():
            raise BenchUsageError(f"{self.path} does not exist (or is not a folder); "
                                  "'bench compare' lists the runs under log/")
        if not self.is_run():
            raise BenchUsageError(
                f"{self.path} is not a bench run folder (it has no {CONFIG_FILE}); "
                "'bench compare' lists the runs under log/"
            )
        path = self.sub(CONFIG_FILE)
        try:
            values = read_yaml_mapping(path)
            check_values(values)
        except BenchUsageError as error:  # the file named in the message already
            raise DamagedFileError(f"{error}; {UNCHANGED}") from error
        except schema.Invalid as error:
            raise DamagedFileError(f"{path} is damaged ({error}); {UNCHANGED}") from error
        if check_identity:
            if results is None:
                try:
                    results = self.read_results()
                except DamagedFileError:
                    results = {}  # read_results names that damage to whoever reads the results
            self.check_identity(values, results)
        return values

    def check_identity(self, values, results):
        """Refuse a config.yaml (`values`) whose identity is not the one results.json (`results`)
        recorded when the run was trained (edited by hand): name the first key that differs.

        Raises:
            DamagedFileError: naming the key, its value there and the value trained with.
        """
        recorded = results.get("identity")
        if recorded is None:
            return  # a run from before identities were recorded
        differing = _differing(TrainConfig.from_dict(values).identity(), recorded)
        if differing:
            key, there, trained = differing[0]
            more = f"; {len(differing) - 1} more key(s) differ" if len(differing) > 1 else ""
            raise DamagedFileError(
                f"{self.sub(CONFIG_FILE)} does not match the run its folder holds: {key} is {there!r} there, "
                f"but the run was trained with {trained!r} (results.json's identity{more}); {UNCHANGED}")

    def read_config(self):
        """The run's TrainConfig (see `read_config_values`)."""
        return TrainConfig.from_dict(self.read_config_values())

    def check_writable(self):
        """Raise a one-line BenchError now, before long work, when the run folder cannot be
        written (a read-only file system, a folder of another user)."""
        try:
            with open(self.sub(RESULTS_LOCK), "a", encoding="utf-8"):
                pass
        except OSError as error:
            named = OSError(error.errno, error.strerror, str(self.path))
            raise BenchError(storage_problem(named) or f"cannot write {self.path}: {error.strerror or error}") from error

    def check_can_hold(self, config, restart):
        """Refuse a configuration that differs from the one already in this folder,
        and a run whose config.yaml or results.json is damaged (unless restarting)."""
        if restart or not self.is_run():
            return
        saved = self.read_config_values(results=self.read_results())
        differing = config.differences(saved)
        if differing:
            details = ", ".join(f"{key} ({saved.get(key)!r} there, {getattr(config, key, None)!r} now)"
                                for key in differing)
            raise BenchUsageError(
                f"{self.path} holds a run with another configuration: {details}; "
                "add --comment to name a new run, or --restart to replace it"
            )

    def is_finished(self, config):
        """Whether this folder holds `config`'s run with exactly its epochs trained and its
        results written (False when anything is amiss: `bench train` will say what)."""
        if not self.is_run():
            return False
        try:
            results = self.read_results()
            saved = self.read_config_values(results=results)
        except BenchError:
            return False
        return (not config.differences(saved) and results.get("status") == "finished"
                and results.get("epochs_done", 0) == config.epochs)

    def prepare(self, config, restart):
        """Create (or, with restart, empty) the folder and write config.yaml
        (`check_can_hold` has said the folder may hold `config`).

        Returns:
            True when an earlier run is resumed.
        """
        try:
            if restart and self.path.exists():
                shutil.rmtree(self.path)
            resuming = self.is_run()
            self.remove_leftovers()
            for sub in (TRAIN_EVENTS, VALIDATION_EVENTS, CHECKPOINTS, BEST):
                self.sub(sub).mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.sub(CONFIG_FILE), write_yaml(config.to_dict()))
        except OSError as error:
            raise BenchError(
                f"cannot write the run folder {self.path}: {error.strerror or error}; "
                "choose a writable folder with --log-dir"
            ) from error
        return resuming

    def remove_leftovers(self):
        """What killed writers left: checkpoints saved halfway (`ckpt-N_temp*`) and
        half-written temporary files (`.results.json.*.tmp`, ...)."""
        for folder in (CHECKPOINTS, BEST):
            remove_temporaries(self.sub(folder), ("*_temp*",))
        remove_temporaries(self.path, (".*.tmp",))

    def read_results(self):
        """The run's results.json as a dict, checked against its schema (bench.schema);
        {} before the first record of a run that holds no trained state.

        Raises:
            DamagedFileError: the file is unreadable (truncated, garbled, nested beyond
                reason), is not what bench writes, or is missing from a trained run.
        """
        path = self.sub(RESULTS_JSON)
        if not path.exists():
            if (self.sub(CHECKPOINTS) / "checkpoint").exists():
                raise DamagedFileError(f"{path} is missing, though {self.sub(CHECKPOINTS)} holds a trained state; "
                                       f"its history cannot be rebuilt: {UNCHANGED}")
            return {}
        try:
            results = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
            check_results(results)
            return results
        except RecursionError:
            raise DamagedFileError(f"{path} is damaged (nested too deeply); {UNCHANGED}") from None
        except (OSError, ValueError) as error:
            raise DamagedFileError(f"{path} is damaged ({error}); {UNCHANGED}") from error

    def write_results(self, results):
        """Write results.json and its readable twin results.txt, atomically (`update_results`
        is the way to change them: it holds the lock)."""
        results = dict(results, updated=time.strftime("%Y-%m-%d %H:%M:%S"))
        atomic_write_text(self.sub(RESULTS_JSON), json.dumps(results, indent=2, sort_keys=True) + "\n")
        atomic_write_text(self.sub(RESULTS_TXT), results_text(self.path, results))

    @contextlib.contextmanager
    def results_lock(self):
        """Hold results.json for one read-modify-write: a trainer's record and an evaluation's
        never interleave (each sees the other's, whatever the disk's speed)."""
        try:
            handle = open(self.sub(RESULTS_LOCK), "a", encoding="utf-8")
        except OSError as error:
            raise BenchError(f"cannot write {self.sub(RESULTS_LOCK)}: {error.strerror or error}") from error
        with handle:
            if not _flock(handle, fcntl.LOCK_EX, RESULTS_WAIT_S):
                raise BenchError(f"{self.sub(RESULTS_JSON)} has been held by another process for "
                                 f"{RESULTS_WAIT_S} s (a disk that does not answer?); nothing was written: "
                                 "run the same command again")
            yield

    def update_results(self, change):
        """Apply `change(results) -> results` (a named record below) to results.json under
        `results_lock`: read, changed, written whole; returns the new results.

        Raises:
            DamagedFileError: results.json is damaged; nothing is written.
        """
        with self.results_lock():
            results = change(self.read_results())
            self.write_results(results)
        return results


def _differing(now, recorded, prefix=""):
    """[(dotted key, value now, value recorded)] where two identities differ, mappings looked into."""
    found = []
    for key in sorted(set(now) | set(recorded)):
        mine, theirs = now.get(key), recorded.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            found += _differing(mine, theirs, f"{prefix}{key}.")
        elif mine != theirs:
            found.append((f"{prefix}{key}", mine, theirs))
    return found


def _unique_keys(pairs):
    """json.loads' object hook that refuses a key given twice (where the last would silently win)."""
    keys = [key for key, _ in pairs]
    twice = next((key for key in keys if keys.count(key) > 1), None)
    if twice is not None:
        raise ValueError(f"the key '{twice}' is given twice")
    return dict(pairs)


def _flock(handle, operation, wait_s):
    """Take an flock on an open file, trying for up to `wait_s` seconds; whether it was taken."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, operation | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)


# -- a run's data: the image folder's listing it was trained on ---------------------

def listing_text(listing):
    """DATA_FILES's text: a header, then `split<TAB>label<TAB>path` for every file."""
    return "split\tlabel\tpath\n" + "\n".join(listing.lines()) + "\n"


def check_same_data(run, results, dataset, resuming=False):
    """BenchError when an image folder's files differ from those the run recorded, in a split
    the run has used: training resumes (`resuming`) when only splits it has not read yet
    changed (a damaged file removed before it stopped the run, say); anything else that
    reads the run's data refuses any change. Returns a line saying what changed, or None."""
    recorded = results.get("data", {})
    now = getattr(dataset, "files_sha256", None)
    if not recorded.get("files_sha256") or not now or recorded["files_sha256"] == now:
        return None
    before = recorded.get("splits_sha256", {})
    changed = [split for split in dataset.splits_sha256 if before.get(split) != dataset.splits_sha256[split]]
    used = {"train": results.get("steps", 0) > 0, "validation": bool(results.get("history")),
            "test": "test" in results.get("best", {})}
    what = _listing_changes(run, dataset.listing)
    if resuming and not any(used[split] for split in changed):
        return f"the image folder changed in splits not read yet ({', '.join(changed)}): {what}"
    raise BenchError(f"the image folder's files differ from those {run.path} was trained on ({what}; "
                     f"{run.sub(DATA_FILES)} lists them): put them back to use the run, or train on the folder "
                     "as it is now with --restart (or as a new run with --comment)")


def _listing_changes(run, listing):
    """The files gone and new since the run listed them, in words."""
    try:
        before = set(run.sub(DATA_FILES).read_bytes().decode("utf-8", "surrogateescape").splitlines()[1:])
    except OSError:
        return "its listing is not in the run to say which"
    now = set(listing.lines())
    parts = []
    for label, lines in (("gone", sorted(before - now)), ("new", sorted(now - before))):
        if lines:
            names = ", ".join(f"{shown(line.split(chr(9))[2])} ({line.split(chr(9))[0]})" for line in lines[:3])
            parts.append(f"{len(lines)} {label}: {names}{' ...' if len(lines) > 3 else ''}")
    return "; ".join(parts) or "the same files, other sizes"


RUN_MARKERS = (CONFIG_FILE, RESULTS_JSON, CHECKPOINTS, MODEL_FILE)
"""What makes a folder a run's: any of them (a run whose config.yaml is gone is still one)."""


def find_runs(log_dir):
    """Every run folder under `log_dir`, sorted by path: the folders holding one of
    RUN_MARKERS, not looked into further; hidden folders (a writer's staging) left out."""
    found = []
    for folder, subfolders, names in os.walk(log_dir):
        if any(marker in names or marker in subfolders for marker in RUN_MARKERS):
            found.append(folder)
            subfolders[:] = []
        else:
            subfolders[:] = sorted(name for name in subfolders if not name.startswith("."))
    return [RunFolder(path) for path in sorted(found)]
