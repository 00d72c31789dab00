"""Codes for TensorBoard's embedding projector: `bench embed`, and after every training.

Writes a run's `projector/` folder: the encodings of up to N images of a split as a
checkpointed variable, `metadata.tsv` (label and class name of each image),
`sprite.png` (the images themselves) and `projector_config.pbtxt`, so that
`tensorboard --logdir log/` shows the code space with PCA, t-SNE or UMAP,
coloured by class. Encodings of any rank are flattened; large ones are first
average-pooled over space to at most MAX_FEATURES numbers (a fixed linear map).
"""

import math

import numpy as np
import tensorflow as tf
from tensorboard.plugins import projector

from bench.files import new_folder

CONFIG_FILE = "projector_config.pbtxt"  # written last, by visualize_embeddings: its presence means complete
MAX_FEATURES = 1024
DEFAULT_LIMIT = 5000
TENSOR_NAME = "embedding/.ATTRIBUTES/VARIABLE_VALUE"


def sprite(images):
    """One square uint8 image holding `images` (n, h, w, c uint8 or [-1, 1] floats) in a grid."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        images = np.round((np.clip(images, -1, 1) + 1) * 127.5).astype(np.uint8)
    count, height, width, depth = images.shape
    side = math.ceil(math.sqrt(count))
    grid = np.zeros((side * height, side * width, depth), np.uint8)
    for index, image in enumerate(images):
        row, column = divmod(index, side)
        grid[row * height:(row + 1) * height, column * width:(column + 1) * width] = image
    return grid[..., 0] if depth == 1 else grid


def write_projector(folder, view, split, class_names, batch_size, limit=DEFAULT_LIMIT):
    """Write the projector files into `folder` (a run's projector folder, put in place whole)
    for the first `limit` images of a bench.data.splits.Split, coded by `view` (a
    bench.model.view.ModelView); returns (count, features)."""
    images, labels = split.first(limit)
    codes = view.codes(images, batch_size, max_features=MAX_FEATURES)[0]
    # written beside the folder, then put in its place whole: one writer's files, never two mixed
    with new_folder(folder, replace=True) as staging:
        _write_files(staging, images, labels, codes, class_names)
    return len(images), codes.shape[1]


def _write_files(folder, images, labels, codes, class_names):
    import matplotlib.image

    with open(folder / "metadata.tsv", "w", encoding="utf-8") as metadata:
        metadata.write("label\tclass\n")
        for label in (labels if labels is not None else [-1] * len(images)):
            name = class_names[label] if 0 <= label < len(class_names) else str(label)
            metadata.write(f"{label}\t{name}\n")
    picture = sprite(images)
    matplotlib.image.imsave(folder / "sprite.png", picture, cmap="gray" if picture.ndim == 2 else None)
    tf.train.Checkpoint(embedding=tf.Variable(codes, name="embedding")).save(str(folder / "embedding.ckpt"))
    config = projector.ProjectorConfig()
    embedding = config.embeddings.add()
    embedding.tensor_name = TENSOR_NAME
    embedding.metadata_path = "metadata.tsv"
    embedding.sprite.image_path = "sprite.png"
    embedding.sprite.single_image_dim.extend([images.shape[2], images.shape[1]])
    projector.visualize_embeddings(str(folder), config)
    # TensorBoard looks for projector configs only in folders it knows as runs,
    # that is, folders holding an event file: an empty one makes this folder a run.
    tf.summary.create_file_writer(str(folder)).close()
