"""`bench train`: the training loop, its checkpoints, and how it stops.

One compiled step per batch (traced once: the batch dimension is left
unknown), validation after every epoch, the latest state saved after every
epoch (so a killed process loses at most the epoch in progress), the best
model on validation kept apart, and its validation and test metrics written
to results.txt at the end.
"""

import math
import shutil
import signal
import time

import keras
import tensorflow as tf

import bench
from bench import (architecture, checkpoints, compute, embedding, experiment, fingerprint, optimizers, pictures,
                   pipeline, summaries)
from bench.errors import BenchUsageError, TrainingStopped
from bench.evaluate import Evaluator, metrics_table
from bench.runs import BEST, CHECKPOINTS, LOG_FILE, RunFolder, measured

PROGRESS_EVERY_S = 0.2
GRID_IMAGES = 8
ACTIVATION_IMAGES = 8


def run_training(config, restart, report):
    """Check the configuration, prepare the run folder and train; returns the results dict
    (None in a multi-worker run's non-chief workers, which write nothing)."""
    config.check()
    strategy = compute.make_strategy(config.strategy, config.devices)  # before TensorFlow runs anything
    compute.set_precision(config.precision)
    config, model_spec, dataset_spec = experiment.resolve_config(config)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size < replicas:
        raise BenchUsageError(f"--batch-size {config.batch_size} is smaller than the {replicas} replicas; "
                              "it is the global batch, split across them")
    run = RunFolder.for_config(config)
    chief = compute.is_chief(strategy)
    if chief:
        run.check_can_hold(config, restart)
    keras.utils.set_random_seed(config.seed)
    with experiment.device_scope(config.device):
        dataset, splits = experiment.load_data(dataset_spec, config.data_dir, report)
        with strategy.scope():  # the variables are made once per replica; what follows runs without the scope
            model = experiment.build_model(model_spec, dataset.image_shape, config.l2_penalty, config.model_args)
        if not chief:  # writes where nobody reads; resumes from the chief's checkpoints
            return _train_as_worker(config, run, dataset, splits, model, report, strategy)
        trainer = Trainer(config, run, dataset, splits, model, report, strategy)
        if not restart and run.path.is_dir():  # everything is checked before anything is written
            fingerprint.check(run, model, trainer.weights, report)
            trainer.restore()
        resuming = run.prepare(config, restart)
        if fingerprint.read(run) is None:
            fingerprint.record(run, model_spec, model, trainer.weights)
        report.attach_log(run.sub(LOG_FILE))
        try:
            report.info(f"{'resuming' if resuming else 'starting'} {run.path}"
                        + (f" on {replicas} replicas ({config.strategy})" if replicas > 1 else ""))
            return trainer.fit()
        finally:
            report.detach_log()


def _train_as_worker(config, run, dataset, splits, model, report, strategy):
    scratch = RunFolder(compute.scratch_folder())
    try:
        report.info(f"worker {strategy.cluster_resolver.task_id}: training {run.path} with the chief")
        trainer = Trainer(config, scratch, dataset, splits, model, report, strategy, resume_from=run)
        trainer.restore()
        trainer.fit()
        report.info("done; the chief writes the results")
    finally:
        shutil.rmtree(scratch.path, ignore_errors=True)


class StopSignals:
    """Turns SIGINT and SIGTERM into a flag the loop checks between steps."""

    def __init__(self):
        self.received = None
        self._previous = {}

    def __enter__(self):
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        self.received = signum

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False


