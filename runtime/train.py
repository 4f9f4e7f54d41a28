"""Float training of a :class:`~.model.Sequential`: backpropagation and Adam, in numpy.

Enough for the small models the demo runs (seconds on a CPU), deterministic for a given seed.
"""

import numpy as np

from .model import AvgPool2d, Conv2d, Dense, Flatten, ReLU, im2col

__all__ = ["accuracy", "fit"]


def _col2im(cols, shape, kernel, stride, padding):
    """The gradient of :func:`~.model.im2col`: sum each window's taps back in place."""
    batch, h, w, c = shape
    _, oh, ow, _ = cols.shape
    grad = np.zeros((batch, h + 2 * padding, w + 2 * padding, c))
    taps = cols.reshape(batch, oh, ow, kernel * kernel, c)
    for t in range(kernel * kernel):
        i, j = divmod(t, kernel)
        grad[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride] += (
            taps[:, :, :, t]
        )
    return grad[:, padding : padding + h, padding : padding + w]


def _backward(layer, x, grad):
    """The input's gradient, and the parameters' (or ``None``), of ``layer`` at input ``x``."""
    if isinstance(layer, Dense):
        return grad @ layer.weights.T, (x.T @ grad, grad.sum(axis=0))
    if isinstance(layer, Conv2d):
        cols = im2col(x, layer.kernel, layer.stride, layer.padding)
        flat = grad.reshape(-1, layer.channels)
        weights = cols.reshape(flat.shape[0], -1).T @ flat
        dcols = (flat @ layer.weights.reshape(-1, layer.channels).T).reshape(cols.shape)
        dx = _col2im(dcols, x.shape, layer.kernel, layer.stride, layer.padding)
        return dx, (weights.reshape(layer.weights.shape), flat.sum(axis=0))
    if isinstance(layer, ReLU):
        return grad * (x > 0), None
    if isinstance(layer, AvgPool2d):
        s = layer.size
        return np.repeat(np.repeat(grad, s, axis=1), s, axis=2) / (s * s), None
    if isinstance(layer, Flatten):
        return grad.reshape(x.shape), None
    raise TypeError(f"Cannot train through {layer!r}")


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit(model, x, labels, *, epochs=40, batch=32, rate=3e-3, seed=0):
    """Train ``model`` (initialised with ``seed``) on ``x`` with cross-entropy; return it.

    Parameters
    ----------
    model : Sequential
        Its last layer gives one logit per class.
    x : numpy.ndarray
        Float samples, ``(n, *model.input_shape)``.
    labels : numpy.ndarray
        Class of each sample.
    epochs, batch, rate : int, int, float
        Passes over the data, samples per step, Adam's step size.
    seed : int
        Seeds the initialisation and the shuffling.
    """
    model.init(seed)
    rng = np.random.default_rng(seed + 1)
    params = [(layer, name) for layer in model.layers for name in ("weights", "bias")]
    params = [(layer, name) for layer, name in params if hasattr(layer, name)]
    moments = {id(layer) * 2 + (name == "bias"): [0.0, 0.0] for layer, name in params}
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            pick = order[start : start + batch]
            outputs = model.forward(x[pick], keep=True)
            grad = _softmax(outputs[-1])
            grad[np.arange(len(pick)), labels[pick]] -= 1
            grad /= len(pick)
            step += 1
            for index in reversed(range(len(model.layers))):
                layer = model.layers[index]
                grad, grads = _backward(layer, outputs[index], grad)
                if grads is not None:
                    for name, g in zip(("weights", "bias"), grads, strict=True):
                        _adam(layer, name, g, moments[id(layer) * 2 + (name == "bias")], step, rate)
    return model


def _adam(layer, name, grad, moment, step, rate, beta1=0.9, beta2=0.999):
    moment[0] = beta1 * moment[0] + (1 - beta1) * grad
    moment[1] = beta2 * moment[1] + (1 - beta2) * grad * grad
    corrected = moment[0] / (1 - beta1**step), moment[1] / (1 - beta2**step)
    value = getattr(layer, name) - rate * corrected[0] / (np.sqrt(corrected[1]) + 1e-8)
    setattr(layer, name, value)


def accuracy(predictions, labels):
    """The fraction of ``predictions`` (class indices) equal to ``labels``."""
    return float(np.mean(np.asarray(predictions) == np.asarray(labels)))
