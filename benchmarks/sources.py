"""Plain-Keras rebuilds of the models bench reproduces, written from their sources' code.

Each rebuild is what the source computes, in Keras 3 functional form and
nothing of bench's: DTB's SingleLayerCAE, StackedCAE and StackedDenoisingCAE
(github.com/galeone/dynamic-training-bench), the fully-connected and
convolutional autoencoders of S. Pölsterl's estimator tutorials
(github.com/sebp/tf_autoencoder) and the undercomplete CAE tutorial. The
tests compare bench's models with them layer by layer (shapes, settings,
initialisers, parameter counts, outputs on the same weights);
benchmarks/fidelity.py trains them next to bench on the same data.
"""

from dataclasses import dataclass, field

import keras
from keras import layers


def he():
    """TF 1's variance_scaling_initializer() (factor 2, fan-in, truncated normal):
    He initialisation, the sources' kernel initialiser."""
    return keras.initializers.VarianceScaling(2.0, "fan_in", "truncated_normal")


@dataclass
class Reference:
    """A rebuilt source model.

    model: images in `pixel_range` → `output` ("pixels", or "logits" that a sigmoid maps to [0, 1]).
    loss: "half_mse" (½·mean((x − x̃)²)) or "sigmoid_cross_entropy" (on the logits).
    regularized: the kernels under the source's L2 term (λ·½‖W‖² each).
    """

    model: keras.Model
    pixel_range: tuple
    output: str
    loss: str
    regularized: list = field(default_factory=list)


def single_layer_cae(shape):
    """DTB's SingleLayerCAE: pad 2, 3x3 VALID conv to 32 tanh maps (L2), 3x3 VALID conv back (tanh)."""
    images = keras.Input(shape)
    encoder = layers.Conv2D(32, 3, padding="valid", activation="tanh", kernel_initializer=he())
    decoder = layers.Conv2D(shape[-1], 3, padding="valid", activation="tanh", kernel_initializer=he())
    outputs = decoder(encoder(layers.ZeroPadding2D(2)(images)))
    return Reference(keras.Model(images, outputs), (-1.0, 1.0), "pixels", "half_mse", [encoder.kernel])


def stacked_cae(shape, encoder_activation="tanh", blocks=9, filters=9):
    """DTB's StackedCAE: `blocks` single-layer blocks, each reconstructing the previous
    block's (gradient-stopped) output; inference path (no dropout, no noise)."""
    images = keras.Input(shape)
    x, encoders = images, []
    for _ in range(blocks):
        encoder = layers.Conv2D(filters, 3, padding="valid", activation=encoder_activation, kernel_initializer=he())
        decoder = layers.Conv2D(shape[-1], 3, padding="valid", activation="tanh", kernel_initializer=he())
        x = decoder(layers.Dropout(0.5)(encoder(layers.ZeroPadding2D(2)(x))))
        encoders.append(encoder)
    return Reference(keras.Model(images, x), (-1.0, 1.0), "pixels", "half_mse", [e.kernel for e in encoders])


def stacked_denoising_cae(shape):
    """DTB's StackedDenoisingCAE: StackedCAE's layers with ReLU codes (noise only while training)."""
    return stacked_cae(shape, encoder_activation="relu")


def fully_connected_ae(shape, hidden_units=(128, 64, 32)):
    """The estimator tutorial's autoencoder: dense ReLU layers 128-64-32-64-128 and a linear
    layer to every pixel (logits), He initialisation, L2 on every kernel, pixels in [0, 1]."""
    images = keras.Input(shape)
    sizes = list(hidden_units) + list(reversed(hidden_units[:-1]))
    dense = [layers.Dense(units, activation="relu", kernel_initializer=he()) for units in sizes]
    dense.append(layers.Dense(shape[0] * shape[1] * shape[2], kernel_initializer=he()))
    x = layers.Flatten()(images)
    for layer in dense:
        x = layer(x)
    logits = layers.Reshape(shape)(x)
    return Reference(keras.Model(images, logits), (0.0, 1.0), "logits", "sigmoid_cross_entropy",
                     [layer.kernel for layer in dense])


def conv_ae(shape, filters=(16, 8, 8)):
    """The estimator tutorial's convolutional autoencoder: per block two 3x3 SAME ReLU convs and
    2x2 VALID max pooling (an odd map zero-padded bottom/right to even first: 7x7 → 8x8),
    3x3 stride-2 transposed convs back, a linear 3x3 transposed conv (logits), centre crop."""
    images = keras.Input(shape)
    x, kernels = images, []
    for count in filters:
        if x.shape[1] % 2 or x.shape[2] % 2:
            x = layers.ZeroPadding2D(((0, x.shape[1] % 2), (0, x.shape[2] % 2)))(x)
        for _ in range(2):
            conv = layers.Conv2D(count, 3, padding="same", activation="relu", kernel_initializer=he())
            x = conv(x)
            kernels.append(conv.kernel)
        x = layers.MaxPooling2D(2, padding="valid")(x)
    deconvs = [layers.Conv2DTranspose(count, 3, strides=2, padding="same", activation="relu",
                                      kernel_initializer=he()) for count in reversed(filters)]
    deconvs.append(layers.Conv2DTranspose(shape[-1], 3, padding="same", kernel_initializer=he()))
    for deconv in deconvs:
        x = deconv(x)
        kernels.append(deconv.kernel)
    top, left = (x.shape[1] - shape[0]) // 2, (x.shape[2] - shape[1]) // 2
    logits = layers.Cropping2D(((top, x.shape[1] - shape[0] - top), (left, x.shape[2] - shape[1] - left)))(x)
    return Reference(keras.Model(images, logits), (0.0, 1.0), "logits", "sigmoid_cross_entropy", kernels)


def undercomplete_cae(shape, filters=(32, 16, 8)):
    """The undercomplete CAE tutorial's network at 32x32: 5x5 SAME ReLU convs with strides 2, 2, 4,
    transposed convs with strides 4, 2 (ReLU) and 2 (tanh) back; Keras' default initialisers;
    pixels in [0, 1]."""
    images = keras.Input((32, 32, shape[-1]))
    convs = [layers.Conv2D(count, 5, strides=stride, padding="same", activation="relu")
             for count, stride in zip(filters, (2, 2, 4))]
    convs += [layers.Conv2DTranspose(count, 5, strides=stride, padding="same", activation="relu")
              for count, stride in zip(list(reversed(filters))[1:], (4, 2))]
    convs.append(layers.Conv2DTranspose(shape[-1], 5, strides=2, padding="same", activation="tanh"))
    x = images
    for layer in convs:
        x = layer(x)
    return Reference(keras.Model(images, x), (0.0, 1.0), "pixels", "half_mse", [c.kernel for c in convs])


REBUILDS = {
    "SingleLayerCAE": single_layer_cae,
    "StackedCAE": stacked_cae,
    "StackedDenoisingCAE": stacked_denoising_cae,
    "FullyConnectedAE": fully_connected_ae,
    "ConvAE": conv_ae,
    "UndercompleteCAE": undercomplete_cae,
}
