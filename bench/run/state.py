"""Where a run's training stands, and its checkpoints.

The loop's state (step, epochs done, the best validation error and its epoch) lives in
TensorFlow variables saved with every model variable, the optimizer and the epoch's
running error sums in `checkpoints/` after every epoch (and at a signal); the best model's
weights, with the epoch and step they were saved at, go to `best/`. Every restore is
strict (bench.model.checkpoints).
"""

import math

import tensorflow as tf

from bench.model import checkpoints
from bench.model.kept import KeptCheckpoint
from bench.run.runs import BEST, CHECKPOINTS


class LoopState:
    """The training loop's state and checkpoints of one run.

    Args:
        run: the RunFolder whose checkpoints/ and best/ it writes.
        model, optimizer: the model and its optimizer (built under `strategy`).
        step: the run's bench.run.step.TrainStep (its epoch sums are saved too).
        strategy: the tf.distribute strategy the variables are made under.
    """

    def __init__(self, run, model, optimizer, step, strategy):
        self.run, self.step = run, step
        with strategy.scope():
            self.variables = {
                "step": tf.Variable(0, dtype=tf.int64, trainable=False),
                "epochs_done": tf.Variable(0, dtype=tf.int64, trainable=False),
                "best_error": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
                "best_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            }
            # Where the best checkpoint was saved, saved with it (its provenance).
            self.best_marks = {"epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                               "step": tf.Variable(0, dtype=tf.int64, trainable=False)}
        # Every variable of the model, by where it is held (bench.model.checkpoints).
        self.weights, model_state = checkpoints.model_groups(model)
        loop = dict({checkpoints.WEIGHTS: self.weights, checkpoints.RNG: model_state}, optimizer=optimizer,
                    **self.variables)
        for folder in (CHECKPOINTS, BEST):  # a garbled index is named here: the managers would read it blind
            checkpoints.latest(run.sub(folder))
        checkpoint = tf.train.Checkpoint(**loop, **step.epoch_sums())
        # The layout of checkpoints written before the epoch's error sums were kept (restored strictly as such).
        self.without_sums = tf.train.Checkpoint(**loop)
        # One checkpoint kept in each folder; an older one a reader holds goes at the next save.
        self.latest = KeptCheckpoint(checkpoint, run.sub(CHECKPOINTS))
        best = tf.train.Checkpoint(**{checkpoints.WEIGHTS: self.weights}, **self.best_marks)
        self.best = KeptCheckpoint(best, run.sub(BEST))

    def value(self, name):
        """A loop-state counter as a Python int (on any number of replicas: a mirrored
        variable reads as its one value)."""
        return int(self.variables[name].numpy())

    def best_saved_at(self):
        """(epoch, step) the best checkpoint was saved at."""
        return int(self.best_marks["epoch"].numpy()), int(self.best_marks["step"].numpy())

    def restore(self, resume_from, report, chief=True):
        """Load the latest checkpoint of `resume_from`, strictly, if it has one.

        Raises:
            CheckpointError: a damaged index or file, a checkpoint of other
                variables, or a best checkpoint missing where the state says there is one.
        """
        path = checkpoints.latest(resume_from.sub(CHECKPOINTS))
        if path is None:
            trained = resume_from.read_results().get("epochs_done", 0) if chief else 0
            if trained:  # its history would be trained over from scratch
                raise checkpoints.CheckpointError(
                    f"{resume_from.sub(CHECKPOINTS)} holds no checkpoint, but {resume_from.path} has trained "
                    f"{trained} epoch(s); {checkpoints.RESTART_HINT}")
            return
        with_sums = checkpoints.holds(path, next(iter(self.step.epoch_sums())))
        checkpoints.restore(self.latest.checkpoint if with_sums else self.without_sums, path, self.weights)
        if not chief:
            return
        if not with_sums and self.value("step") % self.step.steps_per_epoch:
            report.warning(f"{path} was saved in the middle of an epoch by an earlier bench, which did not keep "
                           "the epoch's error sum: that epoch's train error will be the mean of the steps "
                           "trained after resuming")
        best_epoch, best_path = self.value("best_epoch"), checkpoints.latest(self.run.sub(BEST))
        if best_epoch and best_path is None:
            raise checkpoints.CheckpointError(
                f"{self.run.sub(BEST)} holds no checkpoint, but {path} says epoch {best_epoch} was the best; "
                f"{checkpoints.RESTART_HINT}")
        if best_path is not None:  # read now, not at the end of hours of training
            checkpoints.verify(best_path, self.weights)

    def epoch_ended(self, epoch, step, validation_error):
        """Epoch `epoch` (from 0) ended at `step` with this validation error: keep the model in
        best/ when it is the best so far (returns whether it is)."""
        improved = validation_error < float(self.variables["best_error"].numpy())
        if improved:
            self.variables["best_error"].assign(validation_error)
            self.variables["best_epoch"].assign(epoch + 1)
            self.best_marks["epoch"].assign(epoch + 1)
            self.best_marks["step"].assign(step)
            self.best.save(checkpoint_number=epoch + 1)
        self.variables["epochs_done"].assign(epoch + 1)
        return improved

    def save(self, step):
        """The state at `step` to checkpoints/ (the end of an epoch, or where a signal stopped it)."""
        self.variables["step"].assign(step)
        self.latest.save(checkpoint_number=step)

    def restore_best(self):
        """Load the best checkpoint's weights into the model, strictly."""
        path = checkpoints.latest(self.run.sub(BEST))
        if path is None:
            raise checkpoints.CheckpointError(f"{self.run.path} has no best checkpoint; run with --restart")
        checkpoints.restore(self.best.checkpoint, path, self.weights)

    def trained_to(self, step):
        """The loop has trained up to `step` (saved by the next `save`)."""
        self.variables["step"].assign(step)
