"""The quantized golden model, against values worked out by hand from the definitions."""

import numpy as np
import pytest
from tinynpu.runtime.reference import (
    INT32_MAX,
    INT32_MIN,
    conv2d,
    gemm,
    int32_output,
    quantize_multiplier,
    requantize,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
)

HALF = 1 << 30  # multiplier for 0.5 (2**30 * 2**-31)
THREE_QUARTERS = 3 << 29  # 1610612736, multiplier for 0.75

# --- saturating_rounding_doubling_high_mul --------------------------------------------------
# ab = a * b; nudge = 2**30 if ab >= 0 else 1 - 2**30; result = trunc((ab + nudge) / 2**31).


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        # the one overflow: (-2**31)**2 / 2**31 = 2**31 saturates
        (INT32_MIN, INT32_MIN, INT32_MAX),
        # (2**60 + 2**30) / 2**31 = 2**29 + 0.5 -> 2**29
        (1 << 30, 1 << 30, 1 << 29),
        # 3 * 2**30 = 1.5 * 2**31; (1.5 * 2**31 + 2**30) / 2**31 = 2 exactly
        (3, HALF, 2),
        # -1.5 * 2**31 + 1 - 2**30 = -2**32 + 1; / 2**31 = -1.99999... -> truncated to -1
        (-3, HALF, -1),
        # 2**30 + 2**30 = 2**31 -> 1 (0.5 rounds up)
        (1, HALF, 1),
        # -2**30 + 1 - 2**30 = -2**31 + 1 -> -0.99999... -> 0 (-0.5 rounds up, to 0)
        (-1, HALF, 0),
        # 5 * 2**30 + 2**30 = 3 * 2**31 -> 3 (2.5 -> 3)
        (5, HALF, 3),
        # -7 * 2**30 + 1 - 2**30 = -4 * 2**31 + 1 -> -3.99999... -> -3 (-3.5 -> -3)
        (-7, HALF, -3),
        # -2 * 3 * 2**29 = -1.5 * 2**31; + 1 - 2**30 = -2**32 + 1 -> -1
        (-2, THREE_QUARTERS, -1),
        # -2**31 * (2**31 - 1) + 1 - 2**30 = -2**62 + 2**30 + 1; / 2**31 = -2**31 + 0.5 + 2**-31
        # -> truncated to -2**31 + 1
        (INT32_MIN, INT32_MAX, -2147483647),
        # (2**31 - 1)**2 + 2**30 = 2**62 - 2**32 + 2**30 + 1; / 2**31 = 2**31 - 1.5 + 2**-31
        # -> 2**31 - 2
        (INT32_MAX, INT32_MAX, 2147483646),
        # -2**61 + 1 - 2**30; / 2**31 = -2**30 - 0.5 + 2**-31 -> -2**30
        (INT32_MIN, HALF, -(1 << 30)),
        (0, INT32_MIN, 0),
    ],
)
def test_srdhm_values(a, b, expected):
    result = saturating_rounding_doubling_high_mul(a, b)
    assert result.dtype == np.int32
    assert int(result) == expected
    # commutative
    assert int(saturating_rounding_doubling_high_mul(b, a)) == expected


def test_srdhm_broadcasts():
    a = np.array([[3], [-3], [INT32_MIN]], dtype=np.int32)
    b = np.array([HALF, INT32_MIN], dtype=np.int32)
    result = saturating_rounding_doubling_high_mul(a, b)
    # column 1 (x -1): 3 * -2**31 + 1 - 2**30 = (-3.5 + 2**-31) * 2**31 -> -3;
    # -3 * -2**31 + 2**30 = 3.5 * 2**31 -> 3
    assert result.tolist() == [[2, -3], [-1, 3], [-(1 << 30), INT32_MAX]]
    assert result.dtype == np.int32


def test_srdhm_rejects_out_of_range_and_floats():
    with pytest.raises(ValueError, match="outside"):
        saturating_rounding_doubling_high_mul(np.int64(INT32_MAX) + 1, 1)
    with pytest.raises(TypeError):
        saturating_rounding_doubling_high_mul(1.0, 1)


# --- rounding_divide_by_pot -----------------------------------------------------------------
# mask = 2**s - 1; remainder = x & mask; threshold = (mask >> 1) + (x < 0);
# result = (x >> s) + (remainder > threshold): x / 2**s rounded half away from zero.


