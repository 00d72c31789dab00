import numpy as np

from bench import Input


class Digits(Input):
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images): no download, works anywhere."""

    image_shape = (8, 8, 1)
    num_classes = 10
    class_names = tuple(str(digit) for digit in range(10))
    sizes = {"train": 1257, "validation": 180, "test": 360}

    def load(self, split):
        """(images uint8 (n, 8, 8, 1), labels) of a fixed, shuffled split."""
        from sklearn.datasets import load_digits

        digits = load_digits()
        # The 17 grey levels 0..16 spread over 0..255.
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., np.newaxis]
        order = np.random.default_rng(0).permutation(len(images))
        n_train, n_validation = self.sizes["train"], self.sizes["validation"]
        bounds = {"train": (0, n_train), "validation": (n_train, n_train + n_validation),
                  "test": (n_train + n_validation, len(images))}
        start, stop = bounds[split]
        chosen = order[start:stop]
        return images[chosen], digits.target[chosen].astype(np.int64)
