"""A study of `bench search`: its settings and folder, opening it (and refusing one created with
other shared settings), its samplers (each trial drawing from --seed and its number), and
what its trials count for (which are queued again, which points are taken).

The trial user attributes bench keeps (RUN, RUNS, REASON, ...) and the study's own (SPACE,
OBJECTIVE) are named here; bench.study.search works the study, bench.study.search_results
shows it.
"""

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from bench.errors import BenchUsageError
from bench.study import pruning
from bench.study import optuna_private

STUDIES = "_studies"
"""log/_studies/<study>/ holds the embedded storage (JOURNAL), OUTPUTS and the pictures of --show."""
JOURNAL = "journal.log"
OUTPUTS = "outputs"
"""log/_studies/<study>/outputs/trial<N>_<run>.log: each trial process's whole output."""
SAMPLERS = ("tpe", "random", "grid")
# Trial user attributes bench keeps in the study.
RUN, RUNS, LEASE, REASON, RETRIED, RETRY_OF, EPOCHS, STD, RUN_STATES, ATTEMPT = (
    "run", "runs", "lease_until", "reason", "retried", "retry_of", "epochs", "std", "run_states", "attempt")
# Study user attributes: what every worker of a study must agree on.
SPACE, OBJECTIVE = "bench_space", "bench_objective"


