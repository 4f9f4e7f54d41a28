"""The operators that run on the CPU, bit-exact with TFLite Micro's reference kernels.

Each kernel takes the operator, its subgraph (for the tensors' quantization) and the input
arrays, and returns the output arrays. The arithmetic follows the reference kernels' integer
definitions step by step (``tensorflow/lite/kernels/internal/reference``), with the parameters
their ``Prepare`` computes from the float scales, in the same precision (float32 where they use
``float``, float64 where they use ``double``).
"""

import math

import numpy as np

from . import fixedpoint
from .reference import rounding_divide_by_pot
from .tflite_file import ModelError

__all__ = [
    "KERNELS",
    "activation_range",
    "pool_geometry",
    "quantize_multiplier",
    "round_half_away",
]


def round_half_away(x):
    """C's ``round``: halves away from zero."""
    x = np.asarray(x)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_multiplier(real):
    """TFLite ``QuantizeMultiplier`` for any positive scale: ``(multiplier, shift)``, shift left.

    ``real ~ multiplier * 2**(shift - 31)``.
    """
    if real == 0:
        return 0, 0
    q, shift = math.frexp(float(real))
    fixed = int(round_half_away(q * (1 << 31)))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        return (1 << 31) - 1, 30
    return fixed, shift


def _int_range(dtype):
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def activation_range(code, tensor):
    """``CalculateActivationRangeQuantized``: the clamp a fused activation sets, quantized.

    Raises
    ------
    ModelError
        For a fused activation other than NONE, RELU, RELU_N1_TO_1 and RELU6.
    """
    lo, hi = _int_range(tensor.dtype)
    scale, zero_point = np.float32(tensor.scale[0]), int(tensor.zero_point[0])

    def quantize(value):
        return zero_point + int(round_half_away(np.float32(value) / scale))

    if code == 0:  # NONE
        return lo, hi
    if code == 1:  # RELU
        return max(lo, quantize(0.0)), hi
    if code == 2:  # RELU_N1_TO_1
        return max(lo, quantize(-1.0)), min(hi, quantize(1.0))
    if code == 3:  # RELU6
        return max(lo, quantize(0.0)), min(hi, quantize(6.0))
    raise ModelError(f"fused activation {code} is not supported")