@pytest.mark.parametrize(
    ("x", "shift", "expected"),
    [
        (5, 1, 3),  # 2.5: 5 >> 1 = 2, rem 1 > thr 0 -> 3
        (-5, 1, -3),  # -2.5: -5 >> 1 = -3, rem 1 > thr 1? no -> -3
        (4, 1, 2),
        (3, 1, 2),  # 1.5 -> 2
        (-3, 1, -2),  # -1.5: -3 >> 1 = -2, rem 1, thr 1 -> -2
        (6, 2, 2),  # 1.5: 6 >> 2 = 1, rem 2 > thr 1 -> 2
        (-6, 2, -2),  # -1.5: -6 >> 2 = -2, rem 2 > thr 2? no -> -2
        (2, 2, 1),  # 0.5 -> 1
        (-2, 2, -1),  # -0.5: -2 >> 2 = -1, rem 2, thr 2 -> -1
        (-5, 2, -1),  # -1.25: -5 >> 2 = -2, rem 3 > thr 2 -> -1
        (-7, 2, -2),  # -1.75: -7 >> 2 = -2, rem 1 -> -2
        (7, 0, 7),
        (-7, 0, -7),
        (-1, 31, 0),  # -1 >> 31 = -1, rem 2**31 - 1 > thr 2**30 -> 0
        (INT32_MAX, 31, 1),  # 0 + (2**31 - 1 > 2**30 - 1)
        (INT32_MIN, 31, -1),  # exactly -1: rem 0
        (1 << 30, 31, 1),  # 0.5 -> 1: rem 2**30 > thr 2**30 - 1
        (-(1 << 30), 31, -1),  # -0.5 -> -1: rem 2**30, thr 2**30
        (-(1 << 30) + 1, 31, 0),  # just above -0.5 -> 0
    ],
)
def test_rounding_divide_by_pot_values(x, shift, expected):
    result = rounding_divide_by_pot(x, shift)
    assert result.dtype == np.int32
    assert int(result) == expected


def test_rounding_divide_by_pot_broadcasts_shift():
    assert rounding_divide_by_pot([[10], [-10]], [0, 1, 2, 3]).tolist() == [
        [10, 5, 3, 1],  # 10, 5, 2.5 -> 3, 1.25 -> 1
        [-10, -5, -3, -1],
    ]


@pytest.mark.parametrize("shift", [-1, 32])
def test_rounding_divide_by_pot_rejects_bad_shift(shift):
    with pytest.raises(ValueError, match="shift"):
        rounding_divide_by_pot(1, shift)


# --- requantize / int32_output --------------------------------------------------------------


@pytest.mark.parametrize(
    ("acc", "bias", "multiplier", "shift", "zero_point", "act", "expected"),
    [
        (100, 0, HALF, 0, 0, (-128, 127), 50),
        # 110 * 0.5 = 55; 55 / 4 = 13.75 -> 14; + 3
        (100, 10, HALF, 2, 3, (-128, 127), 17),
        # double rounding: srdhm(5, 0.5) = 2.5 -> 3, then 3 / 2 = 1.5 -> 2 (exact 1.25)
        (5, 0, HALF, 1, 0, (-128, 127), 2),
        # -3 * 0.5 = -1.5 -> -1 (srdhm ties go up)
        (-3, 0, HALF, 0, 0, (-128, 127), -1),
        # saturation: 500 -> 127, -500 -> -128
        (1000, 0, HALF, 0, 0, (-128, 127), 127),
        (-1000, 0, HALF, 0, 0, (-128, 127), -128),
        # 127 + 1 from the zero point saturates
        (254, 0, HALF, 0, 1, (-128, 127), 127),
        # negative zero points: 20 - 128, 0 - 128, -2 - 128 saturates
        (40, 0, HALF, 0, -128, (-128, 127), -108),
        (0, 0, HALF, 0, -128, (-128, 127), -128),
        (-4, 0, HALF, 0, -128, (-128, 127), -128),
        # relu (act_min = zero_point = -5): -10 - 5 clamps to -5; 10 - 5 passes
        (-20, 0, HALF, 0, -5, (-5, 127), -5),
        (20, 0, HALF, 0, -5, (-5, 127), 5),
        # relu6-like upper clamp at 25: 50 - 5 = 45 -> 25
        (100, 0, HALF, 0, -5, (-5, 25), 25),
        (40, 0, HALF, 0, -5, (-5, 25), 15),
        # an activation range wider than int8 is cut to int8
        (1000, 0, HALF, 0, 0, (-1000, 1000), 127),
        (-1000, 0, HALF, 0, 0, (-1000, 1000), -128),
        # acc + bias wraps: 2**31 - 1 + 1 = -2**31; * 0.5 = -2**30; / 2**30 = -1
        # (without the wrap it would be +1)
        (INT32_MAX, 1, HALF, 30, 0, (-128, 127), -1),
        # multiplier 0 (a scale below 2**-32) leaves just the zero point
        (INT32_MAX, 0, 0, 0, 7, (-128, 127), 7),
    ],
)
def test_requantize_values(acc, bias, multiplier, shift, zero_point, act, expected):
    result = requantize(acc, bias, multiplier, shift, zero_point, *act)
    assert result.dtype == np.int8
    assert int(result) == expected


