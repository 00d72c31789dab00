"""Training a search's confirmation runs (bench.study.confirmation chooses them): each an
ordinary `bench train` run in a process of its own, --workers at a time, as trials are.

Kill-safe and resumable as trials are: a finished run is read, not trained; a run that
another worker trains (its run lock is held) is waited for; a process killed by a signal
it did not cause is started again from its checkpoint, up to --max-retries times; Ctrl-C
or SIGTERM stops every running process at a checkpoint, and the same command resumes.
Several workers of one study confirm together: the run lock keeps one writer per run.
"""

import signal
import time
from dataclasses import dataclass, field

import yaml

from bench.errors import BenchError, RunBusyError, TrainingStopped
from bench.run.runs import RunFolder
from bench.study.processes import last_error, start_training, was_killed
from bench.study.progress import epochs_of

POLL_S = 0.5


@dataclass
class ConfirmationRun:
    """One run to confirm: its label, its point ({option: value}) and its plan."""

    label: str
    point: dict
    plan: object
    attempts: int = 0
    process: object = None
    output: object = None
    waiting: bool = False
    started: float = field(default_factory=time.time)


def train_confirmation(runs, settings, outputs, scratch, report, replan):
    """Train the unfinished runs of `runs` ([(label, point, plan)]), settings.workers at a time.

    Args:
        outputs: the folder of each process's whole output (confirm_<label>.log).
        scratch: a folder for the runs' config files.
        replan: {point → its Plan now} (a run another worker trained meanwhile is finished).

    Returns:
        [(label, reason)] of the runs that failed.
    """
    from bench.signals import StopSignals

    pending = [ConfirmationRun(label, point, plan) for label, point, plan in runs if not plan.finished]
    report.info(f"confirmation: {len(pending)} of {len(runs)} run(s) to train, {settings.workers} at a time")
    running, failed = [], []
    total = len(pending)
    with StopSignals() as signals, report.runs_board("confirmation", total) as board:
        while pending or running:
            while pending and len(running) < settings.workers and not signals.received:
                run = pending.pop(0)
                _start(run, outputs, scratch)
                running.append(run)
            time.sleep(POLL_S)
            if signals.received:
                _stop(running, signals.received)
            for run in [run for run in running if _ended(run)]:
                running.remove(run)
                _after(run, settings, report, replan, (pending, running), failed, signals)
            board.show({run.label: epochs_of(run.plan.folder) for run in running}, done=total - len(pending) - len(running))
    return failed


def _start(run, outputs, scratch):
    config_file = scratch / f"{_file_name(run.label)}.yaml"
    config_file.write_text(yaml.safe_dump(run.point, sort_keys=False))
    outputs.mkdir(parents=True, exist_ok=True)
    run.output = open(outputs / f"{_file_name(run.label)}.log", "a")
    run.process, run.waiting, run.started = start_training(config_file, output=run.output), False, time.time()


def _file_name(label):
    return label.replace("confirming trial ", "confirm_trial").replace(", seed ", "_seed")


def _ended(run):
    if run.waiting:  # another worker's process trains this run: free once its lock is
        return RunFolder(run.plan.folder).trainer() is None
    return run.process.poll() is not None


def _after(run, settings, report, replan, queues, failed, signals):
    """Go on with a run whose process ended (or whose run another process no longer trains):
    done, waited for, started again, or failed."""
    pending, running = queues
    if run.waiting:  # the other worker is done with it: finished, or to go on here
        run.plan = replan(run.point)
        if not run.plan.finished:
            pending.insert(0, run)
        return
    run.output.close()
    code = run.process.returncode
    if code == RunBusyError.exit_code:  # another worker trains this very run
        report.info(f"{run.label}: another worker trains its run {run.plan.folder}; waiting for it")
        run.waiting = True
        running.append(run)
        return
    try:
        status = RunFolder(run.plan.folder).read_results().get("status")
    except BenchError as error:
        status, damage = None, str(error)
    else:
        damage = None
    if code == 0 and status == "finished":
        report.info(f"confirmed: {run.label} in {time.time() - run.started:.0f} s → {run.plan.folder}")
        return
    if was_killed(code) and not signals.received and run.attempts < settings.max_retries:
        run.attempts += 1
        report.warning(f"{run.label}: its training process was killed (exit {code}); started again from its "
                       f"checkpoint (retry {run.attempts} of {settings.max_retries})")
        pending.insert(0, run)
        return
    reason = last_error(run.output.name) or damage or f"exit {code}, no error message"
    report.warning(f"FAILED {run.label}: {reason} (output: {run.output.name})")
    failed.append((run.label, reason))


def _stop(running, signum):
    """Pass the signal on (each process saves its checkpoint), wait for them, and stop."""
    for run in running:
        if not run.waiting and run.process.poll() is None:
            run.process.send_signal(signum)
    for run in running:
        if not run.waiting:
            run.process.wait()
            run.output.close()
    raise TrainingStopped(f"{signal.Signals(signum).name} received: stopped the confirmation; its {len(running)} "
                          "running training(s) saved their checkpoints. Run the same command to resume",
                          exit_code=128 + signum)


def confirm(study, space, settings, report):
    """Confirm the study's best trials (settings.confirm of them, settings.confirm_repeats seeds
    each), say the figures, and return them (bench.study.confirmation.confirmation_figures).

    Raises:
        BenchError: some confirmation run failed (the others are kept; the same command
            trains it again).
    """
    import shutil

    from bench.files import scratch_folder
    from bench.run.config import TrainConfig
    from bench.run.planning import plan_run
    from bench.study.confirmation import confirmation_figures, confirmation_lines, plan_confirmation
    from bench.study.study import OUTPUTS, study_folder

    def replan(point):
        return plan_run(TrainConfig.from_point(point))

    record, runs = plan_confirmation(study, space, settings, replan)
    if not record["candidates"]:
        report.warning("confirmation: no trial of the study finished, so there is nothing to confirm")
        return None
    scratch = scratch_folder("confirm")
    try:
        failed = train_confirmation(runs, settings, study_folder(settings.log_dir, settings.study) / OUTPUTS,
                                    scratch, report, replan)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    figures = confirmation_figures(record, settings.objective)
    for line in confirmation_lines(figures):
        report.info(line)
    if failed:
        raise BenchError(f"{len(failed)} confirmation run(s) failed ({failed[0][0]}: {failed[0][1]}); fix it and "
                         "run the same command again: the finished runs are kept")
    return figures
