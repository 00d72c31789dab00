import math
from typing import Literal

import keras
import tensorflow as tf

from bench import Autoencoder


class VAE(Autoencoder):
    """A convolutional variational autoencoder (Kingma & Welling, 2014), β-weighted KL, the mean as encoding.

    Encoder: 3x3 stride-2 convolutions (ReLU) of `filters`, then a dense layer
    to a mean and a log-variance of `latent_dim` units. While training the
    code is sampled with the reparameterisation trick; otherwise it is the
    mean (the encoding bench reports and projects). Decoder: a dense layer,
    3x3 stride-2 transposed convolutions in reverse, a linear 3x3 convolution
    to the input depth, cropped to the input size.

    Loss: the reconstruction term summed over each image's pixels (loss
    option, cross-entropy by default), averaged over the batch, plus
    β · KL(q(z|x) ‖ N(0, I)) per image, logged as `kl_loss`.

    Options:
        latent_dim: code units (16).
        filters: convolution filter counts ([32, 64]).
        beta: weight of the KL term (1.0; 0 disables it).
        loss: "cross_entropy" (default) or "mse".
    """

    def __init__(self, latent_dim=16, filters=(32, 64), beta=1.0,
                 loss: Literal["cross_entropy", "mse"] = "cross_entropy", **kwargs):
        super().__init__(loss=loss, **kwargs)
        self.beta, self.filters, self.latent_dim = beta, tuple(filters), latent_dim
        self.encoder = [keras.layers.Conv2D(count, 3, strides=2, padding="same", activation="relu")
                        for count in filters]
        self.moments = keras.layers.Dense(2 * latent_dim)

    def build(self, input_shape):
        self.image_hw = (input_shape[1], input_shape[2])
        shrink = 2 ** len(self.filters)
        self.grid = (math.ceil(input_shape[1] / shrink), math.ceil(input_shape[2] / shrink), self.filters[-1])
        self.expand = keras.layers.Dense(math.prod(self.grid), activation="relu")
        self.decoder = [keras.layers.Conv2DTranspose(count, 3, strides=2, padding="same", activation="relu")
                        for count in reversed(self.filters)]
        self.output_layer = keras.layers.Conv2D(input_shape[-1], 3, padding="same")

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = images
        for layer in self.encoder:
            x = layer(x)
        self.decay_kernels(self.encoder, l2_penalty)
        mean, log_variance = tf.split(self.moments(tf.reshape(x, (-1, math.prod(x.shape[1:])))), 2, axis=1)
        kl = -0.5 * tf.reduce_sum(1 + log_variance - tf.square(mean) - tf.exp(log_variance), axis=1)
        self.add_penalty("kl", self.beta * tf.reduce_mean(kl))
        code = mean
        if train_phase:
            code = mean + tf.exp(0.5 * log_variance) * self.random_normal(tf.shape(mean), dtype=mean.dtype)
        reconstruction = self.decode(code)
        self.decay_kernels(self.decoder + [self.output_layer], l2_penalty)
        return mean, reconstruction

    def decode(self, code):
        x = tf.reshape(self.expand(code), (-1,) + self.grid)
        for layer in self.decoder + [self.output_layer]:
            x = layer(x)
        height, width = self.image_hw
        return self.to_pixels(x[:, :height, :width, :])

    def prior(self, count, seed):
        """Codes drawn from N(0, I)."""
        return tf.random.stateless_normal((count, self.latent_dim), seed)

    def loss(self, predictions, real_values):
        """The reconstruction term: per-pixel losses summed over each image, mean over the batch."""
        return tf.reduce_mean(tf.reduce_sum(self.pixel_losses(predictions, real_values), axis=[1, 2, 3]))