def test_requantize_per_channel():
    acc = np.array([[8, 8, 8], [-8, -8, -8]], dtype=np.int32)
    result = requantize(
        acc,
        bias=[0, 10, -10],
        multiplier=[HALF, HALF, THREE_QUARTERS],
        shift=[0, 1, 2],
        zero_point=0,
        act_min=-128,
        act_max=127,
    )
    # channel 0: x = 8 -> 4; x = -8 -> -4 (exact)
    # channel 1: x = 18 -> 9 -> 9/2 = 4.5 -> 5; x = 2 -> 1 -> 0.5 -> 1
    # channel 2: x = -2 -> -1.5 -> -1 -> -0.25 -> 0; x = -18 -> -13.5 -> -13 -> -3.25 -> -3
    assert result.tolist() == [[4, 5, 0], [-4, 1, -3]]


def test_requantize_rejects_bad_parameters():
    acc = np.zeros((2, 3), dtype=np.int32)
    with pytest.raises(ValueError, match="per output channel"):
        requantize(acc, [0, 0], HALF, 0, 0, -128, 127)
    with pytest.raises(ValueError, match="per output channel"):
        requantize(acc, np.zeros((2, 3), dtype=np.int32), HALF, 0, 0, -128, 127)
    with pytest.raises(ValueError, match="zero_point"):
        requantize(acc, 0, HALF, 0, 128, -128, 127)
    with pytest.raises(ValueError, match="shift"):
        requantize(acc, 0, HALF, 32, 0, -128, 127)
    with pytest.raises(ValueError, match="acc"):
        requantize(np.int64(INT32_MAX) + 1, 0, HALF, 0, 0, -128, 127)
    with pytest.raises(ValueError, match="Empty"):
        requantize(acc, 0, HALF, 0, 0, 10, 5)
    with pytest.raises(ValueError, match="Empty"):
        requantize(acc, 0, HALF, 0, 0, 200, 300)


def test_int32_output():
    # 1 + (2**31 - 1) = 2**31 wraps to -2**31
    result = int32_output(1, INT32_MAX)
    assert result.dtype == np.int32
    assert int(result) == INT32_MIN
    # -2**31 + -1 wraps to 2**31 - 1
    assert int(int32_output(INT32_MIN, -1)) == INT32_MAX
    assert int32_output([5, -5], [1, 2]).tolist() == [6, -3]
    assert int32_output([5, -5], [1, 2], 0, 4).tolist() == [4, 0]
    with pytest.raises(ValueError, match="Empty"):
        int32_output(0, 0, 1, 0)


# --- gemm -----------------------------------------------------------------------------------


def test_gemm_1x1x1():
    # 3 * -4 + 5 = -7; -7 * 0.5 = -3.5 -> -3
    result = gemm([[3]], [[-4]], [5], [HALF], [0])
    assert result.dtype == np.int8
    assert result.tolist() == [[-3]]
    assert gemm([[3]], [[-4]], [5], [HALF], [0], output_int32=True).tolist() == [[-7]]


A = [[1, 2, 3], [-1, 0, 4]]
B = [[1, -1], [2, 0], [3, -5]]
# a @ b: [[1 + 4 + 9, -1 + 0 - 15], [-1 + 0 + 12, 1 + 0 - 20]] = [[14, -16], [11, -19]]


def test_gemm_2x3x2_int32():
    result = gemm(A, B, [100, -100], 0, 0, output_int32=True)
    assert result.dtype == np.int32
    assert result.tolist() == [[114, -116], [111, -119]]
    assert gemm(A, B, 0, 0, 0, output_int32=True, act_min=-17, act_max=12).tolist() == [
        [12, -16],
        [11, -17],
    ]


