"""A model description: a sequence of layers over NHWC tensors, with a float forward pass.

The layers are what the NPU can run (fully connected and 2-D convolution, with a fused ReLU and
requantization on the way out; average pooling, which the compiler lowers to a convolution) and what
costs nothing (flatten). A :class:`Sequential` holds float parameters; it is trained
(:mod:`tinynpu.runtime.train`), then quantized (:mod:`tinynpu.runtime.quantize`) into what the
compiler lowers.

Shapes exclude the batch: an image is ``(h, w, c)``, a vector ``(features,)``.
"""

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AvgPool2d", "Conv2d", "Dense", "Flatten", "ReLU", "Sequential", "conv_output_hw"]


def conv_output_hw(hw, kernel, stride, padding):
    """Output ``(h, w)`` of a window of ``kernel`` moved by ``stride`` over padded ``hw``."""
    return tuple((size + 2 * padding - kernel) // stride + 1 for size in hw)


def im2col(x, kernel, stride, padding, fill=0.0):
    """The ``(batch, oh, ow, kernel * kernel * c)`` windows of NHWC ``x``, in HWC tap order."""
    batch, h, w, c = x.shape
    oh, ow = conv_output_hw((h, w), kernel, stride, padding)
    pad = (padding, padding)
    padded = np.pad(x, ((0, 0), pad, pad, (0, 0)), constant_values=fill)
    taps = [
        padded[:, i : i + (oh - 1) * stride + 1 : stride, j : j + (ow - 1) * stride + 1 : stride]
        for i in range(kernel)
        for j in range(kernel)
    ]
    return np.concatenate(taps, axis=-1).reshape(batch, oh, ow, kernel * kernel * c)


@dataclass
class Dense:
    """Fully connected: ``y = x @ weights + bias`` over a vector.

    Attributes
    ----------
    features : int
        Output features.
    weights : numpy.ndarray
        ``(in_features, features)``, set by training.
    bias : numpy.ndarray
        ``(features,)``.
    """

    features: int
    weights: np.ndarray = field(default=None, repr=False)
    bias: np.ndarray = field(default=None, repr=False)

    def output_shape(self, shape):
        """The output shape for an input of ``shape``."""
        if len(shape) != 1:
            raise ValueError(f"Dense takes a vector, not {shape}: put a Flatten before it")
        return (self.features,)

    def init(self, shape, rng):
        """Draw He-initialised parameters for an input of ``shape``."""
        fan_in = shape[0]
        self.weights = rng.normal(0, np.sqrt(2 / fan_in), (fan_in, self.features))
        self.bias = np.zeros(self.features)

    def forward(self, x):
        """The float output for a batch ``x``."""
        return x @ self.weights + self.bias


@dataclass
class Conv2d:
    """2-D convolution of an NHWC image by HWIO weights, with square kernel and stride.

    Attributes
    ----------
    channels : int
        Output channels.
    kernel, stride, padding : int
        Window size, step and zero padding on every side.
    weights : numpy.ndarray
        ``(kernel, kernel, in_channels, channels)``, set by training.
    bias : numpy.ndarray
        ``(channels,)``.
    """

    channels: int
    kernel: int
    stride: int = 1
    padding: int = 0
    weights: np.ndarray = field(default=None, repr=False)
    bias: np.ndarray = field(default=None, repr=False)

    def output_shape(self, shape):
        """The output shape for an input of ``shape``."""
        if len(shape) != 3:
            raise ValueError(f"Conv2d takes an (h, w, c) image, not {shape}")
        if self.padding >= self.kernel:
            raise ValueError(f"Padding {self.padding} is not smaller than kernel {self.kernel}")
        oh, ow = conv_output_hw(shape[:2], self.kernel, self.stride, self.padding)
        if oh < 1 or ow < 1:
            raise ValueError(f"Kernel {self.kernel} does not fit in {shape}")
        return (oh, ow, self.channels)

    def init(self, shape, rng):
        """Draw He-initialised parameters for an input of ``shape``."""
        fan_in = self.kernel * self.kernel * shape[2]
        size = (self.kernel, self.kernel, shape[2], self.channels)
        self.weights = rng.normal(0, np.sqrt(2 / fan_in), size)
        self.bias = np.zeros(self.channels)

    def forward(self, x):
        """The float output for a batch ``x``."""
        cols = im2col(x, self.kernel, self.stride, self.padding)
        return cols @ self.weights.reshape(-1, self.channels) + self.bias


@dataclass
class ReLU:
    """``max(x, 0)``. On the NPU it is the clamp of the layer before, which it must follow."""

    def output_shape(self, shape):
        """The output shape for an input of ``shape``."""
        return shape

    def forward(self, x):
        """The float output for a batch ``x``."""
        return np.maximum(x, 0)


@dataclass
class AvgPool2d:
    """Average of non-overlapping ``size x size`` windows (stride ``size``, no padding)."""

    size: int = 2

    def output_shape(self, shape):
        """The output shape for an input of ``shape``."""
        h, w, c = shape
        if h % self.size or w % self.size:
            raise ValueError(f"AvgPool2d({self.size}) does not tile a {h}x{w} image")
        return (h // self.size, w // self.size, c)

    def forward(self, x):
        """The float output for a batch ``x``."""
        b, h, w, c = x.shape
        s = self.size
        return x.reshape(b, h // s, s, w // s, s, c).mean(axis=(2, 4))


@dataclass
class Flatten:
    """An ``(h, w, c)`` image as a vector, in HWC order: a change of shape, no data moves."""

    def output_shape(self, shape):
        """The output shape for an input of ``shape``."""
        return (int(np.prod(shape)),)

    def forward(self, x):
        """The float output for a batch ``x``."""
        return x.reshape(x.shape[0], -1)


class Sequential:
    """Layers applied one after the other to an input of ``input_shape``.

    Parameters
    ----------
    name : str
        What reports call it.
    input_shape : tuple of int
        One sample's shape.
    layers : list
        :class:`Dense`, :class:`Conv2d`, :class:`ReLU`, :class:`AvgPool2d`, :class:`Flatten`.
    """

    def __init__(self, name, input_shape, layers):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.layers = list(layers)
        self.shapes = [self.input_shape]
        for layer in self.layers:
            self.shapes.append(layer.output_shape(self.shapes[-1]))

    @property
    def output_shape(self):
        """One sample's output shape."""
        return self.shapes[-1]

    def init(self, seed):
        """Give every parametrised layer fresh random parameters."""
        rng = np.random.default_rng(seed)
        for layer, shape in zip(self.layers, self.shapes, strict=False):
            if hasattr(layer, "init"):
                layer.init(shape, rng)

    def forward(self, x, *, keep=False):
        """The float output for a batch; with ``keep``, every layer's output as a list."""
        outputs = [x]
        for layer in self.layers:
            outputs.append(layer.forward(outputs[-1]))
        return outputs if keep else outputs[-1]

    def describe(self):
        """One line per layer: what it is and its output shape."""
        return [
            f"{type(layer).__name__} {'x'.join(map(str, shape))}"
            for layer, shape in zip(self.layers, self.shapes[1:], strict=True)
        ]
