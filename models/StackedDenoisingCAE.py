import tensorflow as tf

from bench import plugin_class

StackedCAE = plugin_class("model", "StackedCAE")


class StackedDenoisingCAE(StackedCAE):
    """DTB's stacked denoising CAE: StackedCAE with ReLU codes, noisy block inputs, clean targets.

    While training, uniform noise in [-noise, noise] is added to each block's
    input (clipped to the pixel range), and every block's error is measured
    against the clean input images. He initialisation, as StackedCAE. No
    known difference from DTB.

    Options:
        blocks, filters, dropout, init: as StackedCAE (9, 9, 0.5, "he_normal").
        noise: the amplitude of the uniform noise (0.5).
    """

    encoder_activation = "relu"

    def __init__(self, blocks=9, filters=9, dropout=0.5, init="he_normal", noise=0.5, **kwargs):
        super().__init__(blocks=blocks, filters=filters, dropout=dropout, init=init, **kwargs)
        self.noise = noise

    def block_input(self, block_input, train_phase):
        if not train_phase or not self.noise:
            return block_input
        noise = self.random_uniform(tf.shape(block_input), -self.noise, self.noise, dtype=block_input.dtype)
        return tf.clip_by_value(block_input + noise, *self.pixel_range)

    def block_target(self, block_input, images):
        return images
