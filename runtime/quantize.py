"""Post-training quantization to int8, and the numpy reference of the quantized graph.

The scheme is TFLite's: weights per output channel, symmetric (zero point 0, -127..127);
activations per tensor, asymmetric, ranges calibrated on sample data; int32 biases at scale
``input_scale * weight_scale``. Every compute op ends in an output stage (bias, requantization
to the next tensor's scale, clamps); a ReLU becomes the lower clamp of the op before it.

Since the hardware accumulates raw products, the input zero point is folded into the bias:
``sum((x - zx) * w) = sum(x * w) - zx * sum(w)``. Padding reads ``zx``, which contributes
nothing, so the fold is exact for padded convolutions too.

An average pool keeps its input's scale and zero point and rounds like TFLite's: the window sum
of the raw int8 values divided by the window size, halves away from zero
(:mod:`.pooling`). The compiler runs it as a convolution with identity weights whose output
stage divides exactly: no bias, no zero point, the constants of
:func:`~.pooling.average_pool_constants`.
"""

from dataclasses import dataclass

import numpy as np

from . import reference
from .model import AvgPool2d, Conv2d, Dense, Flatten, ReLU
from .pooling import average_pool_constants, tflite_average

__all__ = ["QuantParams", "QuantizedModel", "QuantizedOp", "quantize"]

_INT8_MIN, _INT8_MAX = -128, 127


@dataclass(frozen=True)
class QuantParams:
    """A tensor's quantization: ``real = scale * (q - zero_point)``."""

    scale: float
    zero_point: int

    @classmethod
    def from_range(cls, low, high):
        """Asymmetric int8 parameters covering ``low .. high`` (widened to include zero)."""
        low, high = min(float(low), 0.0), max(float(high), 0.0)
        scale = (high - low) / 255 if high > low else 1.0
        zero_point = int(np.clip(round(_INT8_MIN - low / scale), _INT8_MIN, _INT8_MAX))
        return cls(scale, zero_point)

    def quantize(self, x):
        """Real ``x`` as int8."""
        q = np.round(np.asarray(x) / self.scale) + self.zero_point
        return np.clip(q, _INT8_MIN, _INT8_MAX).astype(np.int8)

    def dequantize(self, q):
        """int8 ``q`` as real numbers."""
        return self.scale * (np.asarray(q, dtype=np.float64) - self.zero_point)


