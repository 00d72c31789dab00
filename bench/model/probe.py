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

from bench.data import pipeline

MAX_FEATURES = 4096
DEFAULT_LIMIT = 5000


def encode(view, images, batch_size, max_features=MAX_FEATURES):
    """Flattened (pooled when large) codes of `images` (an array, or a split) as a float32 array."""
    return view.codes(images, batch_size, max_features=max_features)[0]


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


def linear_probe(view, splits, batch_size, limit=DEFAULT_LIMIT, progress=None):
    """{codes, pixels, train_images, features, converged}: probe accuracies of codes and raw pixels.

    Args:
        view: the model's bench.model.view.ModelView.
        splits: {"train": Split, "test": Split} (bench.data.splits), labelled.
        limit: at most this many training images (the first ones).
        progress: called with a line of text as each stage starts (None: silent).
    """
    say = progress or (lambda text: None)
    train_images, train_labels = splits["train"].first(limit)
    test_images, test_labels = splits["test"].first(len(splits["test"]))
    train_codes = encode(view, train_images, batch_size)
    test_codes = encode(view, test_images, batch_size)
    say(f"  codes of {len(train_images):,} training and {len(test_images):,} test images: "
        f"{train_codes.shape[1]:,} features each; fitting on the codes...")
    codes, codes_converged = accuracy(train_codes, train_labels, test_codes, test_labels)
    say(f"  codes: {codes:.4f}; fitting on raw pixels ({math.prod(train_images.shape[1:]):,} features)...")
    raw, raw_converged = accuracy(pixels(train_images), train_labels, pixels(test_images), test_labels)
    return {"codes": codes, "pixels": raw, "train_images": int(len(train_images)),
            "features": int(train_codes.shape[1]), "converged": codes_converged and raw_converged}


DEFAULT_DRAWS = 5


def draws_per_class(labels, per_class, draws):
    """`draws` seeded draws (seeds 0, 1, ...) of `per_class` training indices from each class, sorted."""
    classes = np.unique(labels)
    chosen = []
    for seed in range(draws):
        rng = np.random.default_rng(seed)
        chosen.append(np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == label), per_class, replace=False)
                                              for label in classes])))
    return chosen


def _images_at(split, indices):
    """The images at sorted `indices` of a split, as one array (read once, in order)."""
    if hasattr(split, "array"):
        return split.array[indices]
    wanted = set(int(index) for index in indices)
    return np.stack([image for index, image in enumerate(split.images().as_numpy_iterator()) if index in wanted])


def few_label_probe(view, splits, batch_size, counts, draws=DEFAULT_DRAWS):
    """The linear probe with `n` labelled training images per class, for each n in `counts`,
    over `draws` seeded draws, for the codes and for raw pixels, scored on the whole test split.

    Returns:
        {"per_class": {n: {codes_mean, codes_std, pixels_mean, pixels_std, codes, pixels}},
         "draws", "test_images", "features", "skipped": {n: why}}; std is the sample standard
        deviation over the draws.
    """
    labels = np.asarray(splits["train"].labels)
    smallest = int(np.bincount(labels)[np.unique(labels)].min())
    usable = [n for n in counts if n <= smallest]
    skipped = {n: f"the smallest class has {smallest} training images" for n in counts if n > smallest}
    chosen = {n: draws_per_class(labels, n, draws) for n in usable}
    pool = np.unique(np.concatenate([draw for drawn in chosen.values() for draw in drawn])) if usable else []
    test_images, test_labels = splits["test"].first(len(splits["test"]))
    record = {"draws": draws, "test_images": int(len(test_labels)), "per_class": {}, "skipped": skipped}
    if not usable:
        return record
    images = _images_at(splits["train"], pool)
    row_of = {int(index): row for row, index in enumerate(pool)}
    features = {"codes": (encode(view, images, batch_size), encode(view, test_images, batch_size)),
                "pixels": (pixels(images), pixels(test_images))}
    record["features"] = int(features["codes"][0].shape[1])
    for n in usable:
        result = {}
        for kind, (train_features, test_features) in features.items():
            scores = [accuracy(train_features[[row_of[int(i)] for i in draw]], labels[draw], test_features,
                               test_labels)[0] for draw in chosen[n]]
            result[kind] = scores
            result[f"{kind}_mean"] = float(np.mean(scores))
            result[f"{kind}_std"] = float(np.std(scores, ddof=1)) if len(scores) > 1 else None
        record["per_class"][str(n)] = result
    return record
