"""`bench train`: the training loop, its checkpoints, and how it stops.

One compiled step per batch (traced once: the batch dimension is left
unknown), validation after every epoch, the latest state saved after every
epoch (so a killed process loses at most the epoch in progress), the best
model on validation kept apart, and its validation and test metrics written
to results.txt at the end.
"""

import math
import signal
import time

import keras
import tensorflow as tf

from bench import architecture, embedding, experiment, optimizers, pictures, pipeline, summaries
from bench.errors import TrainingStopped
from bench.evaluate import Evaluator, metrics_table
from bench.runs import LOG_FILE, RunFolder

PROGRESS_EVERY_S = 0.2
GRID_IMAGES = 8
ACTIVATION_IMAGES = 8


def run_training(config, restart, report):
    """Check the configuration, prepare the run folder and train; returns the results dict."""
    config.check()
    config.optimizer, config.optimizer_args = optimizers.resolve(config.optimizer, config.optimizer_args)
    model_spec, dataset_spec = experiment.find_plugins(config.model, config.dataset)
    config.model, config.dataset = model_spec.name, dataset_spec.name
    config.model_args = experiment.resolve_model_args(model_spec, config.model_args)
    run = RunFolder.for_config(config)
    run.check_can_hold(config, restart)
    keras.utils.set_random_seed(config.seed)
    with experiment.device_scope(config.device):
        dataset, splits = experiment.load_data(dataset_spec, config.data_dir, report)
        model = experiment.build_model(model_spec, dataset.image_shape, config.l2_penalty, config.model_args)
        resuming = run.prepare(config, restart)
        report.attach_log(run.sub(LOG_FILE))
        try:
            report.info(f"{'resuming' if resuming else 'starting'} {run.path}")
            return Trainer(config, run, dataset, splits, model, report).fit()
        finally:
            report.detach_log()


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
    """Trains one run from wherever its checkpoint left it."""

    def __init__(self, config, run, dataset, splits, model, report):
        self.config, self.run, self.model, self.report = config, run, model, report
        self.dataset, self.splits = dataset, splits
        self.train_images = pipeline.in_memory(splits["train"][0])
        self.validation_images = pipeline.in_memory(splits["validation"][0])
        self.test_images = pipeline.in_memory(splits["test"][0])
        self.steps_per_epoch = math.ceil(len(self.train_images) / config.batch_size)
        self.optimizer = optimizers.build(config.optimizer, config.optimizer_args, self.steps_per_epoch,
                                          config.lr_decay, config.lr_decay_epochs, config.lr_decay_factor)
        self.optimizer.build(model.trainable_variables)
        self.state = {
            "step": tf.Variable(0, dtype=tf.int64, trainable=False),
            "epochs_done": tf.Variable(0, dtype=tf.int64, trainable=False),
            "best_error": tf.Variable(math.inf, dtype=tf.float64, trainable=False),
            "best_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
        }
        checkpoint = tf.train.Checkpoint(model=model, optimizer=self.optimizer, **self.state)
        self.latest = tf.train.CheckpointManager(checkpoint, str(run.sub("checkpoints")), max_to_keep=1)
        self.best = tf.train.CheckpointManager(tf.train.Checkpoint(model=model), str(run.sub("best")), max_to_keep=1)
        # The epoch's mean training error, summed inside the compiled step (no host sync).
        self.error_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.error_count = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.evaluator = Evaluator(model)
        self.grid_images = self.validation_images[:GRID_IMAGES]
        self.activation_images = pipeline.to_model_range(self.validation_images[:ACTIVATION_IMAGES], model.input_size)
        self.noisy_evaluator = Evaluator(model, config.noise_factor) if config.noise_factor else None
        self.train_step = self._compile_train_step()
        self.writers = summaries.RunWriters(run)

    def _compile_train_step(self):
        model, optimizer, l2_penalty = self.model, self.optimizer, self.config.l2_penalty
        error_sum, error_count = self.error_sum, self.error_count
        noise_factor, seed = self.config.noise_factor, self.config.seed
        variables = model.trainable_variables

        @tf.function(input_signature=[pipeline.batch_spec(self.train_images)])
        def train_step(stored_images):
            images = pipeline.to_model_range(stored_images, model.input_size)
            inputs = images
            if noise_factor:  # fresh noise every step, reproducible from (seed, step)
                step_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(optimizer.iterations, tf.int64)])
                inputs = pipeline.corrupt(images, noise_factor, step_seed)
            with tf.GradientTape() as tape:
                _, reconstruction = model.get(inputs, train_phase=True, l2_penalty=l2_penalty)
                reconstruction_loss = model.loss(reconstruction, images)
                penalties = model.pop_penalties()
                loss = reconstruction_loss + tf.add_n(list(penalties.values())) if penalties else reconstruction_loss
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            gradient_norm = tf.linalg.global_norm(gradients)
            error = 0.5 * tf.reduce_mean(tf.square(tf.cast(reconstruction, tf.float32) - images))
            error_sum.assign_add(error)
            error_count.assign_add(1.0)
            terms = {f"{name}_loss": value for name, value in penalties.items()}
            return dict(terms, loss=loss, reconstruction_loss=reconstruction_loss, error=error,
                        gradient_norm=gradient_norm)

        return train_step

    # -- the loop ---------------------------------------------------------

    def fit(self):
        """Train until config.epochs are done; returns the results dict."""
        if self.latest.latest_checkpoint:
            self.latest.checkpoint.restore(self.latest.latest_checkpoint).assert_existing_objects_matched()
        epochs_done = int(self.state["epochs_done"])
        if epochs_done >= self.config.epochs:
            self.report.info(f"{self.run.path} has already trained {epochs_done} epochs "
                             f"(--epochs {self.config.epochs}); pass more --epochs to continue")
            try:
                return self.finish()
            finally:
                self.writers.close()
        if epochs_done or int(self.state["step"]):
            self.report.info(f"resuming at epoch {epochs_done + 1} (step {int(self.state['step'])})")
        else:
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

    def train_epoch(self, epoch, signals):
        """Run the remaining steps of `epoch`; on a signal, save and stop."""
        step = int(self.state["step"])
        done_in_epoch = step - epoch * self.steps_per_epoch
        batches = pipeline.training_batches(self.train_images, self.config.batch_size,
                                            self.config.seed, epoch, done_in_epoch)
        started, images_seen, last_shown, outputs = time.perf_counter(), 0, 0.0, None
        self.error_sum.assign(0.0)
        self.error_count.assign(0.0)
        description = f"epoch {epoch + 1}/{self.config.epochs}"
        with self.report.epoch(description, self.steps_per_epoch) as show:
            for images in batches:
                outputs = self.train_step(images)
                step += 1
                images_seen += int(images.shape[0])
                if step % self.config.summary_every == 0:
                    self._log_step(step, outputs)
                now = time.perf_counter()
                if now - last_shown > PROGRESS_EVERY_S:
                    last_shown = now
                    loss = self._checked_loss(outputs, epoch, step)
                    show(step - epoch * self.steps_per_epoch,
                         f"loss {loss:.5f}  {images_seen / (now - started):,.0f} img/s")
                if signals.received:
                    self._stop_on_signal(signals.received, epoch, step, outputs)
        self.state["step"].assign(step)
        self.epoch_speed = images_seen / max(time.perf_counter() - started, 1e-9)
        count = float(self.error_count)
        self.epoch_train_error = float(self.error_sum) / count if count else math.nan
        if outputs is not None:
            self._checked_loss(outputs, epoch, step)
            self._log_step(step, outputs)

    def _log_step(self, step, outputs):
        values = {tag: float(value) for tag, value in outputs.items()}
        values["learning_rate"] = float(self.optimizer.learning_rate)
        self.writers.scalars(self.writers.train, step, values)
        self.writers.activations(step, self.model, self.activation_images)

    def _checked_loss(self, outputs, epoch, step):
        loss = float(outputs["loss"])
        if not math.isfinite(loss):
            kept = int(self.state["epochs_done"])
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
        step = int(self.state["step"])
        validation = self.evaluator.measure(self.validation_images, self.config.batch_size)
        improved = validation["error"] < float(self.state["best_error"])
        if improved:
            self.state["best_error"].assign(validation["error"])
            self.state["best_epoch"].assign(epoch + 1)
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
        self.writers.filters_and_feature_maps(step, self.model, inputs[:1])
        self.writers.flush()
        self._write_results("running", validation_of_best=validation if improved else None,
                            epoch_record={"epoch": epoch + 1, "step": step, "train_error": self.epoch_train_error,
                                          "validation_error": validation["error"]})
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
        if getattr(self, "epoch_speed", None):
            results["train_images_per_second"] = round(self.epoch_speed, 1)
        results.update(status=status, epochs_done=int(self.state["epochs_done"]),
                       epochs_planned=self.config.epochs, best_epoch=int(self.state["best_epoch"]),
                       steps=int(self.state["step"]), best=best)
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
        (a run already finished shows the results it has)."""
        results = self.run.read_results()
        best = results.get("best", {})
        if not (results.get("status") == "finished" and results.get("epochs_done") == int(self.state["epochs_done"])
                and "test" in best):
            path = self.best.latest_checkpoint
            if path is None:
                raise TrainingStopped(f"{self.run.path} has no best checkpoint; run with --restart")
            self.best.checkpoint.restore(path).expect_partial()
            validation = self.evaluator.measure(self.validation_images, self.config.batch_size)
            test = self.evaluator.measure(self.test_images, self.config.batch_size)
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
