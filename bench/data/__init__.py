"""Data: where images come from and how they reach a model. Dataset plugins' interface
(`input`), file formats and downloads, datasets named by a prefix (`sources`: image
folders, TFRecord shards, TFDS), one split however it is held (`splits`), and the
tf.data pipeline. Imports only bench's root helpers."""
