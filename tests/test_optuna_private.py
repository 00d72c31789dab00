"""Optuna's private API as bench uses it (bench.study.optuna_private): each use, driven the
way bench drives it, so that a new Optuna that changes one fails here, not in a search."""

import pytest

optuna = pytest.importorskip("optuna")

from bench.study import optuna_private  # noqa: E402


@pytest.fixture
def study(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 'study.db'}", study_name="s")


@pytest.mark.unit
def test_a_trial_is_found_again_by_its_id_in_another_study_object(study, tmp_path):
    trial = study.ask()
    other = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 'study.db'}")
    found = optuna.trial.Trial(other, optuna_private.trial_id(trial))  # as a trial's own process does
    found.report(0.5, 1)
    assert study.trials[0].number == found.number == trial.number
    assert study.trials[0].intermediate_values == {1: 0.5}


@pytest.mark.unit
def test_another_worker_ends_a_trial_once_with_its_reason(study):
    trial = study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    ended = optuna_private.end_trial(study, optuna_private.trial_id(frozen), optuna.trial.TrialState.FAIL,
                                     {"reason": "its worker is gone"})
    again = optuna_private.end_trial(study, optuna_private.trial_id(trial), optuna.trial.TrialState.FAIL, {"x": 1})
    assert ended is True and again is False
    (stored,) = study.get_trials()
    assert stored.state == optuna.trial.TrialState.FAIL and stored.user_attrs == {"reason": "its worker is gone"}


@pytest.mark.unit
@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_heartbeat_is_recorded_for_an_ask_and_tell_trial(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'beat.db'}", heartbeat_interval=1, grace_period=2)
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    optuna_private.record_heartbeat(study, trial)
    optuna.storages.fail_stale_trials(study)
    assert study.trials[0].state == optuna.trial.TrialState.RUNNING


def _grid_trial(choice, trials_before):
    """(grid id, x) of a trial drawn by a grid sampler (seed 7, choice reseeded) after
    `trials_before` failed trials of another sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(trials_before):
        study.tell(study.ask(), state=optuna.trial.TrialState.FAIL)
    study.sampler = optuna.samplers.GridSampler({"x": list(range(12))}, seed=7)
    optuna_private.reseed_grid_choice(study.sampler, choice)
    x = study.ask().suggest_categorical("x", list(range(12)))
    return study.trials[-1].system_attrs["grid_id"], x


@pytest.mark.unit
def test_a_reseeded_grid_keeps_its_shuffle_and_changes_its_choice():
    """Grid ids mean the same points in every sampler made with one seed (each trial's sampler
    is made anew), while the reseeded choice among the free points differs (Optuna takes the
    trial's number as its grid id while the number is below the grid's size, and chooses
    after that: a retried trial's number)."""
    point_of, chosen = {}, set()
    for choice in range(8):
        for trials_before in (0, 12):
            grid_id, x = _grid_trial(choice, trials_before)
            assert point_of.setdefault(grid_id, x) == x
            if trials_before:
                chosen.add(grid_id)
    assert len(chosen) > 1
