import math
from typing import Literal

import keras
import tensorflow as tf

from bench import Autoencoder


class FullyConnectedAE(Autoencoder):
    """The TF estimator tutorials' fully-connected autoencoder: 128-64-32 code, mirrored decoder.

    As in "Denoising Autoencoder as TensorFlow estimator" (S. Pölsterl, 2017;
    github.com/sebp/tf_autoencoder): images are flattened, in [0, 1]; the
    encoder's dense layers have `hidden_units` (the last is the code), the
    decoder mirrors them and ends with a linear layer back to every pixel,
    trained through a sigmoid with sigmoid cross-entropy. He initialisation
    (factor 2, fan-in, truncated normal), zero biases, L2 (--l2-penalty) on
    the kernels only. On MNIST: 222,384 parameters. Differences: the
    tutorial's `dropout` is a keep probability, this one a drop rate; the
    cross-entropy is computed from the sigmoid's output clipped to
    (1e-7, 1 − 1e-7), not from the logits (the same until a pixel saturates).

    Options:
        hidden_units: encoder layer sizes, the last being the code ([128, 64, 32]).
        activation: of every hidden layer ("relu"; any Keras activation name).
        dropout: rate between layers while training (0.0: none).
        loss: "cross_entropy" (the tutorial's, default) or "mse".
        pixel_range: [0, 1] (the tutorial's, default) or [-1, 1].
    """

    def __init__(self, hidden_units=(128, 64, 32), activation="relu", dropout=0.0,
                 loss: Literal["cross_entropy", "mse"] = "cross_entropy",
                 pixel_range=(0.0, 1.0), **kwargs):
        super().__init__(loss=loss, pixel_range=pixel_range, **kwargs)
        he = keras.initializers.VarianceScaling(scale=2.0)
        sizes = list(hidden_units) + list(reversed(hidden_units[:-1]))
        self.hidden = [keras.layers.Dense(units, activation=activation, kernel_initializer=he) for units in sizes]
        self.code_index = len(hidden_units) - 1
        self.dropout = keras.layers.Dropout(dropout) if dropout else None

    def build(self, input_shape):
        he = keras.initializers.VarianceScaling(scale=2.0)
        self.image_shape = tuple(input_shape[1:])
        self.output_layer = keras.layers.Dense(math.prod(input_shape[1:]), kernel_initializer=he)

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = tf.reshape(images, (-1, math.prod(images.shape[1:])))
        for layer in self.hidden[:self.code_index + 1]:
            x = layer(self._dropped(x, train_phase) if layer is not self.hidden[0] else x)
        self.decay_kernels(self.hidden[:self.code_index + 1], l2_penalty)
        reconstruction = self.decode(x, train_phase)
        self.decay_kernels(self.hidden[self.code_index + 1:] + [self.output_layer], l2_penalty)
        return x, reconstruction

    def _dropped(self, x, train_phase):
        return x if self.dropout is None else self.dropout(x, training=train_phase)

    def decode(self, code, train_phase=False):
        x = code
        for layer in self.hidden[self.code_index + 1:] + [self.output_layer]:
            x = layer(self._dropped(x, train_phase))
        return tf.reshape(self.to_pixels(x), (-1,) + self.image_shape)
