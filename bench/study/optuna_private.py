"""The parts of Optuna's private API bench uses, in one place.

bench drives Optuna by ask and tell from several processes, which its public API does not
quite cover: a trial's process must find its trial again by its storage id, a worker must
end another worker's trial in the storage (that trial object lives elsewhere), beat the
heartbeat of a trial it did not start through `Study.optimize`, and reseed a grid sampler's
choice without changing its shuffle. Each use is one function here, and
tests/test_optuna_private.py fails when a new Optuna changes any of them.
"""


def trial_id(trial):
    """A trial's id in its storage (what `optuna.trial.Trial(study, id)` takes)."""
    return trial._trial_id


def record_heartbeat(study, trial):
    """Beat a running trial's heartbeat (a database storage with a heartbeat)."""
    study._storage.record_heartbeat(trial_id(trial))


def end_trial(study, trial_id_, state, user_attrs):
    """Set a running trial's user attributes, then end it in `state`, whichever process
    started it; False when it had already ended."""
    storage = study._storage
    try:
        for key, value in user_attrs.items():
            storage.set_trial_user_attr(trial_id_, key, value)
        return storage.set_trial_state_values(trial_id_, state)
    except (RuntimeError, ValueError):  # ended meanwhile (UpdateFinishedTrialError is a RuntimeError)
        return False


def reseed_grid_choice(sampler, seed):
    """Reseed a GridSampler's choice among the points not yet taken, after it shuffled its
    grid with its own seed (so that grid ids mean the same points in every sampler)."""
    sampler._rng.rng.seed(seed)
