"""A worker of `bench search`: it asks the study (bench.study.study) for trials and trains each
as an ordinary `bench train` run in a process of its own, K at a time; the trial's process
reports each epoch's objective and stops, "pruned", when the study's pruner says so.

Nothing is lost and nothing is done twice: a trial whose run is finished is read, not
trained; Ctrl-C or SIGTERM stops the running trials at a checkpoint and queues them again;
a trial whose process is killed is queued again, up to --max-retries; a worker keeps its
trials alive by Optuna's heartbeat (database) or a lease (journal), and a worker that finds
another's trial stale fails it and queues it again once (the run lock keeps one writer per
run, so every retry resumes from the run's checkpoint). A trial's whole output is kept in
the study's folder; trials failing in a row before their first step stop the worker.
"""

import json
import shutil
import signal
import statistics
import time

import yaml

from bench.errors import BenchError, RunBusyError, TrainingStopped
from bench.files import scratch_folder
from bench.study import pruning
from bench.run.config import TrainConfig
from bench.run.planning import plan_run
from bench.run.runs import RunFolder
from bench.signals import StopSignals
from bench.study import optuna_private
from bench.study.leases import Leases
from bench.study.processes import death_words, killing_signal, last_error, start_training, was_killed
from bench.study.progress import epochs_of
from bench.study.study import (ATTEMPT, EPOCHS, OUTPUTS, REASON, RUN, RUN_STATES, RUNS, STD, counted, draw,
                               make_sampler, open_study, point_key, run_state, seed_points, study_folder, taken_points)
from bench.study.trial_jobs import TrialJob, WaitingForRun

STARTUP_FAILURES = 3
"""Trials failing in a row before their first step, for one reason, that stop a worker."""
POLL_S = 0.5