@dataclass(frozen=True)
class SearchSettings:
    """How a search runs (the options of `bench search` beyond the space)."""

    study: str
    storage: str | None = None
    """An Optuna storage URL; None: the journal file under log/_studies/<study>/."""
    trials: int = 20
    """Trials of the whole study (every worker's), failed ones included."""
    workers: int = 1
    sampler: str = "tpe"
    pruner: str = "median"
    min_epochs: int | None = None
    """Epochs before a trial can be pruned; None: half a trial's epochs (SearchSettings.first_rung)."""
    reduction_factor: int = 3
    seed: int = 0
    lease_s: float = 120.0
    log_dir: str = "log"
    repeats: int = 1
    """Runs per trial, seeds S..S+N-1 (S: the space's seed, 0 by default); the value is their mean."""
    objective: str = "validation_error"
    """A key of bench.study.pruning.OBJECTIVES."""
    max_retries: int = 2
    """How many times a trial whose process or worker died is tried again (from its checkpoint)."""
    confirm: int = 0
    """How many of the best trials are retrained over fresh seeds when the trials are done (0: none)."""
    confirm_repeats: int = 3
    """Seeds each confirmed trial is retrained with (seeds no trial used)."""

    def first_rung(self, epochs):
        """Epochs every trial trains before it can be pruned: --min-epochs, or half of a trial's
        `epochs`, rounded up. An earlier first rung prunes most trials on seed noise before their
        curves part, and leaves the sampler few finished trials to learn from."""
        return self.min_epochs if self.min_epochs is not None else max(1, -(-epochs // 2))

    def pruner_spec(self, epochs):
        """The pruner as bench.study.pruning.make_pruner takes it (for the search and its trials):
        the median pruner waits for the sampler's random start-up trials."""
        return {"name": self.pruner, "epochs": epochs, "min_epochs": self.first_rung(epochs),
                "reduction_factor": self.reduction_factor, "startup_trials": startup_trials(self.trials)}

    def storage_spec(self):
        """The storage as bench.study.pruning.open_storage takes it."""
        return self.storage or str(study_folder(self.log_dir, self.study) / JOURNAL)


def study_folder(log_dir, study):
    """The study's own folder, beside the runs: log/_studies/<study>/."""
    return Path(log_dir) / STUDIES / check_study_name(study)


STUDY_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+=@,-]{0,99}")


def check_study_name(name):
    """`name` when it is one plain name (letters, digits and _ . + = @ , -, at most 100, not
    starting with a dot), so that the study's folder stays inside log/_studies/.

    Raises:
        BenchUsageError: a path, `..`, an empty or hidden name.
    """
    if not STUDY_NAME.fullmatch(name or "") or ".." in name:
        raise BenchUsageError(f"--study must be one plain name (letters, digits, _ . + = @ , -; not starting with "
                              f"a dot, no '/' or '..'), got {name!r}; e.g. --study cae-lr")
    return name


def import_optuna():
    """Optuna, quietly, or one line on how to install it."""
    try:
        import optuna
    except ImportError as error:
        raise BenchUsageError("bench search needs Optuna: pip install -e '.[search]'") from error
    import warnings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # bench beats the heartbeat of its ask/tell trials itself (bench.study.leases).
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return optuna


def open_study(settings, space, epochs, on_stale=None):
    """The study named by `settings` (created with `space` when it does not exist yet); a
    database storage keeps Optuna's heartbeat, and calls `on_stale(study, trial)` for each
    trial it fails as stale.

    Raises:
        BenchUsageError: the storage cannot be opened, or the study was created with another
            space or objective.
    """
    optuna = import_optuna()
    if settings.storage is None:
        study_folder(settings.log_dir, settings.study).mkdir(parents=True, exist_ok=True)
    storage = pruning.open_storage(settings.storage_spec(), heartbeat_s=settings.lease_s, on_stale=on_stale)
    pruner = pruning.make_pruner(**settings.pruner_spec(epochs))
    try:
        optuna.create_study(study_name=settings.study, storage=storage,
                            direction=pruning.OBJECTIVES[settings.objective])
    except optuna.exceptions.DuplicatedStudyError:
        pass
    except Exception as error:  # the database said no: one line
        raise BenchUsageError(f"cannot create study '{settings.study}' in {settings.storage_spec()}: "
                              f"{str(error).splitlines()[0]}") from error
    # Each trial draws from (--seed, its number): Search.start_next seeds the sampler anew.
    study = optuna.load_study(study_name=settings.study, storage=storage, pruner=pruner,
                              sampler=make_sampler(settings.sampler, space, settings.seed, settings.trials))
    theirs = study.user_attrs.get(OBJECTIVE, "validation_error")
    if study.direction.name.lower() != pruning.OBJECTIVES[settings.objective]:  # a study older than the attribute
        raise BenchUsageError(f"study '{settings.study}' was created to {study.direction.name.lower()} "
                              f"{theirs}; give --objective {theirs}, or name a new study with --study")
    _agree(study, settings, OBJECTIVE, settings.objective, f"--objective {theirs}; give that objective")
    recorded = study.user_attrs.get(SPACE)
    if recorded is not None and recorded != space.to_json():
        raise BenchUsageError(f"study '{settings.study}' was created with {space_difference(recorded, space.to_json())}; "
                              "give the study's settings, or name a new study with --study")
    _agree(study, settings, SPACE, space.to_json(), "another space; give its space file")
    return study


def space_difference(recorded, mine):
    """The first setting in which two spaces (Space.to_json) differ, in words."""
    before, now = json.loads(recorded), json.loads(mine)
    fixed_before, fixed_now = before.get("fixed", {}), now.get("fixed", {})
    for key in sorted(set(fixed_before) | set(fixed_now)):
        if fixed_before.get(key) != fixed_now.get(key):
            return f"{key}: {fixed_before.get(key, 'its default')} (now {fixed_now.get(key, 'its default')})"
    drawn_before = {param[0]: param[1:] for param in before.get("params", [])}
    drawn_now = {param[0]: param[1:] for param in now.get("params", [])}
    for key in sorted(set(drawn_before) | set(drawn_now)):
        if drawn_before.get(key) != drawn_now.get(key):
            return f"{key} drawn from {drawn_before.get(key) or 'nothing'} (now {drawn_now.get(key) or 'nothing'})"
    return "another space"


def _agree(study, settings, key, mine, what_to_do):
    """Record `mine` as the study's `key`, or refuse a study that recorded another."""
    recorded = study.user_attrs.get(key)
    if recorded is None:
        study.set_user_attr(key, mine)
    elif recorded != mine:
        raise BenchUsageError(f"study '{settings.study}' was created with {what_to_do}, "
                              "or name a new study with --study")


def trial_seed(seed, number):
    """The sampler's seed for trial `number` of a study searched with --seed `seed`: a study
    extended with a larger --trials draws as one run straight would, and two workers asking
    at once draw apart."""
    digest = hashlib.sha256(f"{seed}:{number}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


GRID_SHUFFLE_SEED = 0
"""The seed of every grid sampler's shuffle (a worker's --seed seeds only its choices: two
workers of one grid study with other --seed values once meant other points by one grid id)."""


def make_sampler(name, space, seed, trials=40, number=None):
    """An Optuna sampler by name for trial `number` of a study searched with --seed `seed`
    (None: the study's own, as it is opened): tpe (with a constant liar, for trials running
    at once), random, or grid (every combination of the space's choices, as `bench sweep`
    would train them). Each trial draws from trial_seed(seed, number).

    TPE draws its first trials at random: a quarter of the study's `trials`, 3 to 10 (Optuna's
    10 would leave a 12-trial search nearly all random)."""
    optuna = import_optuna()
    drawn = seed if number is None else trial_seed(seed, number)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=drawn, constant_liar=True, n_startup_trials=startup_trials(trials))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=drawn)
    if name == "grid":
        return grid_sampler(space.grid(), drawn)
    raise BenchUsageError(f"unknown sampler '{name}'; the samplers are {', '.join(SAMPLERS)}")


