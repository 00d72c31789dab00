"""The TensorFlow Datasets catalogue as datasets: `--dataset tfds:NAME[:CONFIG]`
(e.g. tfds:svhn_cropped, tfds:celeb_a, tfds:stl10), streamed.

The dataset must be prepared, in `--data-dir` or TFDS's own data folder
(TFDS_DATA_DIR, else ~/tensorflow_datasets): downloading and preparing is TFDS's
own work (`tfds build NAME --data_dir DIR`), which bench never starts, so a
training never waits on the network. TFDS's "train", "validation" and "test"
splits are used as they are; a dataset without a validation split gives up the
last tenth of its train split to it (TFDS's own slicing: the same every time,
and a random tenth since TFDS shuffles examples when it prepares a split),
and one without a test split is refused. `tensorflow-datasets` is an optional
extra: pip install -e ".[tfds]".
"""

from pathlib import Path

import tensorflow as tf

from bench.data import splits
from bench.data.input import Input
from bench.errors import DataInputError

VALIDATION_NAMES = ("validation", "valid", "val")
CARVED = ("train[:90%]", "train[90%:]")  # (train, validation) of a dataset without a validation split


def tfds_input(name):
    """A bench.Input class reading the prepared TFDS dataset `name` ("name" or "name/config")."""
    return type("TfdsDataset", (CatalogueInput,), {"tfds_name": name, "__doc__": CatalogueInput.__doc__})


def _prepared_builder(tfds, name, data_dir):
    """The builder of `name` from the first data folder that holds it prepared."""
    try:
        builder = tfds.builder(name, data_dir=str(data_dir) if data_dir else None)
    except tfds.core.registered.DatasetNotFoundError as error:
        raise DataInputError(f"TensorFlow Datasets has no dataset '{name}' "
                             "(its catalogue: https://www.tensorflow.org/datasets/catalog)") from error
    except ValueError as error:  # a config it does not have
        raise DataInputError(f"tfds:{name}: {str(error).splitlines()[0]}") from error
    if _is_prepared(builder):
        return builder
    default = tfds.builder(name)  # TFDS's own data folder
    if _is_prepared(default):
        return default
    own_folder = str(default.data_dir).split(f"/{name}/")[0]
    raise DataInputError(f"tfds:{name.replace('/', ':')} is not prepared in {data_dir} nor in {own_folder}; "
                         f"prepare it (it downloads) with: tfds build {name} --data_dir {data_dir}")


def _is_prepared(builder):
    return tf.io.gfile.exists(str(Path(builder.data_dir) / "dataset_info.json"))


def _split_names(builder, name):
    """{bench split: TFDS split string}."""
    known = set(builder.info.splits.keys())
    if "train" not in known or "test" not in known:
        raise DataInputError(f"tfds:{name} has the splits {', '.join(sorted(known))}; bench needs train and test")
    validation = next((split for split in VALIDATION_NAMES if split in known), None)
    if validation is None:
        return {"train": CARVED[0], "validation": CARVED[1], "test": "test"}
    return {"train": "train", "validation": validation, "test": "test"}


class CatalogueInput(Input):
    """A dataset of the TensorFlow Datasets catalogue (`--dataset tfds:NAME[:CONFIG]`)."""

    tfds_name = ""

    def __init__(self, data_dir, report=None):
        super().__init__(data_dir, report)
        try:
            import tensorflow_datasets as tfds
        except ImportError as error:
            raise DataInputError(f"--dataset {self.name} needs TensorFlow Datasets: "
                                 'pip install -e ".[tfds]" (or pip install tensorflow-datasets)') from error
        self.builder = _prepared_builder(tfds, self.tfds_name, data_dir)
        features = self.builder.info.features
        if "image" not in features:
            raise DataInputError(f"{self.name} has no 'image' feature (it has {', '.join(features.keys())})")
        label = features["label"] if "label" in features and hasattr(features["label"], "names") else None
        self.split_names = _split_names(self.builder, self.name)
        if self.split_names["validation"] == CARVED[1] and report is not None:
            report.info(f"{self.name} has no validation split: the last tenth of its train split is the "
                        f"validation ({CARVED[1]}), the rest the training ({CARVED[0]})")
        self.image_shape = tuple(features["image"].shape)
        self.num_classes = label.num_classes if label else 0
        self.class_names = tuple(label.names) if label else ()

    @property
    def name(self):
        return "tfds:" + self.tfds_name.replace("/", ":")

    def load(self, split):
        """The split as a stream of (image, label) from TFDS's files, in their stored order."""
        tfds_split = self.split_names[split]
        count = self.builder.info.splits[tfds_split].num_examples
        labelled = self.num_classes > 0
        pairs = self.builder.as_dataset(split=tfds_split, shuffle_files=False).map(
            lambda example: (example["image"], example["label"] if labelled else tf.constant(-1, tf.int64)),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        shape = self.image_shape
        if self.image_size:  # resized here: a dataset of images of many sizes has no shape of its own
            shape = (*self.image_size, shape[-1])
            pairs = pairs.map(lambda image, label: (splits.resize(image, self.image_size), label),
                              num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        elif None in self.image_shape:
            raise DataInputError(f"{self.name}'s images vary in size {self.image_shape}: give --image-size")
        pairs = pairs.apply(tf.data.experimental.assert_cardinality(count))
        return splits.StreamSplit(pairs, count, shape, labelled=True)