class Search:
    """One worker of a study: asks for trials, trains them in processes, tells their results."""

    def __init__(self, settings, space, report):
        self.settings, self.space, self.report = settings, space, report
        self.epochs = TrainConfig.from_point(space.point({param.key: param.ends()[0] for param in space.params})).epochs
        self.leases = Leases(settings, report)
        self.study = self.leases.study = open_study(settings, space, self.epochs, on_stale=self.leases.queue_stale)
        self.running = {}  # trial number: TrialJob
        self.said_waiting = False
        self.scratch = None
        self.outputs = study_folder(settings.log_dir, settings.study) / OUTPUTS
        self.startup_failures = []  # (trial, reason) of the latest trials that failed before their first step
        self.signals = None  # this worker's StopSignals while it runs

    def run(self):
        """Work the study until it has --trials trials; returns (complete, pruned, failed) of this worker."""
        from optuna.trial import TrialState

        self.scratch = scratch_folder("search")
        told = {TrialState.COMPLETE: 0, TrialState.PRUNED: 0, TrialState.FAIL: 0}
        try:
            with StopSignals() as signals, self.report.runs_board(f"study {self.settings.study}",
                                                                   self.settings.trials) as board:
                self.signals = signals
                while True:
                    self.leases.retry_stale(own=self.running)
                    while len(self.running) < self.settings.workers and not signals.received and self.wanted():
                        state = self.start_next()
                        if state is not None:
                            told[state] += 1
                    if signals.received:
                        self.stop_all(signals.received)
                    if not self.running and not self.others_running():
                        break
                    time.sleep(POLL_S)
                    self.leases.renew([job.trial for job in self.running.values()])
                    self.reap(told)
                    self.show_progress(board)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)
        return told[TrialState.COMPLETE], told[TrialState.PRUNED], told[TrialState.FAIL]

    def show_progress(self, board):
        """Each running trial's epoch, and the study's ended trials, on the live board."""
        from optuna.trial import TrialState

        ended = len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))
        board.show({job.label: epochs_of(job.folder) for job in self.running.values() if job.folder}, done=ended)

    def reap(self, told):
        """Go on with each trial whose run's process has ended, or whose run another trial no
        longer trains, counting what the study was told."""
        for number, job in list(self.running.items()):
            if isinstance(job.process, WaitingForRun):
                if RunFolder(job.folder).trainer() is not None:
                    continue
                state = self._after_waiting(self.running.pop(number))
            elif job.process.poll() is not None:
                state = self.finish(self.running.pop(number))
            else:
                continue
            if state is not None:  # None: the trial goes on (its next seed, or its run again)
                told[state] += 1

    def wanted(self):
        """Whether the study wants another trial: fewer than --trials counted, or with the grid
        sampler, a point of the grid that no trial has taken (a point taken twice by workers
        asking at once counts once)."""
        if self.settings.sampler != "grid":
            return counted(self.study) < self.settings.trials
        grid = self.space.grid()
        size = 1
        for values in grid.values():
            size *= len(values)
        return len(taken_points(self.study)) < min(size, self.settings.trials)

    def others_running(self):
        """Whether trials of other workers are running in the study. A worker whose own trials
        are done waits for them: each ends, or its worker is gone and this one retries it."""
        from optuna.trial import TrialState

        others = len(self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
        if others and not self.said_waiting:
            self.said_waiting = True
            self.report.info(f"waiting for {others} trial(s) of other workers; one whose worker is gone is "
                             f"retried here once its {'heartbeat' if self.leases.heartbeat else 'lease'} expires "
                             f"({self.settings.lease_s:g} s)")
        return others > 0

    # -- a trial's life --------------------------------------------------------

    def start_next(self):
        """Ask for a trial and start its first run; returns the state it was told at once (its runs
        already finished, a setting bench train refuses), or None when it is training."""
        from optuna.trial import TrialState

        trial = self._ask()
        self.leases.keep(trial, first=True)  # at once: a worker killed from here on leaves a trial that expires
        drawn = {param.key: draw(trial, param) for param in self.space.params}
        label = f"trial {trial.number}: " + " ".join(f"{key}={_short(value)}" for key, value in drawn.items())
        if self.settings.sampler == "grid" and point_key(drawn) in taken_points(self.study, but=trial.number):
            # another worker took this point at the same moment: not a trial of its own
            self.leases.fail(trial, "its grid point was taken by another trial", retried=True)
            self.report.info(f"{label}: another worker took this grid point; asking for another")
            return None
        points = seed_points(self.space.point(drawn), self.settings.repeats)
        try:
            plans = [plan_run(TrainConfig.from_point(point)) for point in points]
        except BenchError as error:
            return self.tell(trial, TrialState.FAIL, label, reason=str(error))
        trial.set_user_attr(RUN, plans[0].folder)
        trial.set_user_attr(RUNS, [plan.folder for plan in plans])
        job = TrialJob(trial, label, points, plans)
        if not self._start_run(job):
            return self.tell(trial, TrialState.COMPLETE, label, folders=job.folders)
        self.running[trial.number] = job
        self.report.info(f"started {label}")
        return None

    def _ask(self):
        """A new trial, its settings drawn from (--seed, its number) and the study's history."""
        expected = len(self.study.get_trials(deepcopy=False))
        self.study.sampler = self._sampler(expected)  # a grid picks its point as the trial is made
        trial = self.study.ask()
        if trial.number != expected:  # another worker asked meanwhile
            self.study.sampler = self._sampler(trial.number)
        return trial

    def _sampler(self, number):
        settings = self.settings
        return make_sampler(settings.sampler, self.space, settings.seed, settings.trials, number)

    def _start_run(self, job):
        """Start the trial's next unfinished run (its first seed's reports to the study; the
        others train in full); False when all are finished."""
        index = job.next_unfinished()
        if index is None:
            return False
        trial = job.trial
        config_file = self.scratch / f"trial{trial.number}_{index}.yaml"
        config_file.write_text(yaml.safe_dump(job.points[index], sort_keys=False))
        spec = {"storage": self.settings.storage_spec(), "study": self.settings.study,
                "trial_id": optuna_private.trial_id(trial),
                "objective": self.settings.objective, "pruner": self.settings.pruner_spec(self.epochs)}
        # the child's whole output, kept in the study's folder: a failed trial's full story
        output = self.outputs / f"trial{trial.number}_{index}.log"
        output.parent.mkdir(parents=True, exist_ok=True)
        job.index, job.folder, job.output = index, job.plans[index].folder, open(output, "a")
        env = {pruning.TRIAL_VARIABLE: json.dumps(spec)} if index == 0 else {}
        job.process = start_training(config_file, output=job.output, env=env)
        return True

    def finish(self, job):
        """Go on with a trial whose run's process ended: its next seed's run, or tell the study
        that it finished, was pruned, or failed; None while it goes on."""
        from optuna.trial import TrialState

        job.output.close()
        code = job.process.returncode
        if code == RunBusyError.exit_code:  # refused: another trial (the same settings) trains this very run
            job.process = WaitingForRun()
            self.running[job.number] = job
            self.report.info(f"{job.label}: another trial trains its run {job.folder}; waiting for it")
            return None
        try:
            status = RunFolder(job.folder).read_results().get("status")
        except BenchError as error:
            status, damage = None, str(error)
        else:
            damage = None
        if code == 0 and status == "finished":
            job.index += 1
            if self._start_run(job):
                self.running[job.number] = job
                return None
            return self.tell(job.trial, TrialState.COMPLETE, job.label, folders=job.folders)
        if code == 0 and status == "pruned":
            return self.tell(job.trial, TrialState.PRUNED, job.label, folders=job.folders[:1])
        if was_killed(code):
            return self._retry_killed(job, code)
        reason = last_error(job.output.name) or damage or f"exit {code}, no error message"
        state = self.tell(job.trial, TrialState.FAIL, job.label, reason=f"{reason} (output: {job.output.name})")
        self._watch_startup(job, reason)
        return state

    def _watch_startup(self, job, reason):
        """Count the trials that failed before their first step for the same reason in a row;
        at STARTUP_FAILURES, the environment is broken: queue them again (they do not count
        toward --trials) and stop this worker, naming the reason."""
        try:
            started = RunFolder(job.folder).read_results().get("steps", 0) > 0
        except BenchError:
            started = False
        if started or any(reason != seen for _, seen in self.startup_failures):
            self.startup_failures = []
        if started:
            return
        self.startup_failures.append((job.trial, reason))
        if len(self.startup_failures) < STARTUP_FAILURES:
            return
        for trial, _ in self.startup_failures:
            self.leases.queue_again(trial)
        self.stop_running()
        raise BenchError(f"{STARTUP_FAILURES} trials in a row failed before their first step, each with: {reason}. "
                         "This looks like the environment, not the settings (a file in this folder shadowing a "
                         "library, a missing package, a plugin that fails to load): fix it and run the same command "
                         f"again; those trials are queued again (their output: {self.outputs})")

    def _retry_killed(self, job, code):
        """A trial's process was killed (a signal it did not cause: the OOM killer, kill -9, a
        SIGTERM): queue its settings again, to resume from its run's checkpoint, up to
        --max-retries times; None when it was queued again, else the FAIL told."""
        from optuna.trial import TrialState

        trial, how = job.trial, death_words(code)
        if self.signals is not None and self.signals.received and killing_signal(code) in (signal.SIGINT, signal.SIGTERM):
            # a Ctrl-C at the terminal reaches the trials too: the user's stop, not a death to count
            if self.leases.fail(trial, "stopped by a signal; queued again", retried=True):
                self.leases.queue_again(trial, attempt=False)
            return None
        attempt = trial.user_attrs.get(ATTEMPT, 0)
        if attempt >= self.settings.max_retries:
            return self.tell(trial, TrialState.FAIL, job.label,
                             reason=f"its training process {how}, and it was tried {attempt + 1} times "
                                    f"(--max-retries {self.settings.max_retries})")
        if self.leases.fail(trial, f"its training process {how}; queued again", retried=True):
            self.leases.queue_again(trial)
            self.report.warning(f"{job.label}: its training process {how}; queued again (retry {attempt + 1} of "
                                f"{self.settings.max_retries}), to resume from {job.folder}")
        return None

    def _after_waiting(self, job):
        """The run a trial waited for is free: plan it again (the other trial may have finished
        it) and go on, or tell the study the trial finished."""
        from optuna.trial import TrialState

        job.plans[job.index] = plan_run(TrainConfig.from_point(job.points[job.index]))
        if self._start_run(job):
            self.running[job.number] = job
            return None
        return self.tell(job.trial, TrialState.COMPLETE, job.label, folders=job.folders)

    def tell(self, trial, state, label, folders=(), reason=None):
        """Record a trial's end in the study, and say it; returns the state. A finished trial's
        value is the mean of its runs' objective (their spread is kept with it)."""
        from optuna.trial import TrialState

        value = None
        if folders:
            results = [RunFolder(folder).read_results() for folder in folders]
            trial.set_user_attr(EPOCHS, sum(result.get("epochs_done") or 0 for result in results))
            values = [pruning.objective_value(result, self.settings.objective) for result in results]
            trial.set_user_attr(RUN_STATES, [run_state(folder, result, self.settings.objective)
                                             for folder, result in zip(folders, results)])
            if state == TrialState.COMPLETE and None in values:
                state, reason = TrialState.FAIL, f"{folders[values.index(None)]} has no {self.settings.objective}"
            elif state == TrialState.COMPLETE:
                value = statistics.mean(values)
                if len(values) > 1:
                    trial.set_user_attr(STD, statistics.stdev(values))
        if reason is not None:
            trial.set_user_attr(REASON, reason)
        try:
            self.study.tell(trial, value, state=state)
        except (RuntimeError, ValueError) as error:  # another worker failed it as stale: its retry counts
            self.report.warning(f"{label}: already ended in the study ({error})")
            return state
        if state in (TrialState.COMPLETE, TrialState.PRUNED):
            self.startup_failures = []
        if state == TrialState.COMPLETE:
            over = f" (mean of {len(folders)} seeds)" if len(folders) > 1 else ""
            name = self.settings.objective.replace("_", " ")
            self.report.info(f"finished {label}: {name} {value:.5f}{over} → {folders[0]}")
        elif state == TrialState.PRUNED:
            self.report.info(f"pruned {label} after {trial.user_attrs.get(EPOCHS, '?')} epoch(s) → {folders[0]}")
        else:
            self.report.warning(f"FAILED {label}: {reason}")
        return state

    # -- signals ---------------------------------------------------------------

    def stop_all(self, signum):
        """Pass a signal on to the running trials (each saves its checkpoint), queue their settings
        again, and stop the search."""
        stopped = self.stop_running(signum)
        raise TrainingStopped(f"{signal.Signals(signum).name} received: stopped the search; its {stopped} running "
                              "trial(s) saved their checkpoints and are queued again. Run the same command to "
                              "resume", exit_code=128 + signum)

    def stop_running(self, signum=signal.SIGTERM):
        """Stop this worker's running trials with `signum` (each saves its checkpoint) and queue
        their settings again; returns how many there were."""
        for job in self.running.values():
            if job.process.poll() is None:
                job.process.send_signal(signum)
        for job in self.running.values():
            job.process.wait()
            job.output.close()
            if self.leases.fail(job.trial, "stopped by a signal; queued again", retried=True):
                self.leases.queue_again(job.trial, attempt=False)
        stopped = len(self.running)
        self.running = {}
        return stopped


def _short(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)
