import math

import keras
import tensorflow as tf

from bench import Autoencoder


class ContractiveAE(Autoencoder):
    """A contractive autoencoder (Rifai et al., 2011): the exact Jacobian norm of a sigmoid encoder is penalised.

    Encoder: one dense sigmoid layer h = σ(Wx + b) to `code_size` units;
    decoder: a linear dense layer to the pixels. The penalty, logged as
    `contractive_loss`, is strength · ‖∂h/∂x‖²_F averaged over the batch,
    computed exactly in closed form: Σ_j (h_j(1 − h_j))² Σ_i W_ij².

    Options:
        code_size: code units (256).
        strength: the penalty's weight (1e-4; 0 disables it).
        loss: "mse" (default) or "cross_entropy".
    """

    def __init__(self, code_size=256, strength=1e-4, **kwargs):
        super().__init__(**kwargs)
        self.strength = strength
        self.encoder = keras.layers.Dense(code_size, activation="sigmoid")

    def build(self, input_shape):
        self.image_shape = tuple(input_shape[1:])
        self.decoder = keras.layers.Dense(math.prod(input_shape[1:]))

    def jacobian_norm(self, code):
        """‖∂h/∂x‖²_F of each example, exactly, for h = σ(Wx + b)."""
        column_norms = tf.reduce_sum(tf.square(self.encoder.kernel), axis=0)  # Σ_i W_ij²
        return tf.reduce_sum(tf.square(code * (1 - code)) * column_norms, axis=1)

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = tf.reshape(images, (-1, math.prod(images.shape[1:])))
        code = self.encoder(x)
        self.weight_decay(self.encoder.kernel, l2_penalty)
        self.add_penalty("contractive", self.strength * tf.reduce_mean(self.jacobian_norm(code)))
        reconstruction = self.decode(code)
        self.weight_decay(self.decoder.kernel, l2_penalty)
        return code, reconstruction

    def decode(self, code):
        return tf.reshape(self.to_pixels(self.decoder(code)), (-1,) + self.image_shape)
