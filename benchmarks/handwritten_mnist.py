"""The minimal hand-written script that `wall_time.py` races `bench train` against.

The same work as `bench train --model SingleLayerCAE --dataset MNIST --epochs 2`:
load MNIST's IDX files, hold out the first 5,000 training images for
validation, train DTB's single-layer CAE (pad 2, 3x3 conv to 32 tanh maps,
3x3 conv back, tanh; He initialisation) with Adam(1e-3) and batch 128 for 2 epochs with Keras
`model.fit`, validate after each epoch, and measure the test split, with the
same error (½·mean((x − x̃)²) on [-1, 1]).

    python benchmarks/handwritten_mnist.py ../shared/data/mnist
    python benchmarks/handwritten_mnist.py digits    # scikit-learn's 8x8 digits, split as bench's Digits: offline
"""

import gzip
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow import keras


def idx_images(path):
    with gzip.open(path, "rb") as file:
        data = file.read()
    count, rows, columns = (int.from_bytes(data[i:i + 4], "big") for i in (4, 8, 12))
    images = np.frombuffer(data, np.uint8, offset=16).reshape(count, rows, columns, 1)
    return images.astype(np.float32) / 127.5 - 1.0


def digits():
    """(train, validation, test) of scikit-learn's digits as bench's Digits splits them, on [-1, 1]."""
    from sklearn.datasets import load_digits

    images = np.round(load_digits().images * (255 / 16))[..., np.newaxis][np.random.default_rng(0).permutation(1797)]
    images = (images / 127.5 - 1.0).astype(np.float32)
    return images[:1257], images[1257:1437], images[1437:]


def main(folder):
    if folder == "digits":
        train, validation, test = digits()
    else:
        train = idx_images(Path(folder) / "train-images-idx3-ubyte.gz")
        test = idx_images(Path(folder) / "t10k-images-idx3-ubyte.gz")
        validation, train = train[:5000], train[5000:]
    model = keras.Sequential([
        keras.Input(train.shape[1:]),
        keras.layers.ZeroPadding2D(2),
        keras.layers.Conv2D(32, 3, activation="tanh", kernel_initializer="he_normal"),
        keras.layers.Conv2D(1, 3, activation="tanh", kernel_initializer="he_normal"),
    ])

    def error(images, reconstructions):
        return 0.5 * tf.reduce_mean(tf.square(reconstructions - images))

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=error)
    history = model.fit(train, train, batch_size=128, epochs=2, validation_data=(validation, validation), verbose=0)
    test_error = model.evaluate(test, test, batch_size=128, verbose=0)
    print(f"validation error {history.history['val_loss']}, test error {test_error:.5f}")


if __name__ == "__main__":
    main(sys.argv[1])
