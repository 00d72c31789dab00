"""What the codes are worth: a linear classifier on the encodings (a linear probe).

A logistic regression is fitted on the encodings of (up to `limit`) training
images and scored on the test split; the same classifier on raw pixels is the
reference. Encodings of any rank are flattened; those with more than
MAX_FEATURES numbers are first average-pooled over their spatial dimensions
(a fixed linear map, so the probe stays linear), and the result says so.
"""

import math
import warnings

import numpy as np
import tensorflow as tf

from bench import pipeline

MAX_FEATURES = 4096
DEFAULT_LIMIT = 5000


def _pool(codes, max_features):
    """Average-pool (n, h, w, c) codes over space until they have at most max_features numbers."""
    if codes.shape.rank != 4 or math.prod(codes.shape[1:]) <= max_features:
        return codes
    height, width, depth = codes.shape[1:]
    cells = max(1, max_features // depth)
    side = max(1, int(math.sqrt(cells * height / width)))
    size = (min(height, side), min(width, max(1, cells // side)))
    return tf.image.resize(codes, size, method="area")


def encode(model, images, batch_size, max_features=MAX_FEATURES):
    """Flattened (pooled when large) encodings of `images` as a float32 array."""
    parts = []
    for batch in pipeline.evaluation_batches(images, batch_size):
        inputs = pipeline.to_bench_range(batch, model.input_size)
        codes = model.forward(model.own_pixels(inputs)).encoding
        codes = _pool(tf.cast(codes, tf.float32), max_features)
        parts.append(tf.reshape(codes, (codes.shape[0], -1)).numpy())
    return np.concatenate(parts)


def pixels(images):
    """Flattened pixels in [-1, 1]: the reference representation."""
    return pipeline.to_bench_range(tf.convert_to_tensor(images)).numpy().reshape(len(images), -1)


MAX_ITERATIONS = 300


def accuracy(train_features, train_labels, test_features, test_labels):
    """(test accuracy, converged) of a standardised logistic regression fitted on the
    training features with at most MAX_ITERATIONS L-BFGS iterations."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=MAX_ITERATIONS))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        classifier.fit(train_features, train_labels)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return float(classifier.score(test_features, test_labels)), converged


def linear_probe(model, splits, batch_size, limit=DEFAULT_LIMIT):
    """{codes, pixels, train_images, features, converged}: probe accuracies of codes and raw pixels.

    Args:
        splits: {"train": Split, "test": Split} (bench.splits), labelled.
        limit: at most this many training images (the first ones).
    """
    train_images, train_labels = splits["train"].first(limit)
    test_images, test_labels = splits["test"].first(len(splits["test"]))
    train_codes = encode(model, tf.convert_to_tensor(train_images), batch_size)
    test_codes = encode(model, tf.convert_to_tensor(test_images), batch_size)
    codes, codes_converged = accuracy(train_codes, train_labels, test_codes, test_labels)
    raw, raw_converged = accuracy(pixels(train_images), train_labels, pixels(test_images), test_labels)
    return {"codes": codes, "pixels": raw, "train_images": int(len(train_images)),
            "features": int(train_codes.shape[1]), "converged": codes_converged and raw_converged}