class Trainer:
    """Trains one run from wherever its checkpoint left it.

    Args:
        run: the RunFolder it writes to.
        strategy: the tf.distribute strategy the model was built under (None:
            the default, one device); `config.batch_size` is the global batch.
            The Trainer makes its own variables under it; its other work runs
            outside the scope, so that what it makes after training (the
            projector's variable) stays local to the chief.
        resume_from: the RunFolder whose latest checkpoint it starts from
            (default: `run`; a multi-worker run's other workers read the chief's).
    """

    def __init__(self, config, run, dataset, splits, model, report, strategy=None, resume_from=None):
        self.config, self.run, self.model, self.report = config, run, model, report
        self.strategy = strategy or tf.distribute.get_strategy()
        self.resume_from = resume_from or run
        self.dataset, self.splits = dataset, splits
        self.train_images = pipeline.in_memory(splits["train"][0])
        self.validation_images = pipeline.in_memory(splits["validation"][0])
        self.test_images = pipeline.in_memory(splits["test"][0])
        self.replicas = self.strategy.num_replicas_in_sync
        self.steps_per_epoch = pipeline.steps_per_epoch(len(self.train_images), config.batch_size, self.replicas)
        with self.strategy.scope():
            optimizer = optimizers.build(config.optimizer, config.optimizer_args, self.steps_per_epoch,
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
            # The epoch's mean training error, summed inside the compiled step (no host sync).
            self.error_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self.error_count = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        # Every variable of the model, by where it is held (bench.checkpoints).
        self.weights, model_state = checkpoints.model_groups(model)
        checkpoint = tf.train.Checkpoint(**{checkpoints.WEIGHTS: self.weights, checkpoints.RNG: model_state},
                                         optimizer=self.optimizer, **self.state)
        self.latest = tf.train.CheckpointManager(checkpoint, str(run.sub(CHECKPOINTS)), max_to_keep=1)
        best = tf.train.Checkpoint(**{checkpoints.WEIGHTS: self.weights}, **self.best_marks)
        self.best = tf.train.CheckpointManager(best, str(run.sub(BEST)), max_to_keep=1)
        self.evaluator = Evaluator(model)
        self.grid_images = self.validation_images[:GRID_IMAGES]
        self.activation_images = model.own_pixels(
            pipeline.to_bench_range(self.validation_images[:ACTIVATION_IMAGES], model.input_size))
        self.noisy_evaluator = Evaluator(model, config.noise_factor) if config.noise_factor else None
        self.train_call = self._compile_train_call()
        self.seconds_to_first_step = None
        self.epoch_speed = None
        self.epoch_train_error = math.nan
        self.writers = None  # open_writers(), from fit(): nothing is written before the state is restored

    def _replica_step(self, stored_images):
        """One step on this replica's share of the global batch.

        Every term is weighted by the share (local images / global images), so
        that the gradients the optimizer sums over replicas, and the outputs
        summed by `train_call`, are those of the mean over the global batch.
        """
        model, optimizer, l2_penalty = self.model, self.optimizer, self.config.l2_penalty
        images = pipeline.to_bench_range(stored_images, model.input_size)
        share = 1.0
        if self.replicas > 1:
            local = tf.cast(tf.shape(images)[0], tf.float32)
            share = local / tf.distribute.get_replica_context().all_reduce("sum", local)
        inputs = images
        if self.config.noise_factor:  # fresh noise every step, reproducible from (seed, replica, step)
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            stream = tf.constant(self.config.seed, tf.int64) + 1_000_003 * tf.cast(replica, tf.int64)
            inputs = pipeline.corrupt(images, self.config.noise_factor, stream, optimizer.iterations)
        variables = model.trainable_variables
        with tf.GradientTape() as tape:
            result = model.forward(model.own_pixels(inputs), train_phase=True, l2_penalty=l2_penalty,
                                   targets=model.own_pixels(images))
            loss = result.total()
            scaled_loss = optimizer.scale_loss(loss * share)
        gradients = tape.gradient(scaled_loss, variables)
        outputs = {f"{name}_loss": value for name, value in result.terms.items()}
        if self.replicas == 1:  # the summed gradients are only inside the optimizer
            scale = optimizer.dynamic_scale if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else 1.0
            outputs["gradient_norm"] = tf.linalg.global_norm(gradients) / scale
        optimizer.apply_gradients(zip(gradients, variables))
        error = 0.5 * tf.reduce_mean(tf.square(model.bench_pixels(result.reconstruction) - images))
        outputs.update(loss=loss, error=error)
        return {name: value * share for name, value in outputs.items()}

    def _compile_train_call(self):
        """A compiled function of one step on a batch, or, with --steps-per-call N,
        of up to N steps from a batch iterator (`steps` of them); it returns the last
        step's outputs, summed over the replicas. Traced once (a test checks it)."""
        strategy, error_sum, error_count = self.strategy, self.error_sum, self.error_count
        replica_step = self._replica_step
        if self.config.jit:  # XLA compiles the replica's step; strategy.run and the reductions stay outside
            replica_step = tf.function(lambda images: self._replica_step(images), jit_compile=True)

        def one_step(batch):
            per_replica = strategy.run(replica_step, args=(batch,))
            outputs = {name: strategy.reduce("sum", value, axis=None) for name, value in per_replica.items()}
            error_sum.assign_add(outputs["error"])
            error_count.assign_add(1.0)
            return outputs

        if self.config.steps_per_call == 1:
            # one step: the batch is an argument, as in a hand-written loop
            return tf.function(one_step, input_signature=[self.training_batches(0, 0).element_spec])

        @tf.function
        def several_steps(iterator, steps):
            outputs = one_step(next(iterator))
            for _ in tf.range(steps - 1):
                outputs = one_step(next(iterator))
            return outputs

        return several_steps

    def training_batches(self, epoch, skip):
        """The rest of `epoch`'s global batches (after `skip`), split across the replicas."""
        batches = pipeline.training_batches(self.train_images, self.config.batch_size, self.config.seed, epoch,
                                            skip, self.steps_per_epoch)
        if self.replicas > 1:
            options = tf.data.Options()
            # Every worker holds all the images: each takes its part of every global batch.
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            batches = self.strategy.experimental_distribute_dataset(batches.with_options(options))
        return batches

    def compiled_calls(self, epoch, skip):
        """Run the rest of `epoch` in compiled calls; yields (steps, outputs) after each.

        Calls end at every multiple of --summary-every, so the summaries fall on
        the same steps whatever --steps-per-call is.
        """
        batches = self.training_batches(epoch, skip)
        if self.config.steps_per_call == 1:
            for batch in batches:
                yield 1, self.train_call(batch)
            return
        iterator, remaining = iter(batches), self.steps_per_epoch - skip
        step, every = epoch * self.steps_per_epoch + skip, self.config.summary_every
        while remaining > 0:
            steps = min(self.config.steps_per_call, remaining, every - step % every)
            remaining -= steps
            step += steps
            yield steps, self.train_call(iterator, tf.constant(steps, tf.int32))

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
        checkpoints.restore(self.latest.checkpoint, path, self.weights)
        if self.resume_from is not self.run:
            return
        best_epoch, best_path = int(self.state["best_epoch"].numpy()), checkpoints.latest(self.run.sub(BEST))
        if best_epoch and best_path is None:
            raise checkpoints.CheckpointError(
                f"{self.run.sub(BEST)} holds no checkpoint, but {path} says epoch {best_epoch} was the best; "
                f"{checkpoints.RESTART_HINT}")
        if best_path is not None:  # read now, not at the end of hours of training
            checkpoints.verify(best_path, self.weights)

    def open_writers(self):
        """Start the run's TensorBoard event files (after the state is restored: nothing is
        written to a run whose state cannot be read)."""
        self.writers = summaries.RunWriters(self.run)

    def fit(self):
        """Train until config.epochs are done; returns the results dict."""
        self.open_writers()
        epochs_done = int(self.state["epochs_done"].numpy())
        if epochs_done >= self.config.epochs:
            self.report.info(f"{self.resume_from.path} has already trained {epochs_done} epochs "
                             f"(--epochs {self.config.epochs}); pass more --epochs to continue")
            try:
                return self.finish()
            finally:
                self.writers.close()
        if epochs_done or int(self.state["step"].numpy()):
            self.report.info(f"resuming at epoch {epochs_done + 1} (step {int(self.state['step'])})")
        elif self.resume_from is self.run:
            summaries.write_experiment_config(self.config.log_dir)
            self.writers.hparams(self.config, trial=f"{self.config.model}/{self.run.path.name}")
        try:
            with StopSignals() as signals:
                for epoch in range(epochs_done, self.config.epochs):
                    self.train_epoch(epoch, signals)
                    self.end_epoch(epoch)
            return self.finish()
        finally:
            self.writers.close()

    def images_before(self, step_in_epoch):
        """How many training images an epoch's first `step_in_epoch` steps see."""
        return min(step_in_epoch * self.config.batch_size, len(self.train_images))

    def train_epoch(self, epoch, signals):
        """Run the remaining steps of `epoch`; on a signal, save and stop."""
        step = int(self.state["step"].numpy())
        first = step - epoch * self.steps_per_epoch
        started, last_shown, outputs = time.perf_counter(), 0.0, None
        self.error_sum.assign(0.0)
        self.error_count.assign(0.0)
        description = f"epoch {epoch + 1}/{self.config.epochs}"
        every = self.config.summary_every
        with self.report.epoch(description, self.steps_per_epoch) as show:
            for steps, outputs in self.compiled_calls(epoch, first):
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
                    in_epoch = step - epoch * self.steps_per_epoch
                    seen = self.images_before(in_epoch) - self.images_before(first)
                    show(in_epoch, f"loss {loss:.5f}  {seen / (now - started):,.0f} img/s")
                if signals.received:
                    self._stop_on_signal(signals.received, epoch, step, outputs)
        self.state["step"].assign(step)
        seen = self.images_before(self.steps_per_epoch) - self.images_before(first)
        self.epoch_speed = seen / max(time.perf_counter() - started, 1e-9)
        count = float(self.error_count.numpy())
        self.epoch_train_error = float(self.error_sum.numpy()) / count if count else math.nan
        if outputs is not None:
            self._checked_loss(outputs, epoch, step)
            self._log_step(step, outputs)

    def _log_step(self, step, outputs):
        values = {tag: float(value) for tag, value in outputs.items()}
        values["learning_rate"] = float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))
        self.writers.scalars(self.writers.train, step, values)
        self.writers.activations(step, self.model, self.activation_images)

    def _checked_loss(self, outputs, epoch, step):
        loss = float(outputs["loss"])
        if not math.isfinite(loss):
            kept = int(self.state["epochs_done"].numpy())
            self._write_results("diverged")
            raise TrainingStopped(
                f"the loss became {loss} at epoch {epoch + 1}, step {step}: training stopped; the last good "
                f"checkpoint (after epoch {kept}) is kept. Lower the learning rate (--optimizer-args) "
                "and run again with --restart")
        return loss

    def _stop_on_signal(self, signum, epoch, step, outputs):
        self._checked_loss(outputs, epoch, step)
        self.state["step"].assign(step)
        self.latest.save(checkpoint_number=step)
        self._write_results("interrupted")
        name = signal.Signals(signum).name
        raise TrainingStopped(
            f"{name} received: stopped in epoch {epoch + 1} at step {step} and saved a checkpoint. "
            f"Resume with the same command, or: bench train --config {self.run.sub('config.yaml')}",
            exit_code=128 + signum)

    def end_epoch(self, epoch):
        """Validate, keep the best model, save the latest state, log, report."""
        step = int(self.state["step"].numpy())
        validation = self.evaluator.measure(self.validation_images, self.config.batch_size)
        improved = validation["error"] < float(self.state["best_error"].numpy())
        if improved:
            self.state["best_error"].assign(validation["error"])
            self.state["best_epoch"].assign(epoch + 1)
            self.best_marks["epoch"].assign(epoch + 1)
            self.best_marks["step"].assign(step)
            self.best.save(checkpoint_number=epoch + 1)
        self.state["epochs_done"].assign(epoch + 1)
        self.latest.save(checkpoint_number=step)
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
        if improved:
            validation = dict(validation, **measured("best", epoch + 1, step, "validation"))
        self._write_results("running", validation_of_best=validation if improved else None,
                            epoch_record={"epoch": epoch + 1, "step": step, "train_error": self.epoch_train_error,
                                          "validation_error": validation["error"],
                                          "elapsed_s": round(time.perf_counter() - bench.STARTED, 2)})
        self.report.info(
            f"epoch {epoch + 1}/{self.config.epochs}  train error {self.epoch_train_error:.5f}  "
            f"validation error {validation['error']:.5f}{' (best)' if improved else ''}  "
            f"mse {validation['mse']:.5f}  psnr {validation['psnr']:.2f} dB  {self.epoch_speed:,.0f} img/s")

    # -- results ------------------------------------------------------------

    def _write_results(self, status, validation_of_best=None, test_of_best=None, epoch_record=None):
        results = self.run.read_results()
        if epoch_record is not None:
            history = [entry for entry in results.get("history", []) if entry["epoch"] < epoch_record["epoch"]]
            results["history"] = history + [epoch_record]
        best = dict(results.get("best", {}))
        if validation_of_best is not None:
            best = {"validation": validation_of_best}
        if test_of_best is not None:
            best["test"] = test_of_best
        if self.epoch_speed:
            results["train_images_per_second"] = round(self.epoch_speed, 1)
        # One trace serves every epoch; more would mean recompiling the step (tests check it).
        results["train_step_traces"] = self.train_call.experimental_get_tracing_count()
        if self.seconds_to_first_step is not None:  # this process's start-up: import, data, model, tracing
            results["seconds_to_first_step"] = round(self.seconds_to_first_step, 2)
        results.update(status=status, epochs_done=int(self.state["epochs_done"].numpy()),
                       epochs_planned=self.config.epochs, best_epoch=int(self.state["best_epoch"].numpy()),
                       steps=int(self.state["step"].numpy()), best=best)
        self.run.write_results(results)
        return results

    def save_pictures(self, results):
        """reconstructions.png, filters.png and curves.png of the (best) model in the run folder."""
        name = f"{self.config.model} on {self.config.dataset}, best model (epoch {results['best_epoch']})"
        clean = self.evaluator.reconstruct(self.test_images[:GRID_IMAGES])
        rows = [("input", clean[0].numpy())]
        if self.noisy_evaluator is not None:
            noisy = self.noisy_evaluator.reconstruct(self.test_images[:GRID_IMAGES])
            rows += [(f"noisy ({self.config.noise_factor:g})", noisy[0].numpy()), ("reconstruction", noisy[1].numpy())]
        else:
            rows.append(("reconstruction", clean[1].numpy()))
        pictures.save_reconstructions(self.run.sub("reconstructions.png"), rows, f"{name}: test images")
        kernel = architecture.first_kernel(self.model)
        filters = pictures.filter_images(kernel.numpy(), clean[0].shape[1:]) if kernel is not None else None
        if filters is not None:
            pictures.save_filters(self.run.sub("filters.png"), filters, f"{name}: first-layer filters ({kernel.path})")
        history = results.get("history", [])
        pictures.save_curves(self.run.sub("curves.png"), [
            ("train (epoch mean)", [h["epoch"] for h in history], [h["train_error"] for h in history]),
            ("validation", [h["epoch"] for h in history], [h["validation_error"] for h in history]),
        ], f"{self.config.model} on {self.config.dataset}: {self.run.path.name}")

    def finish(self):
        """Measure the best model on validation and test, write and show the results
        (a run already finished shows the results it has; other workers do nothing)."""
        if self.resume_from is not self.run:
            return None
        results = self.run.read_results()
        best = results.get("best", {})
        epochs_done = int(self.state["epochs_done"].numpy())
        if not (results.get("status") == "finished" and results.get("epochs_done") == epochs_done
                and "test" in best):
            path = checkpoints.latest(self.run.sub(BEST))
            if path is None:
                raise TrainingStopped(f"{self.run.path} has no best checkpoint; run with --restart")
            checkpoints.restore(self.best.checkpoint, path, self.weights)
            epoch, step = int(self.best_marks["epoch"].numpy()), int(self.best_marks["step"].numpy())
            validation = dict(self.evaluator.measure(self.validation_images, self.config.batch_size),
                              **measured("best", epoch, step, "validation"))
            test = dict(self.evaluator.measure(self.test_images, self.config.batch_size),
                        **measured("best", epoch, step, "test"))
            results = self._write_results("finished", validation_of_best=validation, test_of_best=test)
            self.writers.final_metrics(results["steps"], validation, test)
            self.save_pictures(results)
            test_images, test_labels = self.splits["test"]
            embedding.write_projector(self.run, self.model, test_images, test_labels, self.dataset.class_names,
                                      self.config.batch_size)
        validation, test = results["best"]["validation"], results["best"]["test"]
        self.report.info(f"best model (epoch {results['best_epoch']} of {results['epochs_done']}): {self.run.path}")
        self.report.table(metrics_table({"validation": validation, "test": test}))
        self.report.info(f"results in {self.run.sub('results.txt')}; curves: tensorboard --logdir {self.config.log_dir}")
        return results
