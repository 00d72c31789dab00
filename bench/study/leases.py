"""How the workers of one study keep their trials alive and take over those of a worker
that is gone.

A database storage keeps Optuna's heartbeat: a trial whose heartbeat expires is failed by
Optuna and queued again by `Leases.queue_stale`. A journal has no heartbeat, so each running
trial carries a lease (a time in its user attributes) that its worker renews; another worker
fails a trial whose lease expired and queues its settings again. The storage lets one worker
end a trial, and only that one queues it. A retry names the trial it retries and counts its
attempts, up to --max-retries.
"""

import copy
import time

from bench.study import pruning
from bench.study import optuna_private
from bench.study.study import ATTEMPT, LEASE, REASON, RETRIED, RETRY_OF, RUN


class Leases:
    """The leases (or heartbeats) of one worker's trials, and the retries of others'.

    Args:
        settings: the search's SearchSettings (its storage, --lease-seconds, --max-retries).
        report: where warnings go.
        study: the Optuna study (set once it is open: opening it needs `queue_stale`).
    """

    def __init__(self, settings, report, study=None):
        self.settings, self.report, self.study = settings, report, study
        self.heartbeat = pruning.is_database(settings.storage_spec())  # else a journal: leases
        self.last_renewal = 0.0

    def keep(self, trial, first=False):
        """Keep a trial alive in the study: a heartbeat (database; its first beat also leaves a
        lease, as a sign that the heartbeat now judges it) or a lease (journal)."""
        if self.heartbeat:
            optuna_private.record_heartbeat(self.study, trial)
        if first or not self.heartbeat:
            trial.set_user_attr(LEASE, time.time() + self.settings.lease_s)

    def renew(self, trials):
        """Renew the leases of this worker's running `trials` (a few times per lease)."""
        if time.time() - self.last_renewal < self.settings.lease_s / 4:
            return
        self.last_renewal = time.time()
        for trial in trials:
            self.keep(trial)

    def retry_stale(self, own):
        """Fail each running trial (but this worker's `own` numbers) whose heartbeat or lease has
        expired, and queue its settings again."""
        from optuna.trial import TrialState

        if self.heartbeat:
            from optuna.storages import fail_stale_trials

            fail_stale_trials(self.study)  # which calls queue_stale for each
        now = time.time()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            lease = trial.user_attrs.get(LEASE)
            if trial.number in own or (self.heartbeat and lease is not None):
                continue  # this worker's own, or one the heartbeat judges
            # A trial whose worker was killed before its first lease expires from its start.
            if (lease if lease is not None else trial.datetime_start.timestamp() + self.settings.lease_s) > now:
                continue
            attempts = trial.user_attrs.get(ATTEMPT, 0)
            if attempts >= self.settings.max_retries:
                self.fail(trial, f"its worker stopped renewing its lease, and it was tried {attempts + 1} times")
            elif self.fail(trial, "its worker stopped renewing its lease", retried=True):
                self.report.warning(f"trial {trial.number}: its worker is gone (lease expired); queued again, "
                                    f"to resume from {trial.user_attrs.get(RUN, 'its checkpoint')}")
                self.queue_again(trial)

    def queue_stale(self, study, trial):
        """Optuna's heartbeat failed `trial` as stale: queue its settings again with Optuna's retry
        callback (which keeps the chain of retries in the retry's system attributes; the failed
        trial itself can no longer be changed, so the retry names it)."""
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        self.report.warning(f"trial {trial.number}: its worker is gone (heartbeat expired); queued again, "
                            f"to resume from {trial.user_attrs.get(RUN, 'its checkpoint')}")
        retry = copy.deepcopy(trial)
        # the retry's own attributes start afresh
        retry.user_attrs = {RETRY_OF: trial.number, ATTEMPT: trial.user_attrs.get(ATTEMPT, 0) + 1}
        RetryHeartbeatStaleTrialCallback()(study, retry)

    def fail(self, trial, reason, retried=False):
        """Fail a running trial (this worker's or another's), saying why (`retried`: its retry is
        queued); False when it had already ended."""
        from optuna.trial import TrialState

        attributes = {RETRIED: True, REASON: reason} if retried else {REASON: reason}
        return optuna_private.end_trial(self.study, optuna_private.trial_id(trial), TrialState.FAIL, attributes)

    def queue_again(self, trial, attempt=True):
        """Queue a failed trial's settings again: the retry names it and (`attempt`: a death, not
        a user's stop) counts one more attempt."""
        self.study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number,
                                                           ATTEMPT: trial.user_attrs.get(ATTEMPT, 0) + int(attempt)},
                                 skip_if_exists=False)
