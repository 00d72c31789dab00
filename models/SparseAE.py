import math
from typing import Literal

import keras
import tensorflow as tf

from bench import Autoencoder


class SparseAE(Autoencoder):
    """A fully-connected autoencoder whose code is kept sparse by an L1 or KL penalty on its activations.

    Encoder: dense ReLU layers of `hidden_units`, then a sigmoid code of
    `code_size` units; decoder: the mirror image and a linear layer to the
    pixels. The penalty, logged as `sparsity_loss`, is strength times either
    the mean L1 norm of the codes ("l1"), or the KL divergence from a target
    activation rate ρ to each code unit's mean activation over the batch,
    summed over units ("kl", Ng's sparse autoencoder).

    Options:
        hidden_units: dense layers before the code ([256]).
        code_size: code units (64).
        sparsity: "l1" or "kl" ("kl").
        strength: the penalty's weight (1e-3; 0 disables it).
        target: ρ, the target mean activation for "kl" (0.05).
        loss: "mse" (default) or "cross_entropy".
    """

    def __init__(self, hidden_units=(256,), code_size=64, sparsity: Literal["l1", "kl"] = "kl", strength=1e-3, target=0.05, **kwargs):
        super().__init__(**kwargs)
        if sparsity not in ("l1", "kl"):
            raise ValueError(f"sparsity must be 'l1' or 'kl', got {sparsity!r}")
        if not 0 < target < 1:
            raise ValueError(f"target must be in (0, 1), got {target}")
        self.sparsity, self.strength, self.target = sparsity, strength, target
        self.encoder = [keras.layers.Dense(units, activation="relu") for units in hidden_units]
        self.code = keras.layers.Dense(code_size, activation="sigmoid")
        self.decoder = [keras.layers.Dense(units, activation="relu") for units in reversed(hidden_units)]

    def build(self, input_shape):
        self.image_shape = tuple(input_shape[1:])
        self.output_layer = keras.layers.Dense(math.prod(input_shape[1:]))

    def sparsity_penalty(self, code):
        """strength · (mean ‖code‖₁, or Σ_units KL(ρ ‖ mean activation))."""
        if self.sparsity == "l1":
            return self.strength * tf.reduce_mean(tf.reduce_sum(tf.abs(code), axis=1))
        rate = tf.clip_by_value(tf.reduce_mean(code, axis=0), 1e-6, 1 - 1e-6)
        rho = self.target
        kl = rho * tf.math.log(rho / rate) + (1 - rho) * tf.math.log((1 - rho) / (1 - rate))
        return self.strength * tf.reduce_sum(kl)

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = tf.reshape(images, (-1, math.prod(images.shape[1:])))
        for layer in self.encoder:
            x = layer(x)
        code = self.code(x)
        self.decay_kernels(self.encoder + [self.code], l2_penalty)
        self.add_penalty("sparsity", self.sparsity_penalty(code))
        reconstruction = self.decode(code)
        self.decay_kernels(self.decoder + [self.output_layer], l2_penalty)
        return code, reconstruction

    def decode(self, code):
        x = code
        for layer in self.decoder + [self.output_layer]:
            x = layer(x)
        return tf.reshape(self.to_pixels(x), (-1,) + self.image_shape)
