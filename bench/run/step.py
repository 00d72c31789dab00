"""The compiled training step: one batch (or --steps-per-call batches) through
the model, its loss terms, the gradients and the optimizer, on every replica.

Traced once per run (the batch dimension is left open; a test checks the
count). The epoch's mean training error is summed inside the step, so the
loop never waits on the device for it.
"""

import keras
import tensorflow as tf

from bench.data import pipeline, seeds
from bench.errors import BenchError, PluginError, describe_exception
from bench.tf_runtime import compiled


class TrainStep:
    """Compiled steps of one run.

    Args:
        config: the run's TrainConfig (batch_size, seed, noise_factor,
            l2_penalty, jit, steps_per_call, summary_every).
        view: the bench.model.view.ModelView of the Autoencoder, built under `strategy`:
            the images reach the model, and its reconstruction comes back, as everywhere.
        optimizer: its optimizer, built under `strategy`.
        strategy: the tf.distribute strategy; `config.batch_size` is the global batch.
        train_images: the training split, in its stored dtype.
        steps_per_epoch: the steps of one epoch (bench.data.pipeline.steps_per_epoch; the
            Trainer counts them once, for its optimizer's schedule and for this step).
    """

    def __init__(self, config, view, optimizer, strategy, train_images, steps_per_epoch):
        self.config, self.view, self.model, self.optimizer, self.strategy = config, view, view.model, optimizer, strategy
        self.train_images = train_images
        self.replicas = strategy.num_replicas_in_sync
        self.steps_per_epoch = steps_per_epoch
        with strategy.scope():
            self.error_sum = tf.Variable(0.0, dtype=tf.float32, trainable=False)
            self.error_count = tf.Variable(0.0, dtype=tf.float32, trainable=False)
        self.call = self._compile()
        self._trace()

    def _trace(self):
        """Trace the step now, before the run folder is written to: the model's Python runs in
        graph mode here, and an error there names the model plugin."""
        try:
            if self.config.steps_per_call == 1:
                self.call.get_concrete_function()
            else:
                self.call.get_concrete_function(iter(self.training_batches(0, 0)), tf.TensorSpec([], tf.int32))
        except BenchError:
            raise
        except tf.errors.OperatorNotAllowedInGraphError as error:  # its message suggests AutoGraph
            raise PluginError(f"model plugin {type(self.model).__name__} uses a tensor as a Python bool (an if or "
                              "while on a tensor in its get or loss); bench compiles without AutoGraph: use "
                              "tf.cond, tf.where or tf.while_loop") from error
        except Exception as error:  # a plugin may raise anything while it is traced
            raise PluginError(f"model plugin {type(self.model).__name__} raised {describe_exception(error)} "
                              "while bench compiled the training step (its get or loss, in graph mode)") from error

    def traces(self):
        """How many times the step was traced (1 when nothing recompiled it)."""
        return self.call.experimental_get_tracing_count()

    def epoch_sums(self):
        """{name: variable} of the epoch's training-error sum and count, for the checkpoint (a run
        resumed mid-epoch then reports the whole epoch's mean, as an uninterrupted one does)."""
        return {"epoch_error_sum": self.error_sum, "epoch_error_count": self.error_count}

    def start_epoch(self):
        """Zero the epoch's training-error sum."""
        self.error_sum.assign(0.0)
        self.error_count.assign(0.0)

    def epoch_train_error(self):
        """The mean training error of the epoch's steps so far (nan before any)."""
        count = float(self.error_count.numpy())
        return float(self.error_sum.numpy()) / count if count else float("nan")

    def training_batches(self, epoch, skip):
        """The rest of `epoch`'s global batches (after `skip`), split across the replicas."""
        if self._by_worker():
            return self.strategy.distribute_datasets_from_function(
                lambda context: self._worker_batches(context, epoch, skip))
        batches = pipeline.training_batches(self.train_images, self.config.batch_size, self.config.seed, epoch,
                                            skip, self.steps_per_epoch, self.config.augmentations())
        if self.replicas > 1:
            options = tf.data.Options()
            # Every worker holds all the images: each takes its part of every global batch.
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            batches = self.strategy.experimental_distribute_dataset(batches.with_options(options))
        return batches

    def _by_worker(self):
        """Whether each worker reads only its own part of the files: a multi-worker run of
        one replica a worker, a global batch they divide, no augmentation (whose random
        numbers follow each image's place in the whole epoch)."""
        resolver = getattr(self.strategy, "cluster_resolver", None)
        workers = len(resolver.cluster_spec().as_dict().get("worker", [])) if resolver and resolver.task_type else 0
        return (workers > 1 and self.replicas == workers and self.config.batch_size % workers == 0
                and not self.config.augmentations())

    def _worker_batches(self, context, epoch, skip):
        """This worker's part of every global batch: the epoch's shuffled order is the same on
        every worker, and worker k takes its images k, k + n, k + 2n...; so each global batch
        holds the images one device would have had in it, and each file is read by one worker."""
        local = context.get_per_replica_batch_size(self.config.batch_size)
        shard = (context.num_input_pipelines, context.input_pipeline_id)
        return pipeline.training_batches(self.train_images, local, self.config.seed, epoch, skip,
                                         self.steps_per_epoch, shard=shard)

    def calls(self, epoch, skip):
        """Run the rest of `epoch` in compiled calls; yields (steps, outputs) after each.

        Calls end at every multiple of --summary-every, so the summaries fall on
        the same steps whatever --steps-per-call is.
        """
        batches = self.training_batches(epoch, skip)
        if self.config.steps_per_call == 1:
            for batch in batches:
                yield 1, self.call(batch)
            return
        iterator, remaining = iter(batches), self.steps_per_epoch - skip
        step, every = epoch * self.steps_per_epoch + skip, self.config.summary_every
        while remaining > 0:
            steps = min(self.config.steps_per_call, remaining, every - step % every)
            remaining -= steps
            step += steps
            yield steps, self.call(iterator, tf.constant(steps, tf.int32))

    def _replica_step(self, stored_images):
        """One step on this replica's share of the global batch.

        Every term is weighted by the share (local images / global images), so
        that the gradients the optimizer sums over replicas, and the outputs
        summed over replicas, are those of the mean over the global batch.
        """
        view, optimizer, config = self.view, self.optimizer, self.config
        images = view.scaled(stored_images)
        share = 1.0
        if self.replicas > 1:
            local = tf.cast(tf.shape(images)[0], tf.float32)
            share = local / tf.distribute.get_replica_context().all_reduce("sum", local)
        # Every random draw of the step, the noise and the model's own, is a function of (seed, replica,
        # step): a resumed run draws exactly what an uninterrupted one does.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        stream = seeds.replica_stream(tf.constant(config.seed, tf.int64), tf.cast(replica, tf.int64))
        step = optimizer.iterations
        inputs = pipeline.corrupt(images, config.noise_factor, stream, step) if config.noise_factor else images
        variables = view.model.trainable_variables
        with tf.GradientTape() as tape:
            result = view.run(inputs, train_phase=True, l2_penalty=config.l2_penalty, targets=images,
                              random_seed=(stream, step))
            loss = result.total()
            scaled_loss = optimizer.scale_loss(loss * share)
        gradients = tape.gradient(scaled_loss, variables)
        outputs = {f"{name}_loss": value for name, value in result.terms.items()}
        if self.replicas == 1:  # the summed gradients are only inside the optimizer
            scale = optimizer.dynamic_scale if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else 1.0
            outputs["gradient_norm"] = tf.linalg.global_norm(gradients) / scale
        optimizer.apply_gradients(zip(gradients, variables))
        error = 0.5 * tf.reduce_mean(tf.square(result.reconstruction - images))
        outputs.update(loss=loss, error=error)
        return {name: value * share for name, value in outputs.items()}

    def _compile(self):
        """A compiled function of one step on a batch, or, with --steps-per-call N,
        of up to N steps from a batch iterator (`steps` of them); it returns the last
        step's outputs, summed over the replicas."""
        strategy, error_sum, error_count = self.strategy, self.error_sum, self.error_count
        replica_step = self._replica_step
        if self.config.jit:  # XLA compiles the replica's step; strategy.run and the reductions stay outside
            replica_step = compiled(lambda images: self._replica_step(images), jit_compile=True)

        def one_step(batch):
            per_replica = strategy.run(replica_step, args=(batch,))
            outputs = {name: strategy.reduce("sum", value, axis=None) for name, value in per_replica.items()}
            error_sum.assign_add(outputs["error"])
            error_count.assign_add(1.0)
            return outputs

        if self.config.steps_per_call == 1:
            # one step: the batch is an argument, as in a hand-written loop
            return compiled(one_step, input_signature=[self.training_batches(0, 0).element_spec])

        # Traced once, called twice below (the first step gives the loop its outputs' structure).
        compiled_step = compiled(one_step)

        def several_steps(iterator, steps):
            def next_step(done, _):
                return done + 1, compiled_step(next(iterator))

            first = compiled_step(next(iterator))
            return tf.while_loop(lambda done, _: done < steps, next_step, (tf.constant(1), first))[1]

        return compiled(several_steps)
