"""What a training records in its run's results.json: each named record
(bench.run.results) with where training stands, under the run folder's lock."""

from bench.run.results import progress


class Recorder:
    """The results.json records of one training.

    Args:
        run: the RunFolder.
        config: the run's TrainConfig.
        state: its bench.run.state.LoopState (where training stands).
        step: its bench.run.step.TrainStep (how many times the step was traced).

    Attributes:
        epoch_speed: training images/s of the last epoch (None before one).
        seconds_to_first_step: from the process's start to its first step's end (None before).
    """

    def __init__(self, run, config, state, step):
        self.run, self.config, self.state, self.step = run, config, state, step
        self.epoch_speed = None
        self.seconds_to_first_step = None

    def record(self, status, update=None):
        """Apply a named record (bench.run.results.epoch_done, ...) to results.json with
        where training stands ("running", "interrupted", "diverged", "finished");
        returns the new results."""
        state = self.state
        facts = dict(epochs_done=state.value("epochs_done"), epochs_planned=self.config.epochs,
                     best_epoch=state.value("best_epoch"), steps=state.value("step"),
                     train_images_per_second=round(self.epoch_speed, 1) if self.epoch_speed else None,
                     # One trace serves every epoch; more would mean recompiling the step (tests check it).
                     train_step_traces=self.step.traces(),
                     # this process's start-up: import, data, model, tracing
                     seconds_to_first_step=(round(self.seconds_to_first_step, 2)
                                            if self.seconds_to_first_step is not None else None))
        return self.run.update_results(lambda results: progress(update(results) if update else results,
                                                                status, **facts))
