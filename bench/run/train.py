"""The training loop behind `bench train`: a run prepared, its state restored, its
epochs trained, its checkpoints kept, and how it stops.

Validation after every epoch, the latest state saved after every epoch (so a
killed process loses at most the epoch in progress), the best model on
validation kept apart, and its validation and test metrics written to
results.txt at the end. The Trainer only loops: the compiled step is
bench.run.step's, the loop's state and checkpoints bench.run.state's, the records
bench.run.recorder's, how it stops bench.run.stopping's, and the end of the run
(measures, pictures, projector) bench.run.ending's.
"""

import shutil
import time

import keras
import tensorflow as tf

import bench
from bench import files
from bench.data import datasets, pipeline
from bench.data import splits as split_forms
from bench.errors import BenchUsageError
from bench.model import building, metrics
from bench.model.view import ModelView
from bench.run import compute, continuing, ending, fingerprint, loading, optimizers, planning, runs, summaries
from bench.run.recorder import Recorder
from bench.run.results import data_used, epoch_done, identity_record, measured
from bench.run.runs import CONFIG_FILE, DATA_FILES, LOG_FILE, RunFolder
from bench.run.state import LoopState
from bench.run.step import TrainStep
from bench.run.stopping import checked_loss, peers_watched, stop_at_signal, stops_recorded
from bench.signals import StopSignals

PROGRESS_EVERY_S = 0.2
ACTIVATION_IMAGES = 8


def run_training(config, restart, report, stopper=None):
    """Check the configuration, prepare the run folder and train; returns the results dict
    (None in a multi-worker run's non-chief workers, which write nothing). `stopper`: what may
    stop the run early (Trainer's)."""
    config.check()
    strategy = compute.make_strategy(config.strategy, config.devices)  # before TensorFlow runs anything
    compute.set_precision(config.precision)
    config, model_spec, dataset_spec = planning.resolve_config(config)
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
        dataset, splits = datasets.load_data(dataset_spec, config.data_dir, report, seed=config.seed,
                                             **loading.data_options(config))
        with datasets.damaged_files_named(splits, report):
            return _train(config, restart, report, strategy, run, chief, model_spec, dataset, splits, stopper)


def _train(config, restart, report, strategy, run, chief, model_spec, dataset, splits, stopper):
    """Build the model and train as the chief or as another worker (the device is placed)."""
    with strategy.scope():  # the variables are made once per replica; what follows runs without the scope
        model = building.build_model(model_spec, dataset.image_shape, config.l2_penalty, config.model_args)
    cache = compute.scratch_folder("cache") if config.cache == "disk" else None
    try:
        splits = {name: split_forms.cached(split, config.cache, cache) for name, split in splits.items()}
        if not chief:  # writes where nobody reads; resumes from the chief's checkpoints
            return _train_as_worker(config, run, dataset, splits, model, report, strategy)
        trainer = Trainer(config, run, dataset, splits, model, report, strategy,  # traces the step; writes nothing
                          stopper=stopper)
        with run.lock():  # one process trains a run; the lock dies with the process
            return _train_as_chief(trainer, config, restart, run, model_spec, model, report)
    finally:
        if cache is not None:
            shutil.rmtree(cache, ignore_errors=True)


def _train_as_chief(trainer, config, restart, run, model_spec, model, report):
    changed = None
    if not restart and continuing.make_longer_if_shorter_exists(run, config, report):
        trainer.continued = True
    if not restart and run.path.is_dir():  # everything is checked before anything is written
        with continuing.removed_if_unusable(run, trainer.continued):
            changed = runs.check_same_data(run, run.read_results(), trainer.dataset, resuming=True)
            fingerprint.check(run, model, trainer.state.weights, report)
            trainer.state.restore(run, report)
    resuming = run.prepare(config, restart)
    _record_identity(run, config)
    if fingerprint.read(run) is None:
        fingerprint.record(run, model_spec, model, trainer.state.weights)
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


def _record_identity(run, config):
    """What the run is, in results.json, once (a finished run started again stays byte for byte,
    and so does one finished before identities were recorded)."""
    results = run.read_results()
    if "identity" not in results and results.get("status") != "finished":
        run.update_results(lambda results: identity_record(results, config.identity()))


def _record_data(run, dataset, splits):
    """The images each split had, and an image folder's listing, in the run (rewritten only when
    they changed: a finished run started again stays byte for byte as it was)."""
    listing = getattr(dataset, "listing", None)
    if listing is not None:
        text = runs.listing_text(listing)
        if not run.sub(DATA_FILES).is_file() or run.sub(DATA_FILES).read_bytes() != text.encode("utf-8", "surrogateescape"):
            files.atomic_write_text(run.sub(DATA_FILES), text)
    images = {name: len(split) for name, split in splits.items()}
    if data_used({}, images, dataset)["data"] != run.read_results().get("data"):
        run.update_results(lambda results: data_used(results, images, dataset))


