"""Anomaly detection by reconstruction error, the classic use of an autoencoder: a model
trained on some classes (`--classes`) scores every test image by how badly it rebuilds
it; images of the other classes should score higher.

The score is each image's DTB error, ½·mean((x − x̃)²) with pixels in [-1, 1] (the
`error` metric of one image: bench.model.view.ModelView.scores). "Unseen class" is the
positive label; ROC AUC and average precision are scikit-learn's.
"""

import numpy as np

from bench.errors import BenchUsageError


def check_classes(labels, seen_classes, where):
    """BenchUsageError unless the labels hold both images of `seen_classes` and of others: with
    one kind only there is nothing to tell apart (ROC AUC is undefined)."""
    seen = np.isin(labels, list(seen_classes))
    if seen.all() or not seen.any():
        missing = "of any other class" if seen.all() else f"of the classes trained on ({','.join(map(str, seen_classes))})"
        raise BenchUsageError(f"--anomaly: {where} has no images {missing}: nothing to tell apart; score a split "
                              "that holds both")


def figures(image_scores, labels, seen_classes):
    """{roc_auc, average_precision, seen_classes, seen_images, unseen_images} of telling the
    unseen classes (positive) from the seen ones by score."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    unseen = ~np.isin(labels, list(seen_classes))
    return {"roc_auc": float(roc_auc_score(unseen, image_scores)),
            "average_precision": float(average_precision_score(unseen, image_scores)),
            "seen_classes": [int(number) for number in seen_classes],
            "seen_images": int((~unseen).sum()), "unseen_images": int(unseen.sum())}
