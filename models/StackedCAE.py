import keras
import tensorflow as tf

from bench import Autoencoder


class StackedCAE(Autoencoder):
    """DTB's stacked convolutional autoencoder: 9 single-layer CAE blocks trained greedily in one model.

    Each block: zero-pad 2, 3x3 VALID convolution to 9 feature maps (tanh,
    kernel under L2), dropout while training, 3x3 VALID convolution back to the
    input depth (tanh). Block k+1 reconstructs block k's output, with the
    gradient stopped in between, so every block learns on its own; the loss is
    the sum of the blocks' errors ½·mean((input_k − output_k)²) (or, with the
    `loss` option "cross_entropy", of their cross-entropies). The encoding is
    the last block's code, the reconstruction the last block's output.
    Kernels start from He initialisation (DTB's: factor 2, fan-in, truncated
    normal), biases from zero; pixels in [-1, 1]. No known difference from DTB.

    Options:
        blocks: number of blocks (9).
        filters: feature maps of each block's code (9).
        dropout: dropout rate on the code while training (0.5).
        init: the kernels' Keras initializer ("he_normal", DTB's; or "glorot_uniform", ...).
    """

    encoder_activation = "tanh"

    def __init__(self, blocks=9, filters=9, dropout=0.5, init="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.init = init
        self.encoders = [keras.layers.Conv2D(filters, 3, padding="valid", activation=self.encoder_activation,
                                             kernel_initializer=init, name=f"encode_{k + 1}") for k in range(blocks)]
        self.dropouts = [keras.layers.Dropout(dropout) for _ in range(blocks)]

    def build(self, input_shape):
        self.decoders = [keras.layers.Conv2D(input_shape[-1], 3, padding="valid", activation="tanh",
                                             kernel_initializer=self.init, name=f"decode_{k + 1}")
                         for k in range(len(self.encoders))]

    def block_input(self, block_input, train_phase):
        """What a block sees: its input as is (the denoising variant adds noise)."""
        return block_input

    def block_target(self, block_input, images):
        """What a block must reconstruct: its own input."""
        return block_input

    def get(self, images, train_phase=False, l2_penalty=0.0):
        block_input, errors = images, []
        for encoder, dropout, decoder in zip(self.encoders, self.dropouts, self.decoders):
            padded = tf.pad(self.block_input(block_input, train_phase), [[0, 0], [2, 2], [2, 2], [0, 0]])
            code = encoder(padded)
            self.weight_decay(encoder.kernel, l2_penalty)
            output = decoder(dropout(code, training=train_phase))
            errors.append(tf.reduce_mean(self.pixel_losses(output, self.block_target(block_input, images))))
            block_input = tf.stop_gradient(output)
        return code, output, {"block_errors": errors}

    def decode(self, code):
        """The last block's decoder: the reconstruction `get` returns for that block's code."""
        return self.decoders[-1](code)

    def loss(self, predictions, real_values, block_errors):
        """The sum of every block's reconstruction loss (greedy layer-wise training)."""
        return tf.add_n(block_errors)