def test_gemm_2x3x2_requantized():
    result = gemm(A, B, [2, 0], [HALF, HALF], [0, 1], zero_point=10)
    # column 0 (x0.5): 16 -> 8 -> 18; 13 -> 6.5 -> 7 -> 17
    # column 1 (x0.25): -16 -> -8 -> -4 -> 6; -19 -> -9.5 -> -9 -> -4.5 -> -5 -> 5
    assert result.tolist() == [[18, 6], [17, 5]]
    # relu at the zero point, upper clamp at 17
    assert gemm(
        A, B, [2, 0], [HALF, HALF], [0, 1], zero_point=10, act_min=10, act_max=17
    ).tolist() == [[17, 10], [17, 10]]


def test_gemm_int32_wraps():
    # bias forces the wrap: 1 * 1 + (2**31 - 1) = 2**31 -> -2**31
    assert gemm([[1]], [[1]], [INT32_MAX], 0, 0, output_int32=True).tolist() == [[INT32_MIN]]
    # the accumulator itself wraps: 2**17 products of (-128)(-128) = 2**17 * 2**14 = 2**31
    k = 1 << 17
    a = np.full((1, k), -128, dtype=np.int8)
    b = np.full((k, 2), -128, dtype=np.int8)
    # column 1 swaps one product for -128 * 127: 2**31 - 16384 - 16256 = 2147451008, no wrap
    b[0, 1] = 127
    assert gemm(a, b, 0, 0, 0, output_int32=True).tolist() == [[INT32_MIN, 2147451008]]


def test_gemm_rejects_bad_operands():
    with pytest.raises(ValueError, match="shapes"):
        gemm([[1, 2]], [[1, 2]], 0, HALF, 0)
    with pytest.raises(ValueError, match=r"-128\.\.127"):
        gemm([[128]], [[1]], 0, HALF, 0)
    with pytest.raises(TypeError):
        gemm([[1.0]], [[1]], 0, HALF, 0)


# --- conv2d ---------------------------------------------------------------------------------

X_3x3 = np.arange(1, 10, dtype=np.int8).reshape(1, 3, 3, 1)  # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
ONES_3x3 = np.ones((3, 3, 1, 1), dtype=np.int8)


def _conv_int32(x, w, **kwargs):
    return conv2d(x, w, 0, 0, 0, output_int32=True, **kwargs)[0, :, :, 0].tolist()


def test_conv2d_same_padding_zero():
    # 3x3 neighbourhood sums: corner 1+2+4+5 = 12, edge 1+2+3+4+5+6 = 21, centre 45, ...
    assert _conv_int32(X_3x3, ONES_3x3, pad_top=1, pad_left=1) == [
        [12, 21, 16],
        [27, 45, 33],
        [24, 39, 28],
    ]


def test_conv2d_padding_reads_input_zero_point():
    # padded taps read -2: corners have 5 of them (-10), edges 3 (-6), the centre none
    assert _conv_int32(X_3x3, ONES_3x3, pad_top=1, pad_left=1, input_zero_point=-2) == [
        [2, 15, 6],
        [21, 45, 27],
        [14, 33, 18],
    ]


def test_conv2d_stride_2():
    # out_hw = ((3 + 2 - 3) // 2 + 1,) * 2 = (2, 2): the corners of the stride-1 result
    assert _conv_int32(X_3x3, ONES_3x3, stride=(2, 2), pad_top=1, pad_left=1) == [
        [12, 16],
        [24, 28],
    ]
    assert _conv_int32(
        X_3x3, ONES_3x3, stride=(2, 2), pad_top=1, pad_left=1, input_zero_point=-2
    ) == [[2, 6], [14, 18]]


def test_conv2d_explicit_out_hw_pads_bottom_right():
    # TFLite SAME for 3x3 input, 2x2 kernel, stride 2: pad_top = pad_left = 0, one row and
    # column of padding after the input. Windows: rows/cols {0, 1} and {2, 3 (padding)}.
    ones_2x2 = np.ones((2, 2, 1, 1), dtype=np.int8)
    # zero point 0: [[1+2+4+5, 3+6], [7+8, 9]]
    assert _conv_int32(X_3x3, ones_2x2, stride=2, out_hw=(2, 2)) == [[12, 9], [15, 9]]
    # zero point 3: 2, 2 and 3 padded taps add 6, 6 and 9
    assert _conv_int32(X_3x3, ones_2x2, stride=2, out_hw=(2, 2), input_zero_point=3) == [
        [12, 15],
        [21, 18],
    ]
    # the default out_hw would be ((3 - 2) // 2 + 1,) * 2 = (1, 1)
    assert _conv_int32(X_3x3, ones_2x2, stride=2) == [[12]]


