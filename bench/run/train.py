"""The training loop behind `bench train`: a run prepared, its state restored, its
epochs trained, its checkpoints kept, and how it stops.

Validation after every epoch, the latest state saved after every epoch (so a
killed process loses at most the epoch in progress), the best model on
validation kept apart, and its validation and test metrics written to
results.txt at the end. The compiled step is bench.run.step's; the pictures and
the projector at the end are bench.run.ending's.
"""

import contextlib
import math
import shutil
import signal
import time

import keras
import tensorflow as tf

import bench
from bench import files
from bench.data import datasets, pipeline
from bench.data import splits as split_forms
from bench.errors import BenchError, BenchUsageError, TrainingStopped
from bench.model import building, checkpoints
from bench.run import cluster, compute, ending, fingerprint, loading, optimizers, runs, summaries
from bench.run.evaluate import Evaluator
from bench.run.runs import BEST, CHECKPOINTS, CONFIG_FILE, DATA_FILES, LOG_FILE, RunFolder, measured
from bench.run.step import TrainStep
from bench.signals import StopSignals

PROGRESS_EVERY_S = 0.2
# How a multi-worker step fails when a peer is gone (refused, timed out, aborted by the coordination service).
PEER_FAULTS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError, tf.errors.AbortedError,
               tf.errors.CancelledError)
ACTIVATION_IMAGES = 8


def run_training(config, restart, report):
    """Check the configuration, prepare the run folder and train; returns the results dict
    (None in a multi-worker run's non-chief workers, which write nothing)."""
    config.check()
    strategy = compute.make_strategy(config.strategy, config.devices)  # before TensorFlow runs anything
    compute.set_precision(config.precision)
    config, model_spec, dataset_spec = loading.resolve_config(config)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size < replicas:
        raise BenchUsageError(f"--batch-size {config.batch_size} is smaller than the {replicas} replicas; "
                              "it is the global batch, split across them")
    run = RunFolder.for_config(config)
    chief = compute.is_chief(strategy)
    if chief:
        run.check_untrained_now()  # at once, not after loading the data (run.lock() is what holds it)
        run.check_can_hold(config, restart)
    keras.utils.set_random_seed(config.seed)
    with compute.device_scope(config.device):
        dataset, splits = datasets.load_data(dataset_spec, config.data_dir, report, **loading.data_options(config))
        with datasets.damaged_files_named(splits, report):
            return _train(config, restart, report, strategy, run, chief, model_spec, dataset, splits)


def _train(config, restart, report, strategy, run, chief, model_spec, dataset, splits):
    """Build the model and train as the chief or as another worker (the device is placed)."""
    with strategy.scope():  # the variables are made once per replica; what follows runs without the scope
        model = building.build_model(model_spec, dataset.image_shape, config.l2_penalty, config.model_args)
    cache = compute.scratch_folder("cache") if config.cache == "disk" else None
    try:
        splits = {name: split_forms.cached(split, config.cache, cache) for name, split in splits.items()}
        if not chief:  # writes where nobody reads; resumes from the chief's checkpoints
            return _train_as_worker(config, run, dataset, splits, model, report, strategy)
        trainer = Trainer(config, run, dataset, splits, model, report, strategy)  # traces the step; writes nothing
        with run.lock():  # one process trains a run; the lock dies with the process
            return _train_as_chief(trainer, config, restart, run, model_spec, model, report)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def _train_as_chief(trainer, config, restart, run, model_spec, model, report):
    changed = None
    if not restart and run.path.is_dir():  # everything is checked before anything is written
        changed = runs.check_same_data(run, run.read_results(), trainer.dataset, resuming=True)
        fingerprint.check(run, model, trainer.weights, report)
        trainer.restore()
        trainer.check_length()
    resuming = run.prepare(config, restart)
    if fingerprint.read(run) is None:
        fingerprint.record(run, model_spec, model, trainer.weights)
    if changed:
        report.info(changed)
    _record_data(run, trainer.dataset, trainer.splits)
    report.attach_log(run.sub(LOG_FILE))
    try:
        replicas = trainer.strategy.num_replicas_in_sync
        report.info(f"{'resuming' if resuming else 'starting'} {run.path}"
                    + (f" on {replicas} replicas ({config.strategy})" if replicas > 1 else ""))
        return trainer.fit()
    finally:
        report.detach_log()


