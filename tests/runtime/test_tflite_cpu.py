"""The CPU kernels against TFLite Micro's reference kernels, over every int8 input they take."""

import numpy as np
import pytest
from tflite_build import ModelBuilder
from tinynpu.runtime.pooling import average_pool_constants, tflite_average
from tinynpu.runtime.reference import (
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)
from tinynpu.runtime.tflite_cpu import KERNELS
from tinynpu.runtime.tflite_file import read_tflite

from tinynpu.tflm import reference_steps

EVERY_INT8 = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)


def _single(opcode, in_shapes, out_shape, out_type="INT8", *, quant, options=None, **fields):
    m = ModelBuilder()
    g = m.main
    types, fields_ = zip(*quant[:-1], strict=True)
    inputs = [g.tensor(s, t, **f) for s, t, f in zip(in_shapes, types, fields_, strict=True)]
    y = g.tensor(out_shape, out_type, **quant[-1][1])
    g.op(opcode, inputs, [y], options, **fields)
    g.inputs, g.outputs = inputs, [y]
    return m.build()


def _check(data, inputs):
    model = read_tflite(data)
    op = model.main.operators[0]
    (ours,) = KERNELS[op.opcode][0](op, model.main, *inputs)
    (theirs,) = reference_steps(data, [inputs], [model.main.outputs[0]])
    expected = theirs[model.main.outputs[0]].reshape(ours.shape)
    assert ours.dtype == expected.dtype
    assert np.array_equal(ours, expected), np.count_nonzero(ours != expected)


def q(scale, zero_point, type="INT8"):
    return (type, {"scale": scale, "zero_point": zero_point})


@pytest.mark.parametrize(
    ("scale", "zero_point"),
    [(0.1, -128), (0.05, 3), (0.5, 10), (0.0123, -7), (1.3, 0), (0.2, 36), (0.0037, 127)],
)
def test_logistic_on_every_int8(scale, zero_point):
    data = _single("LOGISTIC", [(1, 256)], (1, 256), quant=[q(scale, zero_point), q(1 / 256, -128)])
    _check(data, [EVERY_INT8])


@pytest.mark.parametrize(("beta", "scale"), [(1.0, 0.1), (1.0, 0.05), (0.5, 0.3), (2.0, 0.01)])
def test_softmax(beta, scale):
    rng = np.random.default_rng(int(beta * 100 + scale * 1000))
    data = _single(
        "SOFTMAX",
        [(16, 10)],
        (16, 10),
        quant=[q(scale, 4), q(1 / 256, -128)],
        options="SoftmaxOptions",
        Beta=beta,
    )
    _check(data, [rng.integers(-128, 128, (16, 10), dtype=np.int8)])


@pytest.mark.parametrize("opcode", ["ADD", "MUL"])
@pytest.mark.parametrize("activation", [0, 1, 3])
@pytest.mark.parametrize(
    "scales",
    [
        (0.1, 3, 0.05, -4, 0.2, 1),
        (0.02, -128, 0.03, 5, 0.04, -3),
        (0.5, 0, 0.5, 0, 0.9, 0),
        (0.02, -128, 0.03, 5, 0.0004, -3),
    ],
)
def test_add_and_mul_with_broadcast(opcode, scales, activation):
    s1, z1, s2, z2, so, zo = scales
    a = np.repeat(EVERY_INT8.reshape(1, 256, 1), 4, axis=2)
    b = np.array([[[-128, 0, 1, 127]]], np.int8)
    data = _single(
        opcode,
        [(1, 256, 4), (1, 1, 4)],
        (1, 256, 4),
        quant=[q(s1, z1), q(s2, z2), q(so, zo)],
        options=f"{opcode.title()}Options",
        FusedActivationFunction=activation,
    )
    _check(data, [a, b])


@pytest.mark.parametrize("opcode", ["RELU", "RELU6"])
@pytest.mark.parametrize(
    ("source", "target"),
    [
        (q(0.1, 3), q(0.05, -2)),
        (q(0.05, -128), q(0.05, -128)),
        (q(0.02, 10), q(0.1, -100)),
        (q(0.3, 0), q(0.01, 5)),
    ],
)
def test_standalone_relus(opcode, source, target):
    data = _single(opcode, [(1, 256)], (1, 256), quant=[source, target])
    _check(data, [EVERY_INT8])


@pytest.mark.parametrize("opcode", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize(
    ("padding", "stride", "size"),
    [(0, 1, 2), (1, 2, 3), (0, 2, 2), (1, 1, 3), (0, 3, 2), (0, 1, 3)],
)
def test_pools_with_and_without_padding(opcode, padding, stride, size):
    h, w = 7, 6
    out = [(n + stride - 1) // stride if padding == 0 else (n - size) // stride + 1 for n in (h, w)]
    rng = np.random.default_rng(stride * 10 + size)
    data = _single(
        opcode,
        [(2, h, w, 5)],
        (2, *out, 5),
        quant=[q(0.1, -5), q(0.1, -5)],
        options="Pool2DOptions",
        Padding=padding,
        StrideW=stride,
        StrideH=stride,
        FilterWidth=size,
        FilterHeight=size,
        FusedActivationFunction=1,
    )
    _check(data, [rng.integers(-128, 128, (2, h, w, 5), dtype=np.int8)])


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (q(0.1, -128), q(1 / 256, 0, "UINT8")),
        (q(0.1, 3), q(0.05, -2)),
        (q(0.1, 3), q(0.3, 7)),
        (q(0.02, 5, "UINT8"), q(0.03, -9)),
    ],
)
def test_quantize_between_integer_types(source, target):
    data = _single("QUANTIZE", [(1, 256)], (1, 256), target[0], quant=[source, target])
    values = EVERY_INT8 if source[0] == "INT8" else EVERY_INT8.view(np.uint8)
    _check(data, [values])


def test_quantize_and_dequantize_float():
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 300), "FLOAT32")
    y = g.tensor((1, 300), scale=0.07, zero_point=9)
    g.op("QUANTIZE", [x], [y])
    g.inputs, g.outputs = [x], [y]
    _check(m.build(), [np.linspace(-12, 12, 300, dtype=np.float32).reshape(1, 300)])
    data = _single(
        "DEQUANTIZE", [(1, 256)], (1, 256), "FLOAT32", quant=[q(0.07, 9), ("FLOAT32", {})]
    )
    _check(data, [EVERY_INT8])


def _tflite_division(total, count):
    """TFLite's ``(sum +- count / 2) / count`` in C's truncating division, in Python ints."""
    half = count // 2
    value = total + half if total > 0 else total - half
    quotient = abs(value) // count
    return quotient if value >= 0 else -quotient


@pytest.mark.parametrize("count", [*range(1, 17), 25, 49, 64])
def test_the_pool_output_stage_divides_every_window_sum_like_tflite(count):
    multiplier, shift = average_pool_constants(count)
    if count & (count - 1) == 0:
        assert (multiplier, shift) == (2**31 - 1, count.bit_length() - 1)
    sums = np.arange(-128 * count, 127 * count + 1)
    expected = [_tflite_division(int(s), count) for s in sums]
    assert tflite_average(sums, count).tolist() == expected
    stage = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(sums, multiplier), shift)
    assert stage.tolist() == expected
