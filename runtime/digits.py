"""The demo's data and models: scikit-learn's handwritten digits, an MLP and a small CNN.

The digits (1,797 8x8 grey images, pixel values 0 to 16, from the UCI optical recognition set)
ship inside scikit-learn, so nothing is downloaded. The split is stratified and fixed; the models
are trained here, deterministically, in a few seconds.
"""

from .model import AvgPool2d, Conv2d, Dense, Flatten, ReLU, Sequential
from .train import fit

__all__ = ["MODELS", "load_split", "trained"]

#: Fraction of the digits held out as the test split.
TEST_FRACTION = 0.25


def load_split():
    """``(x_train, y_train, x_test, y_test)``: float images in ``[0, 1]``, shape (n, 8, 8, 1)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).reshape(-1, 8, 8, 1)
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target, test_size=TEST_FRACTION, random_state=0, stratify=digits.target
    )
    return x_train, y_train, x_test, y_test


def mlp():
    """64 -> 64 -> 32 -> 10, ReLU between."""
    layers = [Flatten(), Dense(64), ReLU(), Dense(32), ReLU(), Dense(10)]
    return Sequential("mlp", (8, 8, 1), layers)


def cnn():
    """Two 3x3 convolutions with an average pool between, then a classifier."""
    layers = [
        Conv2d(8, kernel=3, padding=1),
        ReLU(),
        AvgPool2d(2),
        Conv2d(16, kernel=3, padding=1),
        ReLU(),
        Flatten(),
        Dense(10),
    ]
    return Sequential("cnn", (8, 8, 1), layers)


#: The demo's models by name, and their training recipe (epochs).
MODELS = {"mlp": (mlp, 60), "cnn": (cnn, 30)}


def trained(name, x_train, y_train):
    """Model ``name`` trained on the given split (same result on every run)."""
    from threadpoolctl import threadpool_limits

    build, epochs = MODELS[name]
    # One BLAS thread: training is many tiny products, which threads only slow down.
    with threadpool_limits(limits=1, user_api="blas"):
        return fit(build(), x_train, y_train, epochs=epochs, seed=0)