def test_conv2d_requantizes_per_channel():
    w = np.zeros((3, 3, 1, 2), dtype=np.int8)
    w[1, 1, 0, 0] = 1  # channel 0: the centre tap, i.e. the input itself
    w[:, :, 0, 1] = 1  # channel 1: the 3x3 sum
    result = conv2d(X_3x3, w, [0, -1], [HALF, HALF], [0, 2], pad_top=1, pad_left=1, zero_point=-3)
    assert result.dtype == np.int8
    # channel 0: 1..9 * 0.5 -> 0.5 -> 1, 1, 1.5 -> 2, 2, 2.5 -> 3, 3, 3.5 -> 4, 4, 4.5 -> 5; - 3
    assert result[0, :, :, 0].tolist() == [[-2, -2, -1], [-1, 0, 0], [1, 1, 2]]
    # channel 1: (sum - 1) / 8: 11 -> 5.5 -> 6 -> 1.5 -> 2; 20 -> 10 -> 2.5 -> 3;
    # 15 -> 7.5 -> 8 -> 2; 26 -> 13 -> 3.25 -> 3; 44 -> 22 -> 5.5 -> 6; 32 -> 16 -> 4;
    # 23 -> 11.5 -> 12 -> 3; 38 -> 19 -> 4.75 -> 5; 27 -> 13.5 -> 14 -> 3.5 -> 4; then - 3
    assert result[0, :, :, 1].tolist() == [[-1, 0, -1], [0, 3, 1], [0, 2, 1]]


def _nested_loop_conv(x, w, stride, pad_top, pad_left, out_hw, input_zero_point, bias):
    """Raw int32 output by plain loops over Python ints (no wrap needed at these sizes)."""
    x, w = x.tolist(), w.tolist()
    batch, height, width, channels = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    kh, kw, out_channels = len(w), len(w[0]), len(w[0][0][0])
    out = []
    for n in range(batch):
        rows = []
        for oy in range(out_hw[0]):
            pixels = []
            for ox in range(out_hw[1]):
                values = []
                for o in range(out_channels):
                    total = bias[o]
                    for i in range(kh):
                        for j in range(kw):
                            iy = oy * stride[0] - pad_top + i
                            ix = ox * stride[1] - pad_left + j
                            inside = 0 <= iy < height and 0 <= ix < width
                            for c in range(channels):
                                value = x[n][iy][ix][c] if inside else input_zero_point
                                total += value * w[i][j][c][o]
                    values.append(total)
                pixels.append(values)
            rows.append(pixels)
        out.append(rows)
    return out


@pytest.mark.parametrize(
    ("stride", "pad_top", "pad_left", "out_hw", "kernel"),
    [
        ((1, 1), 0, 0, None, (3, 3)),
        ((2, 1), 1, 2, None, (3, 2)),
        # default (4, 2): more output needs padding after the input
        ((2, 3), 2, 1, (5, 3), (2, 3)),
        ((1, 2), 0, 1, (2, 2), (1, 1)),  # fewer outputs than the default (5, 4)
    ],
)
def test_conv2d_multichannel_matches_nested_loops(stride, pad_top, pad_left, out_hw, kernel):
    rng = np.random.default_rng(7)
    x = rng.integers(-128, 128, size=(2, 5, 6, 3), dtype=np.int8)
    w = rng.integers(-128, 128, size=(*kernel, 3, 4), dtype=np.int8)
    bias = [1000, -2000, 0, 123456]
    if out_hw is None:
        out_hw = (
            (5 + 2 * pad_top - kernel[0]) // stride[0] + 1,
            (6 + 2 * pad_left - kernel[1]) // stride[1] + 1,
        )
    expected = _nested_loop_conv(x, w, stride, pad_top, pad_left, out_hw, -7, bias)
    kwargs = {
        "stride": stride,
        "pad_top": pad_top,
        "pad_left": pad_left,
        "out_hw": out_hw,
        "input_zero_point": -7,
    }
    raw = conv2d(x, w, bias, 0, 0, output_int32=True, **kwargs)
    assert raw.dtype == np.int32
    assert raw.tolist() == expected
    multiplier, shift = [HALF, THREE_QUARTERS, 1518500250, INT32_MAX], [8, 9, 10, 11]
    requantized = conv2d(x, w, bias, multiplier, shift, zero_point=4, **kwargs)
    assert requantized.dtype == np.int8
    # requantize is checked by hand above; here it only has to see the same accumulators
    assert np.array_equal(
        requantized, requantize(np.array(expected) - bias, bias, multiplier, shift, 4, -128, 127)
    )