def _train_as_worker(config, run, dataset, splits, model, report, strategy):
    scratch = RunFolder(compute.scratch_folder())
    try:
        report.info(f"worker {strategy.cluster_resolver.task_id}: training {run.path} with the chief")
        # A new run the chief makes from a shorter one starts from that one's state, which stays as it is.
        shorter = [] if run.is_run() else continuing.shorter_runs(config)
        start = shorter[0][2] if shorter else run
        trainer = Trainer(config, scratch, dataset, splits, model, report, strategy, chief=False, resume_from=start)
        trainer.state.restore(start, report, chief=False)
        trainer.fit()
        report.info("done; the chief writes the results")
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


class Trainer:
    """Trains one run from wherever its checkpoint left it: the epoch loop.

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
        stopper: what may stop the run early (None: nothing): after each epoch its
            `should_stop(history)` is asked, with results.json's history; True after an
            epoch before the last stops the run there, recorded "pruned" with its checkpoint
            kept, and the console says `stopper.stopped_by` ("pruned by the search").
    """

    def __init__(self, config, run, dataset, splits, model, report, strategy=None, chief=True, resume_from=None,
                 stopper=None):
        self.config, self.run, self.model, self.report = config, run, model, report
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief, self.resume_from = chief, resume_from or run
        self.dataset, self.splits = dataset, splits
        replicas = self.strategy.num_replicas_in_sync
        steps_per_epoch = pipeline.steps_per_epoch(len(splits["train"]), config.batch_size, replicas)
        with self.strategy.scope():
            optimizer = optimizers.build(config.optimizer, config.optimizer_args, steps_per_epoch,
                                         config.lr_decay, config.lr_decay_epochs, config.lr_decay_factor)
            self.optimizer = compute.loss_scaled(optimizer, config.precision)
            self.optimizer.build(model.trainable_variables)
        self.view = ModelView(model)
        self.noisy_view = ModelView(model, config.noise_factor) if config.noise_factor else None
        self.step = TrainStep(config, self.view, self.optimizer, self.strategy, splits["train"], steps_per_epoch)
        self.state = LoopState(run, model, self.optimizer, self.step, self.strategy)
        # (a worker's records go to its scratch folder, which nobody reads)
        self.recorder = Recorder(run, config, self.state, self.step)
        self.grid_images = tf.convert_to_tensor(splits["validation"].first(ending.GRID_IMAGES)[0])
        self.activation_images = self.view.model_pixels(self.view.scaled(self.grid_images[:ACTIVATION_IMAGES]))
        self.writers = None  # open_writers(), from fit(): nothing is written before the state is restored
        self.continued = False  # made from a shorter run's state (bench.run.continuing): its HParams are its own
        self.stopper = stopper if chief else None

    def open_writers(self):
        """Start the run's TensorBoard event files (after the state is restored: nothing is
        written to a run whose state cannot be read)."""
        self.writers = summaries.RunWriters(self.run)

    def fit(self):
        """Train until config.epochs are done, then end the run; returns the results dict."""
        self.open_writers()
        try:
            epochs_done, step = self.state.value("epochs_done"), self.state.value("step")
            if epochs_done >= self.config.epochs:
                self.report.info(f"{self.resume_from.path} has already trained its {epochs_done} epochs; "
                                 "a larger --epochs makes a longer run from its state, in a folder of its own")
            elif epochs_done or step:
                self.report.info(f"resuming at epoch {epochs_done + 1} (step {step})")
            if self.chief and (self.continued or not (epochs_done or step)):
                summaries.write_experiment_config(self.config.log_dir)
                self.writers.hparams(self.config, trial=f"{self.config.model}/{self.run.path.name}")
            chief_records = self.recorder if self.chief else None
            with StopSignals() as signals, stops_recorded(chief_records):
                for epoch in range(epochs_done, self.config.epochs):
                    with peers_watched(self.config, epoch, self.resume_from, chief_records):
                        self.train_epoch(epoch, signals)
                        self.end_epoch(epoch)
                    # Every epoch is reported, the last too; only an epoch before the last can be pruned.
                    if self.stopper is not None and self.stopper.should_stop(self.run.read_results()["history"]) and \
                            epoch + 1 < self.config.epochs:
                        return self._pruned(epoch)
                return ending.end_run(self.ending_view(), signals) if self.chief else None
        finally:
            self.writers.close()

    def train_epoch(self, epoch, signals):
        """Run the remaining steps of `epoch`; on a signal, save and stop."""
        step, steps_per_epoch = self.state.value("step"), self.step.steps_per_epoch
        first = step - epoch * steps_per_epoch
        started, last_shown, outputs = time.perf_counter(), 0.0, None
        if first == 0:  # a resumed epoch goes on summing where it was stopped (the sums are in the checkpoint)
            self.step.start_epoch()
        every = self.config.summary_every
        with self.report.epoch(f"epoch {epoch + 1}/{self.config.epochs}", steps_per_epoch) as show:
            for steps, outputs in self.step.calls(epoch, first):
                step += steps
                self._first_step_timed(outputs)
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
                    stop_at_signal(signals.received, epoch, step, outputs, self.recorder)
        self.state.trained_to(step)
        seen = self.images_before(steps_per_epoch) - self.images_before(first)
        self.recorder.epoch_speed = seen / max(time.perf_counter() - started, 1e-9)
        if outputs is not None:
            self._checked_loss(outputs, epoch, step)
            self._log_step(step, outputs)

    def end_epoch(self, epoch):
        """Validate, keep the best model, save the latest state, log, report."""
        step = self.state.value("step")
        validation = self.view.measure(self.splits["validation"], self.config.batch_size)
        improved = self.state.epoch_ended(epoch, step, validation["error"])
        self._write_epoch_summaries(step, validation)
        train_error = self.step.epoch_train_error()
        self.writers.scalars(self.writers.train, step, {"epoch_error": train_error})
        entry = {"epoch": epoch + 1, "step": step, "train_error": train_error, **metrics.history_entry(validation),
                 "elapsed_s": round(time.perf_counter() - bench.STARTED, 2)}
        best_validation = dict(validation, **measured("best", epoch + 1, step, "validation")) if improved else None
        # The record before the checkpoint: a process killed between the two retrains this
        # epoch from the previous checkpoint (the same batches, the same numbers) and its
        # record is replaced; the other order could lose a checkpointed epoch's record.
        self.recorder.record("running", lambda results: epoch_done(results, entry, best_validation))
        self.state.save(step)
        self.report.info(
            f"epoch {epoch + 1}/{self.config.epochs}  train error {train_error:.5f}  "
            f"validation error {validation['error']:.5f}{' (best)' if improved else ''}  "
            f"{metrics.epoch_words(validation)}  {self.recorder.epoch_speed:,.0f} img/s")

    def ending_view(self):
        """What the run's ending uses of this Trainer (bench.run.ending.RunEnd)."""
        return ending.RunEnd(self.run, self.config, self.report, self.state, self.recorder, self.writers, self.view,
                             self.noisy_view, self.splits, self.dataset.class_names)

    def _pruned(self, epoch):
        """Stopped after `epoch` by its stopper: recorded "pruned", its checkpoint kept."""
        results = self.recorder.record("pruned")
        self.report.info(f"{self.stopper.stopped_by} after epoch {epoch + 1} of {self.config.epochs}; "
                         f"bench train --config {self.run.sub(CONFIG_FILE)} would continue it")
        return results

    # -- helpers of the loop ------------------------------------------------

    def _first_step_timed(self, outputs):
        if self.recorder.seconds_to_first_step is None:
            float(outputs["loss"])  # the step has run, not only been dispatched
            self.recorder.seconds_to_first_step = time.perf_counter() - bench.STARTED

    def _checked_loss(self, outputs, epoch, step):
        return checked_loss(outputs, epoch, step, self.recorder)

    def images_before(self, step_in_epoch):
        """How many training images an epoch's first `step_in_epoch` steps see."""
        return min(step_in_epoch * self.config.batch_size, len(self.step.train_images))

    def _log_step(self, step, outputs):
        values = {tag: float(value) for tag, value in outputs.items()}
        values["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.writers.scalars(self.writers.train, step, values)
        if self.config.summaries == "all":
            self.writers.activations(step, self.model, self.activation_images)

    def _write_epoch_summaries(self, step, validation):
        """The epoch's TensorBoard summaries: validation metrics, and with --summaries all the
        weights, reconstructions, filters and feature maps."""
        self.writers.scalars(self.writers.validation, step, validation)
        if self.config.summaries == "all":
            self._write_epoch_pictures(step)
        self.writers.flush()

    def _write_epoch_pictures(self, step):
        self.writers.weights(step, self.model)
        inputs, reconstructions = self.view.reconstruct(self.grid_images)
        columns = [inputs]
        if self.noisy_view is not None:
            noisy, reconstructions = self.noisy_view.reconstruct(self.grid_images)
            columns.append(noisy)
        self.writers.reconstructions(step, columns + [reconstructions])
        self.writers.filters_and_feature_maps(step, self.model, self.view.model_pixels(inputs[:1]))
