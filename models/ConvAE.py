import keras

from bench import Autoencoder


class ConvAE(Autoencoder):
    """The TF tutorials' convolutional autoencoder: conv-conv-pool blocks of 16, 8, 8 filters and back.

    Encoder: for each filter count, two 3x3 SAME convolutions (ReLU) then 2x2
    max pooling, or a 3x3 stride-2 convolution with downsample="stride".
    Decoder: a 3x3 stride-2 transposed convolution (ReLU) per count in reverse,
    a linear 3x3 transposed convolution to the input depth, and a centre crop
    to the input size (28 → 32 → 28 on MNIST). On MNIST with pooling: 7,873
    parameters.

    Options:
        filters: filter counts of the blocks ([16, 8, 8]).
        downsample: "pool" (2x2 max pooling) or "stride" (3x3 stride-2 convolution).
        loss: "mse" (default) or "cross_entropy" (the output goes through a sigmoid).
    """

    def __init__(self, filters=(16, 8, 8), downsample="pool", **kwargs):
        super().__init__(**kwargs)
        if downsample not in ("pool", "stride"):
            raise ValueError(f"downsample must be 'pool' or 'stride', got {downsample!r}")
        self.encoder = []
        for count in filters:
            self.encoder += [keras.layers.Conv2D(count, 3, padding="same", activation="relu"),
                             keras.layers.Conv2D(count, 3, padding="same", activation="relu")]
            self.encoder.append(keras.layers.MaxPooling2D(2, padding="same") if downsample == "pool" else
                                keras.layers.Conv2D(count, 3, strides=2, padding="same", activation="relu"))
        self.decoder = [keras.layers.Conv2DTranspose(count, 3, strides=2, padding="same", activation="relu")
                        for count in reversed(filters)]

    def build(self, input_shape):
        self.output_layer = keras.layers.Conv2DTranspose(input_shape[-1], 3, padding="same")

    def get(self, images, train_phase=False, l2_penalty=0.0):
        x = images
        for layer in self.encoder:
            x = layer(x)
            if hasattr(layer, "kernel"):
                self.weight_decay(layer.kernel, l2_penalty)
        code = x
        for layer in self.decoder + [self.output_layer]:
            x = layer(x)
            self.weight_decay(layer.kernel, l2_penalty)
        height, width = images.shape[1], images.shape[2]
        top, left = (x.shape[1] - height) // 2, (x.shape[2] - width) // 2
        return code, self.to_pixels(x[:, top:top + height, left:left + width, :])