def test_conv2d_1x1_matches_gemm():
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, size=(2, 3, 4, 5), dtype=np.int8)
    w = rng.integers(-128, 128, size=(1, 1, 5, 6), dtype=np.int8)
    bias = rng.integers(-5000, 5000, size=6)
    params = (bias, [HALF] * 6, [7] * 6)
    expected = gemm(x.reshape(-1, 5), w.reshape(5, 6), *params, zero_point=-1)
    assert np.array_equal(conv2d(x, w, *params, zero_point=-1), expected.reshape(2, 3, 4, 6))


def test_conv2d_rejects_bad_arguments():
    with pytest.raises(ValueError, match="does not match"):
        conv2d(X_3x3, np.ones((3, 3, 2, 1), dtype=np.int8), 0, HALF, 0)
    with pytest.raises(ValueError, match="Empty output"):
        conv2d(X_3x3, np.ones((4, 4, 1, 1), dtype=np.int8), 0, HALF, 0)
    with pytest.raises(ValueError, match="stride"):
        conv2d(X_3x3, ONES_3x3, 0, HALF, 0, stride=0)
    with pytest.raises(ValueError, match="input_zero_point"):
        conv2d(X_3x3, ONES_3x3, 0, HALF, 0, input_zero_point=-129)


# --- quantize_multiplier --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.5, (1 << 30, 0)),  # frexp = (0.5, 0): 0.5 * 2**31
        (0.25, (1 << 30, 1)),  # (0.5, -1)
        (0.75, (1610612736, 0)),  # (0.75, 0): 0.75 * 2**31
        (0.1, (1717986918, 3)),  # (0.8, -3): 0.8 * 2**31 = 1717986918.4 -> 0x66666666
        (2.0**-32, (1 << 30, 31)),  # (0.5, -31): the smallest representable shift
        (2.0**-33, (0, 0)),  # (0.5, -32): shift 32 would be needed -> zero multiplier
        # q * 2**31 = 2**30 + 0.5 rounds half away from zero (Python's round() would give 2**30)
        (0.5 + 2.0**-32, ((1 << 30) + 1, 0)),
        # q = 1 - 2**-39, q * 2**31 = 2**31 - 2**-8 rounds to 2**31: halved, shift 1 -> 0
        (0.5 - 2.0**-40, (1 << 30, 0)),
        # the same round-up just below 2**-32 brings shift 32 back to 31
        (2.0**-32 - 2.0**-72, (1 << 30, 31)),
        # the largest multiplier: q = 1 - 2**-31, q * 2**31 = 2**31 - 1 exactly
        (1 - 2.0**-31, (INT32_MAX, 0)),
    ],
)
def test_quantize_multiplier_values(real, expected):
    result = quantize_multiplier(real)
    assert result == expected
    assert all(type(value) is int for value in result)


def test_quantize_multiplier_arrays():
    multiplier, shift = quantize_multiplier(np.array([0.5, 0.25, 0.75, 2.0**-40]))
    assert multiplier.dtype == np.int32 and shift.dtype == np.int32
    assert multiplier.tolist() == [1 << 30, 1 << 30, 1610612736, 0]
    assert shift.tolist() == [0, 1, 0, 0]


@pytest.mark.parametrize(
    "real", [1.0, 1.5, 0.0, -0.5, float("nan"), float("inf"), 1 - 2.0**-40, 1 - 2.0**-33]
)
def test_quantize_multiplier_rejects(real):
    with pytest.raises(ValueError):
        quantize_multiplier(real)
    with pytest.raises(ValueError):
        quantize_multiplier([0.5, real])


def test_quantize_multiplier_feeds_requantize():
    multiplier, shift = quantize_multiplier(0.1)
    assert int(requantize(1000, 0, multiplier, shift, 0, -128, 127)) == 100
    # 1000: 1717986918000 / 2**31 = 799.9999998, + 0.5 (nudge) truncates to 800; 800 / 8 = 100
    # 5: 8589934590 / 2**31 = 3.9999999991, + 0.5 truncates to 4; 4 / 8 = 0.5 -> 1
    assert int(requantize(5, 0, multiplier, shift, 0, -128, 127)) == 1