@dataclass
class QuantizedOp:
    """One NPU operation: a GEMM (fully connected) or a convolution, with its output stage.

    Attributes
    ----------
    kind : str
        ``"dense"``, ``"conv2d"`` or ``"avgpool"`` (a convolution with identity weights).
    name : str
        What reports call it: the kind and a count (``dense1``, ``conv2d1``, ``avgpool1``).
    in_shape, out_shape : tuple of int
        One sample's input and output shapes (a dense op's input is a vector).
    weights : numpy.ndarray of int8
        ``(k, n)`` for dense; HWIO for convolutions.
    bias, multiplier, shift : numpy.ndarray of int32
        Per output channel; the bias has the input zero point folded in.
    kernel, stride, padding : int
        The window of convolutions (1, 1, 0 for dense).
    input_zero_point, zero_point, act_min, act_max : int
        The input's zero point (what padding reads) and the output stage's.
    relu : bool
        Whether ``act_min`` is a fused ReLU.
    """

    kind: str
    name: str
    in_shape: tuple
    out_shape: tuple
    weights: np.ndarray
    bias: np.ndarray
    multiplier: np.ndarray
    shift: np.ndarray
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    input_zero_point: int = 0
    zero_point: int = 0
    act_min: int = _INT8_MIN
    act_max: int = _INT8_MAX
    relu: bool = False

    @property
    def macs(self):
        """Multiply-accumulates per sample."""
        k = self.weights.shape[0] if self.kind == "dense" else self.weights[..., 0].size
        return int(np.prod(self.out_shape)) * k

    def reference(self, x):
        """The op on a batch of int8 ``x``, by :mod:`tinynpu.runtime.reference`'s arithmetic."""
        stage = {"zero_point": self.zero_point, "act_min": self.act_min, "act_max": self.act_max}
        params = (self.bias, self.multiplier, self.shift)
        if self.kind == "dense":
            return reference.gemm(x.reshape(len(x), -1), self.weights, *params, **stage)
        if self.kind == "avgpool":
            # Independent of the identity-weight lowering: TFLite's division of each window sum.
            b, h, w, c = x.shape
            s = self.kernel
            sums = x.astype(np.int64).reshape(b, h // s, s, w // s, s, c).sum(axis=(2, 4))
            average = tflite_average(sums, s * s)
            return np.clip(average, self.act_min, self.act_max).astype(np.int8)
        return reference.conv2d(
            x,
            self.weights,
            *params,
            stride=self.stride,
            pad_top=self.padding,
            pad_left=self.padding,
            out_hw=self.out_shape[:2],
            input_zero_point=self.input_zero_point,
            **stage,
        )


@dataclass
class QuantizedModel:
    """A quantized :class:`~.model.Sequential`: its ops, input and output quantization."""

    name: str
    input_shape: tuple
    input: QuantParams
    output: QuantParams
    ops: list

    def reference(self, x):
        """The int8 outputs for a batch of int8 inputs, op by op; every op's output, in a list."""
        outputs = [np.asarray(x, dtype=np.int8)]
        for op in self.ops:
            outputs.append(op.reference(outputs[-1]))
        return outputs


def _weights(w):
    """Per output channel (last axis) symmetric int8 weights and their scales."""
    flat = w.reshape(-1, w.shape[-1])
    scales = np.abs(flat).max(axis=0) / _INT8_MAX
    scales = np.where(scales > 0, scales, 1.0)
    return np.clip(np.round(w / scales), -_INT8_MAX, _INT8_MAX).astype(np.int8), scales


def _stage(q_in, q_out, weight_scales, w_q, bias):
    """Bias (zero point folded), multiplier and shift per channel."""
    # A channel of zero weights computes only its bias; any weight scale is exact for it, so take
    # the one whose requantization scale (1/2) the multiplier represents.
    unused = ~w_q.reshape(-1, w_q.shape[-1]).any(axis=0)
    weight_scales = np.where(unused, 0.5 * q_out.scale / q_in.scale, weight_scales)
    scales = q_in.scale * weight_scales
    folded = np.round(bias / scales) - q_in.zero_point * w_q.reshape(-1, w_q.shape[-1]).sum(0)
    if np.abs(folded).max(initial=0) >= 2**31:
        raise ValueError("A bias does not fit in int32 at this quantization")
    multiplier, shift = reference.quantize_multiplier(scales / q_out.scale)
    return folded.astype(np.int32), np.asarray(multiplier), np.asarray(shift)


def quantize(model, calibration):
    """Quantize a trained float ``model``, calibrating activation ranges on ``calibration``.

    Raises
    ------
    ValueError
        For a ReLU that does not follow a Dense or Conv2d (it could not be fused), a
        requantization scale outside what the hardware's multiplier represents, or a bias
        that does not fit in int32.
    """
    outputs = model.forward(calibration, keep=True)
    tensors = [QuantParams.from_range(x.min(), x.max()) for x in outputs]
    ops, counts = [], {}
    current = tensors[0]
    layers = model.layers
    for index, layer in enumerate(layers):
        in_shape, out_shape = model.shapes[index], model.shapes[index + 1]
        if isinstance(layer, Flatten):
            continue
        if isinstance(layer, ReLU):
            if index == 0 or not isinstance(layers[index - 1], Dense | Conv2d):
                raise ValueError(f"Layer {index}: a ReLU must follow a Dense or Conv2d")
            continue
        relu = index + 1 < len(layers) and isinstance(layers[index + 1], ReLU)
        # The op's output is the tensor after its fused ReLU, if any.
        q_out = tensors[index + 1 + relu]
        kind = {Dense: "dense", Conv2d: "conv2d", AvgPool2d: "avgpool"}[type(layer)]
        counts[kind] = counts.get(kind, 0) + 1
        name = f"{kind}{counts[kind]}"
        if isinstance(layer, AvgPool2d):
            # The output keeps the input's quantization: the raw window sum, divided exactly.
            s, c = layer.size, in_shape[2]
            w_q = np.zeros((s, s, c, c), dtype=np.int8)
            w_q[:, :, np.arange(c), np.arange(c)] = 1
            multiplier, shift = average_pool_constants(s * s)
            q_out, window = current, {"kernel": s, "stride": s}
            stage = (
                np.zeros(c, dtype=np.int32),
                np.full(c, multiplier, dtype=np.int32),
                np.full(c, shift, dtype=np.int32),
            )
        else:
            w_q, scales = _weights(layer.weights)
            stage = _stage(current, q_out, scales, w_q, layer.bias)
            window = {}
            if isinstance(layer, Conv2d):
                window = {"kernel": layer.kernel, "stride": layer.stride, "padding": layer.padding}
        ops.append(
            QuantizedOp(
                kind,
                name,
                in_shape,
                out_shape,
                w_q,
                *stage,
                **window,
                input_zero_point=current.zero_point,
                # A pool's stage adds no zero point: the average of raw values is the raw output.
                zero_point=0 if kind == "avgpool" else q_out.zero_point,
                act_min=q_out.zero_point if relu else _INT8_MIN,
                relu=relu,
            )
        )
        current = q_out
    return QuantizedModel(model.name, model.input_shape, tensors[0], current, ops)
