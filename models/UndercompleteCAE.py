import keras

from bench import Autoencoder


class UndercompleteCAE(Autoencoder):
    """The tutorial's undercomplete CAE: 5x5 convolutions with strides 2, 2, 4 down to a 2x2x8 code, and back.

    Works at 32x32 (input_size): the bench resizes MNIST's 28x28 images to
    32x32 and compares the reconstruction at that size, as the tutorial does;
    CIFAR-10 is used as it is. Encoder: 5x5 convolutions (ReLU) with stride 2,
    2, 4 to 32, 16, 8 filters (32 → 16 → 8 → 2); decoder: 5x5 transposed
    convolutions with stride 4, 2, 2 to 16, 32 filters (ReLU) and the input
    depth (tanh). Kernels under L2. Pixels in [0, 1], as the tutorial trains:
    on [-1, 1] this network collapses to a constant image (a plain-Keras copy
    too). Keras' default initialisation (glorot_uniform, zero biases), ½·mean((x − x̃)²).

    Options:
        filters: the encoder's filter counts ([32, 16, 8]); the decoder mirrors them.
        pixel_range: [0, 1] (default) or [-1, 1].
    """

    input_size = (32, 32)

    def __init__(self, filters=(32, 16, 8), pixel_range=(0.0, 1.0), **kwargs):
        super().__init__(pixel_range=pixel_range, **kwargs)
        self.encoder = [keras.layers.Conv2D(count, 5, strides=stride, padding="same", activation="relu")
                        for count, stride in zip(filters, (2, 2, 4))]
        self.decoder = [keras.layers.Conv2DTranspose(count, 5, strides=stride, padding="same", activation="relu")
                        for count, stride in zip(list(reversed(filters))[1:], (4, 2))]

    def build(self, input_shape):
        self.output_layer = keras.layers.Conv2DTranspose(input_shape[-1], 5, strides=2, padding="same",
                                                         activation="tanh")

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = images
        for layer in self.encoder:
            x = layer(x)
        self.decay_kernels(self.encoder, l2_penalty)
        reconstruction = self.decode(x)
        self.decay_kernels(self.decoder + [self.output_layer], l2_penalty)
        return x, reconstruction

    def decode(self, code):
        x = code
        for layer in self.decoder + [self.output_layer]:
            x = layer(x)
        return x
