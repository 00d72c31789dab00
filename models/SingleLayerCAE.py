import keras
import tensorflow as tf

from bench import Autoencoder


class SingleLayerCAE(Autoencoder):
    """DTB's single-layer convolutional autoencoder: 3x3 conv to 32 tanh filters and back.

    DTB's model (models/SingleLayerCAE.py there): the input, in [-1, 1], is
    zero-padded by 2, a 3x3 VALID convolution encodes it to 32 feature maps
    with tanh (its kernel under L2), and a 3x3 VALID convolution decodes them
    back to the input depth with tanh (not regularized), so the output has the
    input's size. Kernels start from He initialisation (DTB's
    variance_scaling_initializer: factor 2, fan-in, truncated normal), biases
    from zero. Loss: ½·mean((x − x̃)²). The encoder has 288 weights on MNIST,
    864 on CIFAR-10. No known difference from DTB.

    DTB's published validation error after 150 epochs (Adam, lr 1e-5, batch
    1024: configs/dtb-blog-*.yaml): MNIST 0.00216 (0.00225 with
    --l2-penalty 1e-9), CIFAR-10 0.02541 (0.03058).

    Options:
        init: the kernels' Keras initializer ("he_normal", DTB's; "glorot_uniform"
            is Keras' default).
    """

    def __init__(self, init="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.init = init
        self.encoder = keras.layers.Conv2D(32, 3, padding="valid", activation="tanh", kernel_initializer=init,
                                           name="encode")

    def build(self, input_shape):
        self.decoder = keras.layers.Conv2D(input_shape[-1], 3, padding="valid", activation="tanh",
                                           kernel_initializer=self.init, name="decode")

    def get(self, images, train_phase=False, l2_penalty=0.0):
        padded = tf.pad(images, [[0, 0], [2, 2], [2, 2], [0, 0]])
        encoding = self.encoder(padded)
        self.weight_decay(self.encoder.kernel, l2_penalty)
        return encoding, self.decode(encoding)

    def decode(self, code):
        return self.decoder(code)