def pool_geometry(op, shape):
    """``(stride_h, stride_w, filter_h, filter_w, pad_top, pad_left, out_h, out_w)`` of a pool."""
    o = op.options
    _, h, w, _ = shape
    sh, sw, fh, fw = o["StrideH"], o["StrideW"], o["FilterHeight"], o["FilterWidth"]
    out_hw, pads = [], []
    for size, stride, kernel in ((h, sh, fh), (w, sw, fw)):
        out = (size + stride - 1) // stride if o["Padding"] == 0 else (size - kernel) // stride + 1
        out_hw.append(out)
        pads.append(max(0, (out - 1) * stride + kernel - size) // 2)
    return sh, sw, fh, fw, pads[0], pads[1], out_hw[0], out_hw[1]


def _pool(op, graph, x, reduce):
    """The windows of an NHWC pool: ``reduce(values, valid)`` over the taps' axis."""
    sh, sw, fh, fw, pt, pl, oh, ow = pool_geometry(op, x.shape)
    b, h, w, c = x.shape
    rows = np.arange(oh)[:, None] * sh - pt + np.arange(fh)[None, :]  # (oh, fh)
    cols = np.arange(ow)[:, None] * sw - pl + np.arange(fw)[None, :]  # (ow, fw)
    valid = ((rows >= 0) & (rows < h))[:, None, :, None] & ((cols >= 0) & (cols < w))[None, :, None]
    rr = np.clip(rows, 0, h - 1)[:, None, :, None]
    cc = np.clip(cols, 0, w - 1)[None, :, None, :]
    windows = x[:, rr, cc, :]  # (b, oh, ow, fh, fw, c)
    values = windows.reshape(b, oh, ow, fh * fw, c).astype(np.int64)
    valid = np.broadcast_to(valid, (oh, ow, fh, fw)).reshape(1, oh, ow, fh * fw, 1)
    out = reduce(values, valid)
    activation = op.options.get("FusedActivationFunction", 0)
    lo, hi = activation_range(activation, graph.tensors[op.outputs[0]])
    return np.clip(out, lo, hi)


def _average_pool(op, graph, x):
    def average(values, valid):
        total = np.where(valid, values, 0).sum(axis=3)
        count = valid.sum(axis=3)
        half = count // 2
        # C division truncates toward zero.
        return np.where(total > 0, (total + half) // count, -((-(total - half)) // count))

    return [_pool(op, graph, x, average).astype(x.dtype)]


def _max_pool(op, graph, x):
    def maximum(values, valid):
        return np.where(valid, values, np.iinfo(x.dtype).min).max(axis=3)

    return [_pool(op, graph, x, maximum).astype(x.dtype)]


def _logistic(op, graph, x):
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if target.type != "INT8" or int(target.zero_point[0]) != -128:
        raise ModelError("LOGISTIC needs an int8 output with zero point -128")
    integer_bits = 4
    real = float(source.scale[0]) * (1 << (31 - integer_bits))
    q, left_shift = math.frexp(real)
    if left_shift < 0:
        # TFLite's input radius then overflows its int (undefined behaviour in the reference
        # kernel, whose results are not a logistic): refused rather than matched.
        raise ModelError(f"an input scale of {source.scale[0]:.3g} (below 2**-28) is not supported")
    multiplier = int(round_half_away(q * (1 << 31)))
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / 2.0**left_shift)
    value = x.astype(np.int64) - int(source.zero_point[0])
    inside = np.clip(value, -radius + 1, radius - 1)  # the clamped branch ignores it
    q4 = fixedpoint.multiply_by_quantized_multiplier(inside, multiplier, left_shift)
    q0 = fixedpoint.logistic(q4, integer_bits)
    out = np.clip(rounding_divide_by_pot(q0, 31 - 8).astype(np.int64) - 128, -128, 127)
    out = np.where(value <= -radius, -128, np.where(value >= radius, 127, out))
    return [out.astype(np.int8)]


def _softmax(op, graph, x):
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    if target.type != "INT8" or int(target.zero_point[0]) != -128:
        raise ModelError("SOFTMAX needs an int8 output with zero point -128")
    if abs(float(target.scale[0]) * 256 - 1) > 1e-6:
        raise ModelError(f"SOFTMAX needs an output scale of 1/256, not {target.scale[0]}")
    integer_bits, accumulation_bits = 5, 12
    real = min(
        float(op.options["Beta"]) * float(source.scale[0]) * (1 << (31 - integer_bits)),
        (1 << 31) - 1.0,
    )
    multiplier, left_shift = quantize_multiplier(real)
    radius = math.floor(((1 << integer_bits) - 1) * (1 << (31 - integer_bits)) / 2.0**left_shift)
    diff_min = -radius
    rows = x.reshape(-1, x.shape[-1]).astype(np.int64)
    diff = rows - rows.max(axis=1, keepdims=True)
    used = diff >= diff_min
    scaled = fixedpoint.multiply_by_quantized_multiplier(
        np.where(used, diff, 0), multiplier, left_shift
    )
    exps = fixedpoint.exp_on_negative_values(scaled, integer_bits)
    terms = np.where(used, fixedpoint.rescale(exps, 0, accumulation_bits), 0)
    sums = np.zeros(len(rows), np.int64)
    for column in terms.T:  # raw int32 sums, in the kernel's order
        sums = ((sums + column - (-(1 << 31))) & 0xFFFFFFFF) + (-(1 << 31))
    scale, bits_over_unit = fixedpoint.reciprocal(sums, accumulation_bits)
    product = fixedpoint.mul(scale[:, None], exps)
    out = np.empty_like(rows)
    for i, shift in enumerate(bits_over_unit):
        shift = int(shift) + 31 - 8
        if shift <= 31:
            out[i] = rounding_divide_by_pot(product[i], shift)
        else:  # 512 or more classes: below half of the lowest step, every probability is 0
            out[i] = 0
    out = np.where(used, np.clip(out - 128, -128, 127), -128)
    return [out.reshape(x.shape).astype(np.int8)]


def _add(op, graph, a, b):
    t1, t2, target = (graph.tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    if target.type != "INT8":
        raise ModelError(f"ADD with a {target.type} output is not supported")
    left_shift = 20
    twice_max = 2 * max(float(t1.scale[0]), float(t2.scale[0]))
    m1, s1 = quantize_multiplier(float(t1.scale[0]) / twice_max)
    m2, s2 = quantize_multiplier(float(t2.scale[0]) / twice_max)
    mo, so = quantize_multiplier(twice_max / ((1 << left_shift) * float(target.scale[0])))
    v1 = (a.astype(np.int64) - int(t1.zero_point[0])) << left_shift
    v2 = (b.astype(np.int64) - int(t2.zero_point[0])) << left_shift
    total = fixedpoint.multiply_by_quantized_multiplier(v1, m1, s1)
    total = total + fixedpoint.multiply_by_quantized_multiplier(v2, m2, s2)
    out = fixedpoint.multiply_by_quantized_multiplier(total, mo, so) + int(target.zero_point[0])
    lo, hi = activation_range(op.options.get("FusedActivationFunction", 0), target)
    return [np.clip(out, lo, hi).astype(np.int8)]


def _relu(op, graph, x):
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    lo, hi = activation_range(1, target)
    multiplier, shift = quantize_multiplier(float(source.scale[0]) / float(target.scale[0]))
    value = x.astype(np.int64) - int(source.zero_point[0])
    out = fixedpoint.multiply_by_quantized_multiplier(value, multiplier, shift)
    return [np.clip(out + int(target.zero_point[0]), lo, hi).astype(np.int8)]


def _relu6(op, graph, x):
    # TFLite Micro clamps in the input's quantization and does not rescale (its Relu6Prepare).
    source = graph.tensors[op.inputs[0]]
    zero_point = int(source.zero_point[0])
    six = int(round_half_away(np.float32(6.0) / np.float32(source.scale[0]))) + zero_point
    return [np.clip(x, zero_point, min(six, 127)).astype(np.int8)]


def _mul(op, graph, a, b):
    t1, t2, target = (graph.tensors[i] for i in (*op.inputs[:2], op.outputs[0]))
    real = float(t1.scale[0]) * float(t2.scale[0]) / float(target.scale[0])
    multiplier, shift = quantize_multiplier(real)
    product = (a.astype(np.int64) - int(t1.zero_point[0])) * (
        b.astype(np.int64) - int(t2.zero_point[0])
    )
    out = fixedpoint.multiply_by_quantized_multiplier(product, multiplier, shift)
    lo, hi = activation_range(op.options.get("FusedActivationFunction", 0), target)
    return [np.clip(out + int(target.zero_point[0]), lo, hi).astype(np.int8)]


def _quantize(op, graph, x):
    source, target = graph.tensors[op.inputs[0]], graph.tensors[op.outputs[0]]
    lo, hi = _int_range(target.dtype)
    zero_point = int(target.zero_point[0])
    if source.type == "FLOAT32":
        scaled = round_half_away(x.astype(np.float32) / np.float32(target.scale[0]))
        return [np.clip(scaled.astype(np.int64) + zero_point, lo, hi).astype(target.dtype)]
    multiplier, shift = quantize_multiplier(float(source.scale[0]) / float(target.scale[0]))
    value = x.astype(np.int64) - int(source.zero_point[0])
    out = fixedpoint.multiply_by_quantized_multiplier(value, multiplier, shift) + zero_point
    return [np.clip(out, lo, hi).astype(target.dtype)]


def _dequantize(op, graph, x):
    source = graph.tensors[op.inputs[0]]
    value = x.astype(np.int64) - int(source.zero_point[0])
    return [(float(source.scale[0]) * value).astype(np.float32)]


#: CPU kernels by opcode: ``kernel(op, graph, *inputs) -> [outputs]``, and the input and output
#: types each accepts.
KERNELS = {
    "AVERAGE_POOL_2D": (_average_pool, {"INT8"}, {"INT8"}),
    "MAX_POOL_2D": (_max_pool, {"INT8"}, {"INT8"}),
    "LOGISTIC": (_logistic, {"INT8"}, {"INT8"}),
    "SOFTMAX": (_softmax, {"INT8"}, {"INT8"}),
    "ADD": (_add, {"INT8"}, {"INT8"}),
    "MUL": (_mul, {"INT8"}, {"INT8"}),
    "RELU": (_relu, {"INT8"}, {"INT8"}),
    "RELU6": (_relu6, {"INT8"}, {"INT8"}),
    "QUANTIZE": (_quantize, {"INT8", "UINT8", "FLOAT32"}, {"INT8", "UINT8"}),
    "DEQUANTIZE": (_dequantize, {"INT8", "UINT8"}, {"FLOAT32"}),
}
