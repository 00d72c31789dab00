from typing import Literal

import keras
import tensorflow as tf

from bench import Autoencoder


class ConvAE(Autoencoder):
    """The TF tutorials' convolutional autoencoder: conv-conv-pool blocks of 16, 8, 8 filters and back.

    As in the convolutional autoencoder of "Denoising Autoencoder as
    TensorFlow estimator" (S. Pölsterl, 2017/2018; github.com/sebp/tf_autoencoder):
    pixels in [0, 1], sigmoid cross-entropy loss, He initialisation (factor 2,
    fan-in, truncated normal), zero biases, L2 (--l2-penalty) on every kernel.

    Encoder: for each filter count, two 3x3 SAME convolutions (ReLU) then 2x2
    VALID max pooling; a block whose input has an odd side is zero-padded at
    the bottom and right to an even one first (MNIST: 28 → 14 → 7, padded to
    8 → 4). With downsample="stride", a 3x3 stride-2 SAME convolution replaces
    the pooling (and the padding). Decoder: a 3x3 stride-2 transposed
    convolution (ReLU) per count in reverse, a linear 3x3 transposed
    convolution to the input depth, a sigmoid (cross-entropy) and a centre crop
    to the input size (MNIST: 4 → 32 → 28). On MNIST with pooling: 7,873
    parameters. Difference: the cross-entropy is computed from the sigmoid's
    output clipped to (1e-7, 1 − 1e-7), not from the logits (the same until a
    pixel saturates).

    Options:
        filters: filter counts of the blocks ([16, 8, 8]).
        downsample: "pool" (2x2 max pooling) or "stride" (3x3 stride-2 convolution).
        init: the kernels' Keras initializer ("he_normal"; "glorot_uniform" is Keras' default).
        loss: "cross_entropy" (the tutorial's, default) or "mse".
        pixel_range: [0, 1] (the tutorial's, default) or [-1, 1].
    """

    def __init__(self, filters=(16, 8, 8), downsample: Literal["pool", "stride"] = "pool", init="he_normal",
                 loss: Literal["cross_entropy", "mse"] = "cross_entropy",
                 pixel_range=(0.0, 1.0), **kwargs):
        super().__init__(loss=loss, pixel_range=pixel_range, **kwargs)
        if downsample not in ("pool", "stride"):
            raise ValueError(f"downsample must be 'pool' or 'stride', got {downsample!r}")
        self.init, self.pools = init, downsample == "pool"
        self.encoder = []
        for count in filters:
            self.encoder += [self.convolution(count), self.convolution(count)]
            self.encoder.append(keras.layers.MaxPooling2D(2, padding="valid") if self.pools else
                                self.convolution(count, strides=2))
        self.decoder = [keras.layers.Conv2DTranspose(count, 3, strides=2, padding="same", activation="relu",
                                                     kernel_initializer=init) for count in reversed(filters)]

    def convolution(self, count, strides=1):
        """A 3x3 SAME ReLU convolution with the model's initializer."""
        return keras.layers.Conv2D(count, 3, strides=strides, padding="same", activation="relu",
                                   kernel_initializer=self.init)

    def build(self, input_shape):
        self.image_hw = (input_shape[1], input_shape[2])
        self.output_layer = keras.layers.Conv2DTranspose(input_shape[-1], 3, padding="same",
                                                         kernel_initializer=self.init)

    @staticmethod
    def pad_to_even(x):
        """Zero rows at the bottom and columns at the right up to even sides (7x7 → 8x8)."""
        height, width = x.shape[1], x.shape[2]
        if height % 2 == 0 and width % 2 == 0:
            return x
        return tf.pad(x, [[0, 0], [0, height % 2], [0, width % 2], [0, 0]])

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = images
        for index, layer in enumerate(self.encoder):
            if self.pools and index % 3 == 0:  # a block starts: VALID pooling needs even sides
                x = self.pad_to_even(x)
            x = layer(x)
        self.decay_kernels(self.encoder, l2_penalty)
        reconstruction = self.decode(x)
        self.decay_kernels(self.decoder + [self.output_layer], l2_penalty)
        return x, reconstruction

    def decode(self, code):
        x = code
        for layer in self.decoder + [self.output_layer]:
            x = layer(x)
        height, width = self.image_hw
        top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
        return self.to_pixels(x[:, top:top + height, left:left + width, :])
