"""The model plugin interface."""

from typing import Any, Literal, NamedTuple

import keras
import tensorflow as tf

from bench.data import seeds

RECONSTRUCTION_TERM = "reconstruction"


class Forward(NamedTuple):
    """One pass of a model, as `Autoencoder.forward` returns it to the bench."""

    encoding: Any
    """The code `get` returned."""
    reconstruction: Any
    """The reconstruction, float32, in the model's pixel range."""
    terms: dict
    """{name: float32 scalar}: "reconstruction" (the `loss`, when targets were
    given) and every term `get` added with `add_penalty`/`weight_decay`."""

    def total(self):
        """The training loss: the sum of the terms."""
        return tf.add_n(list(self.terms.values()))


class Autoencoder(keras.Model):
    """Base class of a model plugin: `models/<Name>.py` holding `class <Name>(Autoencoder)`.

    Create the layers once and use them in `get`: layers that do not depend
    on the image shape in `__init__` (call `super().__init__()` first), those
    that do (the decoder's output depth, say) in `build(input_shape)`, which
    the bench calls once with (None, height, width, channels) before the
    first `get`. A complete model::

        import keras
        from bench import Autoencoder

        class TinyCAE(Autoencoder):
            '''One 3x3 convolution in, one out (this line is shown by `bench list`).'''

            def __init__(self):
                super().__init__()
                self.encoder = keras.layers.Conv2D(8, 3, padding="same", activation="tanh")

            def build(self, input_shape):
                self.decoder = keras.layers.Conv2D(input_shape[-1], 3, padding="same",
                                                   activation="tanh")

            def get(self, images, train_phase=False, l2_penalty=0.0):
                encoding = self.encoder(images)
                self.weight_decay(self.encoder.kernel, l2_penalty)
                return encoding, self.decoder(encoding)

    `build(input_shape)` is optional: the bench calls it once, with the shape of
    a batch of images (None, height, width, channels), before the first `get`,
    for layers that depend on that shape. It need not call `super().build`
    (Keras marks the model built once it returns).

    Optional: `decode(code)` (codes back to images) opens `bench interpolate`
    and the decoder's export; with `prior(count, seed)` too, `bench sample`.

    Loss terms: the bench trains `loss(reconstruction, images)` plus every
    term `get` adds during the same call with `self.add_penalty(name, value)`
    (like Keras's `add_loss`, but named: each is logged as `<name>_loss`);
    `self.weight_decay(kernel, l2_penalty)` is its shorthand for DTB's L2
    term (`self.decay_kernels(layers, l2_penalty)`: for each layer's kernel). A `loss` that needs more than the reconstruction (StackedCAE's
    per-block errors) gets it through its arguments: `get` returns a third
    value, a dict, and `loss` receives its items as keyword arguments::

        def get(self, images, train_phase=False, l2_penalty=0.0):
            ...
            return code, output, {"block_errors": errors}

        def loss(self, predictions, real_values, block_errors):
            return tf.add_n(block_errors)

    The bench calls a model only through `forward`, which runs `get` and
    collects all of this.

    Random numbers: draw them in `get` with `self.random_normal(shape)`,
    `self.random_uniform(shape, low, high)` or, for any of TensorFlow's
    stateless random ops, `seed=self.random_seed()`. Each draw is a function of
    (the run's seed, the training step, which draw of the pass it is), so a
    run stopped and resumed draws exactly what an uninterrupted run draws and
    ends with its numbers. `tf.random.normal` and `tf.random.uniform` draw from
    a global state that no checkpoint holds: a resumed run would draw others.
    Keras layers that draw (Dropout, GaussianNoise) keep their seed state in
    the model's variables, which checkpoints hold: they resume exactly too::

        def get(self, images, train_phase=False, l2_penalty=0.0):
            mean, log_variance = ...
            code = mean
            if train_phase:
                code += tf.exp(0.5 * log_variance) * self.random_normal(tf.shape(mean))

    Model options: the keyword arguments of `__init__` are the options users
    set with `--model-args '{"name": value}'` (JSON, or a mapping in YAML);
    document them in the class docstring. Give each a default. Accept
    `**kwargs` and pass them to `super().__init__` to offer the base options
    too: `loss` ("mse", DTB's ½·mean((x − x̃)²), or "cross_entropy", sigmoid
    cross-entropy on pixels mapped to [0, 1]) and `pixel_range` ((-1, 1) or
    (0, 1)). A model with a linear last layer returns
    `self.to_pixels(last_layer_output)` so that both losses work.

    Pixel range: the bench hands `get` images in the model's `pixel_range`,
    (-1, 1) (DTB's) unless the model declares another default for it in its
    own `__init__` (`pixel_range=(0.0, 1.0)`, the tutorials' choice), and
    `loss` compares in that range; the metrics the bench reports (error, mse,
    psnr, ssim: bench.model.metrics) are measured on their stated scales whatever the model's range.

    Class attributes:
        input_size: (height, width) the model works at, or None for any size.
            When set, the bench resizes the images to it (bilinear) before
            `get`, and the loss and every metric compare at that size.
    """

    input_size = None
    LOSSES = ("mse", "cross_entropy")
    PIXEL_RANGES = ((-1.0, 1.0), (0.0, 1.0))
    BENCH_RANGE = (-1.0, 1.0)

    def __init__(self, loss: Literal["mse", "cross_entropy"] = "mse", pixel_range=(-1.0, 1.0), **kwargs):
        """Args:
        loss: the reconstruction loss, "mse" or "cross_entropy".
        pixel_range: (low, high) of the images `get` receives and the
            reconstruction it returns: (-1, 1) or (0, 1).
        """
        if loss not in self.LOSSES:
            raise ValueError(f"loss must be one of {', '.join(self.LOSSES)}, got {loss!r}")
        pixel_range = tuple(float(bound) for bound in pixel_range)
        if pixel_range not in self.PIXEL_RANGES:
            raise ValueError(f"pixel_range must be [-1, 1] or [0, 1], got {list(pixel_range)}")
        super().__init__(name=kwargs.pop("name", type(self).__name__), **kwargs)
        self.loss_kind = loss
        object.__setattr__(self, "pixel_range", pixel_range)
        # keras.Model.__init__ sets `self.loss = None` (for compile()), which
        # would hide this interface's loss method.
        vars(self).pop("loss", None)
        # Kept out of Keras' attribute tracking: the terms of the current `forward`, and where
        # its random draws start ({"base": (stream, step) or None, "calls": draws so far}).
        object.__setattr__(self, "_bench_terms", {})
        object.__setattr__(self, "_bench_random", {"base": None, "calls": 0})

    def get(self, images, train_phase=False, l2_penalty=0.0):
        """Encode and reconstruct a batch.

        Args:
            images: float32 tensor (batch, height, width, channels) in the
                model's pixel_range ([-1, 1] by default).
            train_phase: True while training: switches dropout and noise on.
            l2_penalty: DTB's weight decay factor. Call
                `self.weight_decay(kernel, l2_penalty)` for each kernel you
                want regularized (each contributes l2_penalty * ½‖W‖²).

        Returns:
            (encoding, reconstruction): the code, of any shape, and the
            reconstruction, of exactly the shape of `images`; or
            (encoding, reconstruction, {name: value}) to hand `loss` more
            keyword arguments.
        """
        raise NotImplementedError(f"{type(self).__name__}.get() is not implemented")

    def decode(self, code):
        """Optional: the reconstruction, in the model's pixel range, of a batch of codes
        shaped as `get` returns them (the batch first).

        A model that defines it can be interpolated (`bench interpolate`), have its
        decoder exported (`bench export --part decoder`) and, with `prior`, be
        sampled (`bench sample`). `get` usually calls it: the built-in models do.
        """
        raise NotImplementedError(f"{type(self).__name__} defines no decode(code)")

    def prior(self, count, seed):
        """Optional: `count` codes drawn from the model's prior (a VAE's N(0, I)), for
        `bench sample`; `seed` is a (2,) int32 tensor for TensorFlow's stateless random ops."""
        raise NotImplementedError(f"{type(self).__name__} has no prior(count, seed) to sample from")

    def loss(self, predictions, real_values):
        """The scalar reconstruction loss: the `loss` option's, unless overridden.

        Args:
            predictions: the reconstruction returned by `get`, in the pixel range.
            real_values: the images the reconstruction should match, in the pixel range.
            An override may take more keyword arguments: the items of the dict
            `get` returned third.
        """
        return tf.reduce_mean(self.pixel_losses(predictions, real_values))

    def pixel_losses(self, predictions, real_values):
        """The per-pixel loss of the `loss` option, same shape as the images.

        "mse": ½·(x − x̃)² in the model's pixel range; "cross_entropy": binary
        cross-entropy of the pixels mapped to [0, 1], the reconstruction
        clipped to (1e-7, 1 − 1e-7).
        """
        if self.loss_kind == "cross_entropy":
            low, high = self.pixel_range
            targets = (real_values - low) / (high - low)
            probabilities = tf.clip_by_value((predictions - low) / (high - low), 1e-7, 1.0 - 1e-7)
            return -(targets * tf.math.log(probabilities) + (1.0 - targets) * tf.math.log(1.0 - probabilities))
        return 0.5 * tf.square(predictions - real_values)

    def to_pixels(self, outputs):
        """A linear layer's outputs as a reconstruction for the `loss` option: unchanged
        for "mse", sigmoid(outputs) stretched over the pixel range for "cross_entropy"."""
        if self.loss_kind == "cross_entropy":
            low, high = self.pixel_range
            return low + (high - low) * tf.sigmoid(outputs)
        return outputs

    def own_pixels(self, images):
        """Images in the bench's [-1, 1] as this model's pixel range (what `get` takes)."""
        low, high = self.pixel_range
        if (low, high) == self.BENCH_RANGE:
            return images
        return low + (images + 1.0) * ((high - low) / 2.0)

    def bench_pixels(self, values):
        """Values in this model's pixel range (a reconstruction) on the bench's [-1, 1],
        where the reported metrics are measured."""
        low, high = self.pixel_range
        if (low, high) == self.BENCH_RANGE:
            return values
        return (values - low) * (2.0 / (high - low)) - 1.0

    def weight_decay(self, kernel, l2_penalty):
        """In `get`: add l2_penalty * ½‖kernel‖² (tf.nn.l2_loss) to the "l2" term."""
        if l2_penalty:
            self.add_penalty("l2", l2_penalty * tf.nn.l2_loss(kernel))

    def decay_kernels(self, layers, l2_penalty):
        """In `get`: `weight_decay` of the kernel of each of `layers` that has one, in order."""
        for layer in layers:
            if hasattr(layer, "kernel"):
                self.weight_decay(layer.kernel, l2_penalty)

    def add_penalty(self, name, value):
        """In `get`: add a scalar term, logged as `<name>_loss`, to this pass's training
        loss (terms of the same name add up)."""
        if name == RECONSTRUCTION_TERM:
            raise ValueError(f"{RECONSTRUCTION_TERM!r} is the name of the loss term; name your term otherwise")
        terms = self._bench_terms
        terms[name] = terms[name] + value if name in terms else value

    def random_seed(self):
        """In `get`: a new seed, a (2,) int64 tensor, for one of TensorFlow's stateless random
        ops (`tf.random.stateless_normal(shape, seed=self.random_seed())`, ...).

        The k-th call of a pass gives a seed that depends only on the run's seed, the
        training step (and replica) and k: a resumed run draws what an uninterrupted one
        draws. Outside training (evaluation, export, building) the step is 0 and the
        stream fixed, so the same images always give the same outputs.
        """
        state = self._bench_random
        state["calls"] += 1
        stream, step = state["base"] if state["base"] is not None else (0, 0)
        return tf.stack([seeds.model_draw(tf.cast(stream, tf.int64), state["calls"]), tf.cast(step, tf.int64)])

    def random_normal(self, shape, mean=0.0, stddev=1.0, dtype=tf.float32):
        """In `get`: normal random numbers drawn from `random_seed()` (exact on resume)."""
        return tf.random.stateless_normal(shape, self.random_seed(), mean=mean, stddev=stddev, dtype=dtype)

    def random_uniform(self, shape, minval=0.0, maxval=1.0, dtype=tf.float32):
        """In `get`: uniform random numbers in [minval, maxval) drawn from `random_seed()` (exact on resume)."""
        return tf.random.stateless_uniform(shape, self.random_seed(), minval=minval, maxval=maxval, dtype=dtype)

    def keep(self, **values):
        """Removed: return a dict third from `get`; `loss` receives its items as keyword arguments."""
        raise NotImplementedError(_KEEP_REMOVED)

    def kept(self, name):
        """Removed: see `keep`."""
        raise NotImplementedError(_KEEP_REMOVED)

    def forward(self, images, train_phase=False, l2_penalty=0.0, targets=None, random_seed=None):
        """The bench's one way into a model: `get`, then the loss terms of that pass.

        Args:
            images: the input batch in the model's pixel range.
            train_phase, l2_penalty: passed on to `get`.
            targets: what the reconstruction should match (in the pixel
                range); when given, `loss` is computed as the "reconstruction" term.
            random_seed: (stream, step) integers (or tensors) that the pass's random draws
                (`random_seed()`) derive from; None: the fixed (0, 0) of evaluation.

        Returns:
            Forward(encoding, reconstruction, terms).
        """
        self._bench_terms.clear()
        self._bench_random.update(base=random_seed, calls=0)
        try:
            outputs = self.get(images, train_phase=train_phase, l2_penalty=l2_penalty)
            added = {name: tf.cast(value, tf.float32) for name, value in self._bench_terms.items()}
        finally:
            self._bench_terms.clear()
            self._bench_random.update(base=None, calls=0)
        if not isinstance(outputs, (tuple, list)) or len(outputs) not in (2, 3):
            raise TypeError("get() must return (encoding, reconstruction) or (encoding, reconstruction, "
                            f"{{name: value}} for loss), got {type(outputs).__name__}")
        encoding, reconstruction, for_loss = (*outputs, {}) if len(outputs) == 2 else outputs
        reconstruction = tf.cast(reconstruction, tf.float32)  # losses and metrics in float32 under mixed precision
        terms = {}
        if targets is not None:
            terms[RECONSTRUCTION_TERM] = tf.cast(self.loss(reconstruction, targets, **for_loss), tf.float32)
        return Forward(encoding, reconstruction, {**terms, **added})

    def call(self, images, training=False):
        """Keras' entry point: the reconstruction of `images`."""
        return self.forward(images, train_phase=training).reconstruction


def defines(model, method):
    """Whether a model overrides one of the optional methods (`decode`, `prior`)."""
    return getattr(type(model), method) is not getattr(Autoencoder, method)


_KEEP_REMOVED = ("self.keep()/self.kept() were removed in bench 0.2: return (encoding, reconstruction, "
                 "{name: value}) from get() and take those names as keyword arguments of loss()")