def grid_sampler(grid, choice_seed=None):
    """Optuna's GridSampler for ask and tell, made anew for each trial.

    Its grid ids must mean the same points in every trial's sampler, on every worker whatever
    its --seed: Optuna shuffles the grid with the sampler's seed, so the shuffle takes
    GRID_SHUFFLE_SEED and only the choice among the points not yet taken takes the trial's
    `choice_seed`, drawn from (--seed, its number) (two workers asking at once then choose
    apart). Its after_trial calls Study.stop once the grid is covered, which raises outside
    Study.optimize (the trial is stored all the same); the search stops by itself once every
    point is covered (Search.wanted)."""
    optuna = import_optuna()

    class AskTellGrid(optuna.samplers.GridSampler):
        def __init__(self):
            super().__init__(grid, seed=GRID_SHUFFLE_SEED)
            if choice_seed is not None:
                optuna_private.reseed_grid_choice(self, choice_seed)  # the choice only, after the shuffle

        def after_trial(self, study, trial, state, values):
            pass

    return AskTellGrid()


def startup_trials(trials):
    """How many of a study's `trials` TPE draws at random before it models the others."""
    return max(3, min(10, trials // 4))


def draw(trial, param):
    """The value of `param` for `trial` (an enqueued trial's own value, when it was queued again)."""
    low_high = param.values
    if param.kind == "log_uniform":
        return trial.suggest_float(param.key, low_high[0], low_high[1], log=True)
    if param.kind == "uniform":
        return trial.suggest_float(param.key, low_high[0], low_high[1])
    if param.kind == "int":
        return trial.suggest_int(param.key, low_high[0], low_high[1])
    return trial.suggest_categorical(param.key, list(param.values))


def run_state(folder, results, objective):
    """What the study was told of a run: its folder, epochs done, status and value of
    `objective`; `bench search --show` checks each against the folder (bench.study.trial_check)."""
    return {"run": str(folder), "epochs_done": results.get("epochs_done", 0), "status": results.get("status"),
            "value": pruning.objective_value(results, objective)}


def seed_points(point, repeats):
    """A trial's runs: its point with seeds S..S+repeats-1 (S: the point's seed, 0 by default)."""
    if repeats <= 1:
        return [point]
    first = int(point.get("seed", 0))
    return [dict(point, seed=first + k) for k in range(repeats)]


def queued_again(trials):
    """The numbers of the trials that were failed to be tried again (a retry names them)."""
    return ({trial.number for trial in trials if trial.user_attrs.get(RETRIED)}
            | {trial.user_attrs[RETRY_OF] for trial in trials if RETRY_OF in trial.user_attrs})


def point_key(params):
    return json.dumps(params, sort_keys=True, default=str)


def taken_points(study, but=None):
    """The settings that trials have taken (finished, pruned, running, queued, or failed for good;
    not those failed to be queued again), but trial `but`'s."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    again = queued_again(trials)
    return {point_key(trial.params) for trial in trials
            if trial.number != but and trial.params and trial.number not in again
            and (trial.state != TrialState.FAIL or not trial.user_attrs.get(RETRIED))}


def counted(study):
    """Trials that count towards --trials: all but those waiting and those queued again."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    again = queued_again(trials)
    return sum(1 for trial in trials if trial.state != TrialState.WAITING and trial.number not in again)