def _record_data(run, dataset, splits):
    """The images each split had, and an image folder's listing, in the run (rewritten only when
    they changed: a finished run started again stays byte for byte as it was)."""
    listing = getattr(dataset, "listing", None)
    if listing is not None:
        text = runs.listing_text(listing)
        if not run.sub(DATA_FILES).is_file() or run.sub(DATA_FILES).read_bytes() != text.encode("utf-8", "surrogateescape"):
            files.atomic_write_text(run.sub(DATA_FILES), text)
    images = {name: len(split) for name, split in splits.items()}
    if runs.data_used({}, images, dataset)["data"] != run.read_results().get("data"):
        run.update_results(lambda results: runs.data_used(results, images, dataset))


def _train_as_worker(config, run, dataset, splits, model, report, strategy):
    scratch = RunFolder(compute.scratch_folder())
    try:
        report.info(f"worker {strategy.cluster_resolver.task_id}: training {run.path} with the chief")
        trainer = Trainer(config, scratch, dataset, splits, model, report, strategy, chief=False, resume_from=run)
        trainer.restore()
        trainer.fit()
        report.info("done; the chief writes the results")
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


class Trainer:
    """Trains one run from wherever its checkpoint left it.

    Args:
        run: the RunFolder it writes to.
        strategy: the tf.distribute strategy the model was built under (None:
            the default, one device); `config.batch_size` is the global batch.
            The Trainer makes its own variables under it; its other work runs
            outside the scope, so that what it makes after training (the
            projector's variable) stays local to the chief.
        chief: False in a multi-worker run's other workers: they train along,
            write only to a scratch `run`, and record nothing.
        resume_from: the RunFolder whose latest checkpoint it starts from
            (default: `run`; the other workers read the chief's).
    """

    def __init__(self, config, run, dataset, splits, model, report, strategy=None, chief=True, resume_from=None):
        self.config, self.run, self.model, self.report = config, run, model, report
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief, self.resume_from = chief, resume_from or run
        self.dataset, self.splits = dataset, splits
        train_images = splits["train"]
        self.validation_images = splits["validation"]
        self.test_images = splits["test"]
        replicas = self.strategy.num_replicas_in_sync
        steps_per_epoch = pipeline.steps_per_epoch(len(train_images), config.batch_size, replicas)
        with self.strategy.scope():
            optimizer = optimizers.build(config.optimizer, config.optimizer_args, steps_per_epoch,
                                         config.lr_decay, config.lr_decay_epochs, config.lr_decay_factor)
            self.optimizer = compute.loss_scaled(optimizer, config.precision)
            self.optimizer.build(model.trainable_variables)
            self.state = {
                "step": tf.Variable(0, dtype=tf.int64, trainable=False),
                "epochs_done": tf.Variable(0, dtype=tf.int64, trainable=False),
                "best_error": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
                "best_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
            }
            # Where the best checkpoint was saved, saved with it (its provenance).
            self.best_marks = {"epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                               "step": tf.Variable(0, dtype=tf.int64, trainable=False)}
        self.step = TrainStep(config, model, self.optimizer, self.strategy, train_images)
        # Every variable of the model, by where it is held (bench.model.checkpoints).
        self.weights, model_state = checkpoints.model_groups(model)
        loop = dict({checkpoints.WEIGHTS: self.weights, checkpoints.RNG: model_state}, optimizer=self.optimizer,
                    **self.state)
        for folder in (CHECKPOINTS, BEST):  # a garbled index is named here: the managers would read it blind
            checkpoints.latest(run.sub(folder))
        checkpoint = tf.train.Checkpoint(**loop, **self.step.epoch_sums())
        # The layout of checkpoints written before the epoch's error sums were kept (restored strictly as such).
        self.without_sums = tf.train.Checkpoint(**loop)
        self.latest = tf.train.CheckpointManager(checkpoint, str(run.sub(CHECKPOINTS)), max_to_keep=1)
        best = tf.train.Checkpoint(**{checkpoints.WEIGHTS: self.weights}, **self.best_marks)
        self.best = tf.train.CheckpointManager(best, str(run.sub(BEST)), max_to_keep=1)
        self.evaluator = Evaluator(model)
        self.noisy_evaluator = Evaluator(model, config.noise_factor) if config.noise_factor else None
        self.grid_images = tf.convert_to_tensor(self.validation_images.first(ending.GRID_IMAGES)[0])
        self.activation_images = model.own_pixels(
            pipeline.to_bench_range(self.grid_images[:ACTIVATION_IMAGES], model.input_size))
        self.seconds_to_first_step = None
        self.epoch_speed = None
        self.writers = None  # open_writers(), from fit(): nothing is written before the state is restored

    # -- the loop ---------------------------------------------------------

    def restore(self):
        """Load the latest checkpoint of `resume_from`, strictly, if it has one.

        Raises:
            CheckpointError: a damaged index or file, a checkpoint of other
                variables, or a best checkpoint missing where the state says there is one.
        """
        path = checkpoints.latest(self.resume_from.sub(CHECKPOINTS))
        if path is None:
            return
        with_sums = checkpoints.holds(path, next(iter(self.step.epoch_sums())))
        checkpoints.restore(self.latest.checkpoint if with_sums else self.without_sums, path, self.weights)
        if not self.chief:
            return
        if not with_sums and self._state("step") % self.step.steps_per_epoch:
            self.report.warning(f"{path} was saved in the middle of an epoch by an earlier bench, which did not keep "
                                "the epoch's error sum: that epoch's train error will be the mean of the steps "
                                "trained after resuming")
        best_epoch, best_path = self._state("best_epoch"), checkpoints.latest(self.run.sub(BEST))
        if best_epoch and best_path is None:
            raise checkpoints.CheckpointError(
                f"{self.run.sub(BEST)} holds no checkpoint, but {path} says epoch {best_epoch} was the best; "
                f"{checkpoints.RESTART_HINT}")
        if best_path is not None:  # read now, not at the end of hours of training
            checkpoints.verify(best_path, self.weights)

    def check_length(self):
        """Refuse to count a run that has trained more epochs than asked as done (its numbers
        are those of its own length), before anything is written."""
        trained = self._state("epochs_done")
        if trained > self.config.epochs:
            raise BenchUsageError(
                f"{self.run.path} has trained {trained} epochs, more than --epochs {self.config.epochs}: its numbers "
                f"are those of {trained} epochs. Ask for --epochs {trained} (or more, to continue it), train a "
                f"{self.config.epochs}-epoch run apart with --comment, or start over with --restart")

    def open_writers(self):
        """Start the run's TensorBoard event files (after the state is restored: nothing is
        written to a run whose state cannot be read)."""
        self.writers = summaries.RunWriters(self.run)

    def fit(self):
        """Train until config.epochs are done, then end the run; returns the results dict."""
        self.open_writers()
        try:
            epochs_done = self._state("epochs_done")
            if epochs_done >= self.config.epochs:
                self.report.info(f"{self.resume_from.path} has already trained {epochs_done} epochs "
                                 f"(--epochs {self.config.epochs}); pass more --epochs to continue")
            elif epochs_done or self._state("step"):
                self.report.info(f"resuming at epoch {epochs_done + 1} (step {self._state('step')})")
            elif self.chief:
                summaries.write_experiment_config(self.config.log_dir)
                self.writers.hparams(self.config, trial=f"{self.config.model}/{self.run.path.name}")
            with StopSignals() as signals, self._stops_recorded():
                for epoch in range(epochs_done, self.config.epochs):
                    with self._peers_watched(epoch):
                        self.train_epoch(epoch, signals)
                        self.end_epoch(epoch)
                return self.finish(signals) if self.chief else None
        finally:
            self.writers.close()

    def train_epoch(self, epoch, signals):
        """Run the remaining steps of `epoch`; on a signal, save and stop."""
        step, steps_per_epoch = self._state("step"), self.step.steps_per_epoch
        first = step - epoch * steps_per_epoch
        started, last_shown, outputs = time.perf_counter(), 0.0, None
        if first == 0:  # a resumed epoch goes on summing where it was stopped (the sums are in the checkpoint)
            self.step.start_epoch()
        every = self.config.summary_every
        with self.report.epoch(f"epoch {epoch + 1}/{self.config.epochs}", steps_per_epoch) as show:
            for steps, outputs in self.step.calls(epoch, first):
                step += steps
                if self.seconds_to_first_step is None:
                    float(outputs["loss"])  # the step has run, not only been dispatched
                    self.seconds_to_first_step = time.perf_counter() - bench.STARTED
                if step // every > (step - steps) // every:
                    self._log_step(step, outputs)
                now = time.perf_counter()
                if now - last_shown > PROGRESS_EVERY_S:
                    last_shown = now
                    loss = self._checked_loss(outputs, epoch, step)
                    in_epoch = step - epoch * steps_per_epoch
                    seen = self.images_before(in_epoch) - self.images_before(first)
                    show(in_epoch, f"loss {loss:.5f}  {seen / (now - started):,.0f} img/s")
                if signals.received:
                    self._stop_on_signal(signals.received, epoch, step, outputs)
        self.state["step"].assign(step)
        seen = self.images_before(steps_per_epoch) - self.images_before(first)
        self.epoch_speed = seen / max(time.perf_counter() - started, 1e-9)
        if outputs is not None:
            self._checked_loss(outputs, epoch, step)
            self._log_step(step, outputs)

    def end_epoch(self, epoch):
        """Validate, keep the best model, save the latest state, log, report."""
        step = self._state("step")
        validation = self.evaluator.measure(self.validation_images, self.config.batch_size)
        improved = validation["error"] < float(self.state["best_error"].numpy())
        if improved:
            self.state["best_error"].assign(validation["error"])
            self.state["best_epoch"].assign(epoch + 1)
            self.best_marks["epoch"].assign(epoch + 1)
            self.best_marks["step"].assign(step)
            self.best.save(checkpoint_number=epoch + 1)
        self.state["epochs_done"].assign(epoch + 1)
        self._write_epoch_summaries(step, validation)
        train_error = self.step.epoch_train_error()
        self.writers.scalars(self.writers.train, step, {"epoch_error": train_error})
        entry = {"epoch": epoch + 1, "step": step, "train_error": train_error,
                 "validation_error": validation["error"],
                 "elapsed_s": round(time.perf_counter() - bench.STARTED, 2)}
        best_validation = dict(validation, **measured("best", epoch + 1, step, "validation")) if improved else None
        # The record before the checkpoint: a process killed between the two retrains this
        # epoch from the previous checkpoint (the same batches, the same numbers) and its
        # record is replaced; the other order could lose a checkpointed epoch's record.
        self._record("running", lambda results: runs.epoch_done(results, entry, best_validation))
        self.latest.save(checkpoint_number=step)
        self.report.info(
            f"epoch {epoch + 1}/{self.config.epochs}  train error {train_error:.5f}  "
            f"validation error {validation['error']:.5f}{' (best)' if improved else ''}  "
            f"mse {validation['mse']:.5f}  psnr {validation['psnr']:.2f} dB  {self.epoch_speed:,.0f} img/s")

    def finish(self, signals):
        """The ending: measure the best model on validation and test, save the pictures
        and the projector, record the final metrics (last: until then the next start
        does the ending again), and show the results. A finished run makes only what is
        missing of its ending, and shows the results it has."""
        results = self.run.read_results()
        epochs_done = self._state("epochs_done")
        finished = (results.get("status") == "finished" and results.get("epochs_done") == epochs_done
                    and "test" in results.get("best", {}))
        pieces = ending.missing(self.run) if finished else ending.PIECES
        if finished and not pieces:
            ending.show_results(self.report, self.run, self.config, results)
            return results
        self._stop_if_signalled(signals, "before the end of the run")
        self._restore_best()
        if not finished:
            validation, test = self._measure_best()
            results = runs.final_metrics(results, validation, test)
            self.writers.final_metrics(self._state("step"), validation, test)
        for piece in pieces:
            self._stop_if_signalled(signals, f"before the {piece} of the best model")
            if piece == "pictures":
                ending.save_pictures(self.run, self.config, self.model, self.evaluator, self.noisy_evaluator,
                                     self.test_images, results)
            else:
                ending.save_projector(self.run, self.config, self.model, self.dataset, self.splits["test"])
        if not finished:
            results = self._record("finished", lambda saved: runs.final_metrics(saved, validation, test))
        ending.show_results(self.report, self.run, self.config, results)
        return results

    # -- helpers of the loop ------------------------------------------------

    def _state(self, name):
        """A loop-state counter as a Python int (on any number of replicas: a mirrored
        variable reads as its one value)."""
        return int(self.state[name].numpy())

    def images_before(self, step_in_epoch):
        """How many training images an epoch's first `step_in_epoch` steps see."""
        return min(step_in_epoch * self.config.batch_size, len(self.step.train_images))

    def _log_step(self, step, outputs):
        values = {tag: float(value) for tag, value in outputs.items()}
        values["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.writers.scalars(self.writers.train, step, values)
        self.writers.activations(step, self.model, self.activation_images)

    def _write_epoch_summaries(self, step, validation):
        """The epoch's TensorBoard summaries: validation metrics, weights, reconstructions, feature maps."""
        self.writers.scalars(self.writers.validation, step, validation)
        self.writers.weights(step, self.model)
        inputs, reconstructions = self.evaluator.reconstruct(self.grid_images)
        columns = [inputs]
        if self.noisy_evaluator is not None:
            noisy, reconstructions = self.noisy_evaluator.reconstruct(self.grid_images)
            columns.append(noisy)
        self.writers.reconstructions(step, columns + [reconstructions])
        self.writers.filters_and_feature_maps(step, self.model, self.model.own_pixels(inputs[:1]))
        self.writers.flush()

    def _checked_loss(self, outputs, epoch, step):
        loss = float(outputs["loss"])
        if not math.isfinite(loss):
            kept = self._state("epochs_done")
            self._record("diverged")
            raise TrainingStopped(
                f"the loss became {loss} at epoch {epoch + 1}, step {step}: training stopped; the last good "
                f"checkpoint (after epoch {kept}) is kept. Lower the learning rate (--optimizer-args) "
                "and run again with --restart")
        return loss

    def _stop_on_signal(self, signum, epoch, step, outputs):
        self._checked_loss(outputs, epoch, step)
        self.state["step"].assign(step)
        self.latest.save(checkpoint_number=step)
        self._record("interrupted")
        raise self._stopped(signum, f"in epoch {epoch + 1} at step {step} and saved a checkpoint")

    @contextlib.contextmanager
    def _stops_recorded(self):
        """Whatever stops training without saying so itself (an image that cannot be decoded,
        a full disk, a plugin that raises) leaves the run "interrupted", not "running", when
        results.json can still be written (when it cannot, `RunFolder.trainer` tells readers
        that no process trains the run)."""
        try:
            yield
        except TrainingStopped:
            raise
        except Exception:
            if self.chief:
                with contextlib.suppress(OSError, BenchError, tf.errors.OpError):  # the error raised says why
                    self._record("interrupted")
            raise

    @contextlib.contextmanager
    def _peers_watched(self, epoch):
        """In a multi-worker run, a lost peer (its collectives fail) is one line naming it."""
        try:
            yield
        except PEER_FAULTS as error:
            if self.config.strategy != "multi-worker":
                raise
            if self.chief:
                self._record("interrupted")
            latest = checkpoints.latest(self.resume_from.sub(CHECKPOINTS))
            kept = f"the latest checkpoint ({latest}) is kept" if latest else "no checkpoint had been saved yet"
            raise TrainingStopped(
                f"{cluster.lost_peers_line(cluster.read_tf_config())} in epoch {epoch + 1}: training stopped; "
                f"{kept}. Start every worker again with the same command to resume") from error

    def _stop_if_signalled(self, signals, where):
        """In the ending, between its pieces: stop on a signal (the checkpoints are all saved)."""
        if signals.received:
            self._record("interrupted")
            raise self._stopped(signals.received, f"{where}; the checkpoints are saved")

    def _stopped(self, signum, what):
        return TrainingStopped(
            f"{signal.Signals(signum).name} received: stopped {what}. "
            f"Resume with the same command, or: bench train --config {self.run.sub(CONFIG_FILE)}",
            exit_code=128 + signum)

    def _restore_best(self):
        """Load the best checkpoint's weights into the model."""
        path = checkpoints.latest(self.run.sub(BEST))
        if path is None:
            raise TrainingStopped(f"{self.run.path} has no best checkpoint; run with --restart")
        checkpoints.restore(self.best.checkpoint, path, self.weights)

    def _measure_best(self):
        """The best model's validation and test metrics, with their provenance (after `_restore_best`)."""
        epoch, step = int(self.best_marks["epoch"].numpy()), int(self.best_marks["step"].numpy())
        validation = dict(self.evaluator.measure(self.validation_images, self.config.batch_size),
                          **measured("best", epoch, step, "validation"))
        test = dict(self.evaluator.measure(self.test_images, self.config.batch_size),
                    **measured("best", epoch, step, "test"))
        return validation, test

    def _record(self, status, update=None):
        """Apply a named record (`runs.epoch_done`, ...) to results.json with where training stands."""
        facts = dict(epochs_done=self._state("epochs_done"), epochs_planned=self.config.epochs,
                     best_epoch=self._state("best_epoch"), steps=self._state("step"),
                     train_images_per_second=round(self.epoch_speed, 1) if self.epoch_speed else None,
                     # One trace serves every epoch; more would mean recompiling the step (tests check it).
                     train_step_traces=self.step.traces(),
                     # this process's start-up: import, data, model, tracing
                     seconds_to_first_step=(round(self.seconds_to_first_step, 2)
                                            if self.seconds_to_first_step is not None else None))
        return self.run.update_results(lambda results: runs.progress(update(results) if update else results,
                                                                     status, **facts))
