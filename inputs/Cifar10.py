from bench import CifarBinaryInput


class Cifar10(CifarBinaryInput):
    """CIFAR-10, 32x32 colour in 10 classes: 45,000 train / 5,000 validation / 10,000 test (Krizhevsky, 2009)."""

    folder = "cifar-10"
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    archive = ("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530")
