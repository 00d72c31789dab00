"""The model plugin interface."""

import keras
import tensorflow as tf


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

    The bench trains `loss(reconstruction, images) + sum of penalties`, where
    the penalties are what `get` registered through `weight_decay` and
    `add_penalty` during that same call.

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
    psnr) are measured on their stated scales whatever the model's range.

    Class attributes:
        input_size: (height, width) the model works at, or None for any size.
            When set, the bench resizes the images to it (bilinear) before
            `get`, and the loss and every metric compare at that size.
    """

    input_size = None
    LOSSES = ("mse", "cross_entropy")
    PIXEL_RANGES = ((-1.0, 1.0), (0.0, 1.0))
    BENCH_RANGE = (-1.0, 1.0)

    def __init__(self, loss="mse", pixel_range=(-1.0, 1.0), **kwargs):
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
        # Kept out of Keras' attribute tracking: these are per-call tensors.
        object.__setattr__(self, "_bench_penalties", {})
        object.__setattr__(self, "_bench_kept", {})

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
            reconstruction, of exactly the shape of `images`.
        """
        raise NotImplementedError(f"{type(self).__name__}.get() is not implemented")

    def loss(self, predictions, real_values):
        """The scalar reconstruction loss: the `loss` option's, unless overridden.

        Args:
            predictions: the reconstruction returned by `get`, in the pixel range.
            real_values: the images the reconstruction should match, in the pixel range.
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
        """Add l2_penalty * ½‖kernel‖² (tf.nn.l2_loss) to the "l2" penalty."""
        if l2_penalty:
            self.add_penalty("l2", l2_penalty * tf.nn.l2_loss(kernel))

    def add_penalty(self, name, value):
        """Add a scalar term, logged under `name`, to this call's training loss."""
        terms = self._bench_penalties
        terms[name] = terms[name] + value if name in terms else value

    def keep(self, **values):
        """Keep tensors that `get` computed for `loss` to use (the bench calls
        `loss` right after `get`, in the same step): e.g. `self.keep(logits=z)`."""
        self._bench_kept.update(values)

    def kept(self, name):
        """A tensor that this step's `get` kept under `name`."""
        return self._bench_kept[name]

    def pop_penalties(self):
        """The penalties registered since the last call, as {name: scalar}; clears them."""
        terms = dict(self._bench_penalties)
        self._bench_penalties.clear()
        return terms

    def call(self, images, training=False):
        """Keras' entry point: the reconstruction of `images`."""
        return self.get(images, train_phase=training)[1]
