from bench import CifarBinaryInput


class Cifar10(CifarBinaryInput):
    """CIFAR-10, 32x32 colour in 10 classes: 45,000 train / 5,000 validation / 10,000 test (Krizhevsky, 2009)."""

    folder = "cifar-10"
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
