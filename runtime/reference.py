"""A numpy golden model of TFLite/gemmlowp-style int8 quantized arithmetic.

Hardware results are compared against these functions bit for bit, so every step follows the
integer definitions of gemmlowp's fixed-point primitives and TFLite's reference kernels, never a
floating-point approximation. All intermediate arithmetic is done in ``int64``, where none of
the steps can overflow; the int32 behaviour of the hardware (the wrap of the accumulator, the
saturation of :func:`saturating_rounding_doubling_high_mul`) is applied explicitly.

Conventions
-----------
* Integer inputs must have an integer dtype (or be Python ints) and lie in the range of the type
  they stand for (int8 operands, int32 accumulators); anything else raises ``TypeError`` or
  ``ValueError`` rather than being silently wrapped.
* ``shift`` is always a *right* shift in ``0..31`` (the multiplier is below one), i.e. the
  negated TFLite ``shift`` exponent: ``real ≈ multiplier * 2**-31 * 2**-shift``.
* Per-channel parameters (bias, multiplier, shift) apply to the last axis of the accumulator.
* The accumulator is the raw sum of products: input zero points are *not* subtracted; the
  caller folds ``-input_zero_point * sum(weights)`` into the bias.
"""

import operator

import numpy as np

__all__ = [
    "INT32_MAX",
    "INT32_MIN",
    "conv2d",
    "gemm",
    "int32_output",
    "quantize_multiplier",
    "requantize",
    "rounding_divide_by_pot",
    "saturating_rounding_doubling_high_mul",
]

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
_INT8_MIN, _INT8_MAX = -128, 127


def _int_array(value, name, lo, hi):
    """``value`` as an int64 array, checked to be integers within ``lo..hi``."""
    array = np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be integers, not {array.dtype}")
    if array.size and (int(array.min()) < lo or int(array.max()) > hi):
        raise ValueError(f"{name} has values outside {lo}..{hi}")
    return array.astype(np.int64)


def _int_scalar(value, name, lo, hi):
    """``value`` as a Python int, checked to lie within ``lo..hi``."""
    value = operator.index(value)
    if not lo <= value <= hi:
        raise ValueError(f"{name} = {value} is outside {lo}..{hi}")
    return value


def _per_channel(value, name, channels, lo, hi):
    """A per-channel parameter: a scalar or a 1-D array of length ``channels``."""
    array = _int_array(value, name, lo, hi)
    if array.ndim > 1 or (array.ndim == 1 and array.shape[0] != channels):
        raise ValueError(
            f"{name} has shape {array.shape}; expected a scalar or ({channels},), "
            "one value per output channel"
        )
    return array


def _acc_and_bias(acc, bias):
    """int32 accumulators, their channel count (the last axis) and the checked int32 bias."""
    x = _int_array(acc, "acc", INT32_MIN, INT32_MAX)
    channels = x.shape[-1] if x.ndim else 1
    return x, channels, _per_channel(bias, "bias", channels, INT32_MIN, INT32_MAX)


def _wrap_int32(x):
    """Two's-complement wrap of an int64 array to int32 (the hardware accumulator)."""
    return ((x - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def saturating_rounding_doubling_high_mul(a, b):
    """The gemmlowp ``SaturatingRoundingDoublingHighMul``: ``round(a * b / 2**31)`` in int32.

    For ``ab = int64(a) * b``, the result is ``(ab + nudge) / 2**31`` with C's integer division
    (truncation toward zero) and ``nudge = 2**30`` if ``ab >= 0`` else ``1 - 2**30``. Ties
    therefore round toward positive infinity (``1.5 -> 2`` but ``-1.5 -> -1``). The only
    result that does not fit in int32, ``INT32_MIN * INT32_MIN``, saturates to ``INT32_MAX``.

    Parameters
    ----------
    a, b : array_like of int
        int32 values; broadcast against each other.

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape of ``a`` and ``b``.

    Raises
    ------
    TypeError
        For non-integer inputs.
    ValueError
        For values outside the int32 range.
    """
    a = _int_array(a, "a", INT32_MIN, INT32_MAX)
    b = _int_array(b, "b", INT32_MIN, INT32_MAX)
    ab = a * b  # |ab| <= 2**62: exact in int64
    total = ab + np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # C division truncates toward zero; >> floors, so divide the magnitude and restore the sign.
    quotient = np.where(total >= 0, total >> 31, -((-total) >> 31))
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    return np.where(overflow, INT32_MAX, quotient).astype(np.int32)


def rounding_divide_by_pot(x, shift):
    """The gemmlowp ``RoundingDivideByPOT``: ``x / 2**shift``, rounding half away from zero.

    With ``mask = 2**shift - 1``, ``remainder = x & mask`` and
    ``threshold = (mask >> 1) + (x < 0)``, the result is
    ``(x >> shift) + (remainder > threshold)`` (arithmetic shift).

    Parameters
    ----------
    x : array_like of int
        int32 values.
    shift : array_like of int
        Exponents in ``0..31``; broadcast against ``x``.

    Returns
    -------
    numpy.ndarray of int32
        The broadcast shape of ``x`` and ``shift``.

    Raises
    ------
    TypeError
        For non-integer inputs.
    ValueError
        For ``x`` outside the int32 range or ``shift`` outside ``0..31``.
    """
    x = _int_array(x, "x", INT32_MIN, INT32_MAX)
    shift = _int_array(shift, "shift", 0, 31)
    mask = (np.int64(1) << shift) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> shift) + (remainder > threshold)).astype(np.int32)


def requantize(acc, bias, multiplier, shift, zero_point, act_min=-128, act_max=127):
    """TFLite's int8 output stage: scale an int32 accumulator down to int8.

    ``x = wrap_int32(acc + bias)``;
    ``y = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(x, multiplier), shift)``;
    ``out = clip(y + zero_point, max(act_min, -128), min(act_max, 127))``.

    ``y + zero_point`` is computed exactly (in C it could overflow int32 for ``y`` near
    ``INT32_MAX``, which a positive multiplier below one never produces); the clip then
    saturates it.

    Parameters
    ----------
    acc : array_like of int
        int32 accumulators; the last axis is the output channel.
    bias : array_like of int
        int32 bias, a scalar or one per output channel.
    multiplier : array_like of int
        int32 fixed-point multipliers (normally from :func:`quantize_multiplier`), a scalar or
        one per output channel.
    shift : array_like of int
        Right shifts in ``0..31``, a scalar or one per output channel.
    zero_point : int
        Output zero point, in ``-128..127``.
    act_min, act_max : int
        Activation clamp in the output's quantized domain (``act_min = zero_point`` for ReLU);
        intersected with the int8 range, and the intersection must not be empty.

    Returns
    -------
    numpy.ndarray of int8
        The shape of ``acc``.
    """
    x, channels, bias = _acc_and_bias(acc, bias)
    multiplier = _per_channel(multiplier, "multiplier", channels, INT32_MIN, INT32_MAX)
    shift = _per_channel(shift, "shift", channels, 0, 31)
    zero_point = _int_scalar(zero_point, "zero_point", _INT8_MIN, _INT8_MAX)
    lo, hi = max(operator.index(act_min), _INT8_MIN), min(operator.index(act_max), _INT8_MAX)
    if lo > hi:
        raise ValueError(f"Empty activation range {act_min}..{act_max} within int8")
    scaled = saturating_rounding_doubling_high_mul(_wrap_int32(x + bias), multiplier)
    y = rounding_divide_by_pot(scaled, shift).astype(np.int64)
    return np.clip(y + zero_point, lo, hi).astype(np.int8)


def int32_output(acc, bias, act_min=INT32_MIN, act_max=INT32_MAX):
    """The int32 output stage: ``clip(wrap_int32(acc + bias), act_min, act_max)``.

    Parameters
    ----------
    acc, bias : array_like of int
        As in :func:`requantize`.
    act_min, act_max : int
        Clamp, within the int32 range, ``act_min <= act_max``.

    Returns
    -------
    numpy.ndarray of int32
        The shape of ``acc``.
    """
    x, _, bias = _acc_and_bias(acc, bias)
    lo = _int_scalar(act_min, "act_min", INT32_MIN, INT32_MAX)
    hi = _int_scalar(act_max, "act_max", INT32_MIN, INT32_MAX)
    if lo > hi:
        raise ValueError(f"Empty activation range {lo}..{hi}")
    return np.clip(_wrap_int32(x + bias), lo, hi).astype(np.int32)


def _output_stage(acc, bias, multiplier, shift, zero_point, act_min, act_max, output_int32):
    """Wrap the int64 sums to the int32 accumulator, then the chosen output stage."""
    acc = _wrap_int32(acc)
    # ``None`` is the full range of the chosen output type.
    lo, hi = (INT32_MIN, INT32_MAX) if output_int32 else (_INT8_MIN, _INT8_MAX)
    act_min = lo if act_min is None else act_min
    act_max = hi if act_max is None else act_max
    if output_int32:
        return int32_output(acc, bias, act_min, act_max)
    return requantize(acc, bias, multiplier, shift, zero_point, act_min, act_max)


def gemm(
    a,
    b,
    bias,
    multiplier,
    shift,
    *,
    zero_point=0,
    act_min=None,
    act_max=None,
    output_int32=False,
):
    """Quantized matrix product ``a @ b`` with an int32 accumulator and an output stage.

    ``acc = wrap_int32(a @ b)`` (exact products and sums, then the two's-complement wrap of a
    32-bit accumulator), followed by :func:`requantize` or, with ``output_int32``,
    :func:`int32_output`.

    Parameters
    ----------
    a : array_like of int
        int8 values, shape ``(M, K)``.
    b : array_like of int
        int8 values, shape ``(K, N)``.
    bias, multiplier, shift : array_like of int
        Per output column (scalar or length ``N``), as in :func:`requantize`;
        ``multiplier``, ``shift`` and ``zero_point`` are ignored with ``output_int32``.
    zero_point : int
        Output zero point.
    act_min, act_max : int or None
        Activation clamp; ``None`` is the full range of the output type (-128/127 for int8,
        ``INT32_MIN``/``INT32_MAX`` for int32).
    output_int32 : bool
        Return the int32 accumulator plus bias instead of requantized int8.

    Returns
    -------
    numpy.ndarray of int8 or int32
        Shape ``(M, N)``.
    """
    a = _int_array(a, "a", _INT8_MIN, _INT8_MAX)
    b = _int_array(b, "b", _INT8_MIN, _INT8_MAX)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"Cannot multiply shapes {a.shape} and {b.shape}")
    return _output_stage(a @ b, bias, multiplier, shift, zero_point, act_min, act_max, output_int32)


def _pair(value):
    """An ``(h, w)`` pair from an int or a two-element sequence."""
    if isinstance(value, int | np.integer):
        return operator.index(value), operator.index(value)
    first, second = value
    return operator.index(first), operator.index(second)


def conv2d(
    x,
    w,
    bias,
    multiplier,
    shift,
    *,
    stride=(1, 1),
    pad_top=0,
    pad_left=0,
    out_hw=None,
    input_zero_point=0,
    zero_point=0,
    act_min=None,
    act_max=None,
    output_int32=False,
):
    """Quantized 2-D convolution, NHWC input and HWIO weights, with an output stage.

    Output pixel ``(y, x)`` reads input row ``y * stride_h - pad_top + i`` and column
    ``x * stride_w - pad_left + j`` for kernel tap ``(i, j)``; positions outside the input read
    ``input_zero_point``. The accumulator is the raw sum of input times weight over the window
    (the zero point is not subtracted), wrapped to int32 and passed to :func:`requantize` or
    :func:`int32_output`. The bottom and right padding is whatever ``out_hw`` needs.

    This is computed tap by tap on a padded copy of the input, independently of any im2col
    lowering.

    Parameters
    ----------
    x : array_like of int
        int8 input, shape ``(B, H, W, C)``.
    w : array_like of int
        int8 weights, shape ``(KH, KW, C, CO)``.
    bias, multiplier, shift : array_like of int
        Per output channel (scalar or length ``CO``), as in :func:`requantize`.
    stride : int or (int, int)
        ``(stride_h, stride_w)``, at least 1.
    pad_top, pad_left : int
        Rows and columns of padding before the input, at least 0.
    out_hw : (int, int), optional
        Output height and width; by default
        ``((H + 2 * pad_top - KH) // stride_h + 1, (W + 2 * pad_left - KW) // stride_w + 1)``
        (symmetric padding).
    input_zero_point : int
        The int8 value padding reads.
    zero_point, act_min, act_max, output_int32
        The output stage, as in :func:`gemm`.

    Returns
    -------
    numpy.ndarray of int8 or int32
        Shape ``(B, OH, OW, CO)``.
    """
    x = _int_array(x, "x", _INT8_MIN, _INT8_MAX)
    w = _int_array(w, "w", _INT8_MIN, _INT8_MAX)
    if x.ndim != 4 or w.ndim != 4 or x.shape[3] != w.shape[2]:
        raise ValueError(f"Input {x.shape} (NHWC) does not match weights {w.shape} (HWIO)")
    batch, height, width, _ = x.shape
    kh, kw, _, out_channels = w.shape
    stride_h, stride_w = _pair(stride)
    pad_top, pad_left = operator.index(pad_top), operator.index(pad_left)
    input_zero_point = _int_scalar(input_zero_point, "input_zero_point", _INT8_MIN, _INT8_MAX)
    if stride_h < 1 or stride_w < 1 or pad_top < 0 or pad_left < 0:
        raise ValueError(f"Bad stride {stride} or padding ({pad_top}, {pad_left})")
    if out_hw is None:
        out_hw = (
            (height + 2 * pad_top - kh) // stride_h + 1,
            (width + 2 * pad_left - kw) // stride_w + 1,
        )
    out_h, out_w = _pair(out_hw)
    if out_h < 1 or out_w < 1:
        raise ValueError(f"Empty output {out_h}x{out_w}")

    # Padded row r holds input row r - pad_top; output row y, tap i reads padded row
    # y * stride_h + i, so the padded input must reach (out_h - 1) * stride_h + kh rows.
    pad_bottom = max(0, (out_h - 1) * stride_h + kh - pad_top - height)
    pad_right = max(0, (out_w - 1) * stride_w + kw - pad_left - width)
    padded = np.pad(
        x,
        ((0, 0), (pad_top, pad_bottom), (pad_left, pad_right), (0, 0)),
        constant_values=input_zero_point,
    )
    acc = np.zeros((batch, out_h, out_w, out_channels), dtype=np.int64)
    for i in range(kh):
        for j in range(kw):
            window = padded[
                :,
                i : i + (out_h - 1) * stride_h + 1 : stride_h,
                j : j + (out_w - 1) * stride_w + 1 : stride_w,
                :,
            ]
            acc += np.einsum("bhwc,co->bhwo", window, w[i, j])
    return _output_stage(acc, bias, multiplier, shift, zero_point, act_min, act_max, output_int32)


def quantize_multiplier(real):
    """TFLite ``QuantizeMultiplier`` for scales below one, as a right shift.

    ``frexp(real) = (q, e)`` with ``q`` in ``[0.5, 1)``; ``multiplier = round(q * 2**31)``
    rounding half away from zero (C's ``round``, not Python's), ``shift = -e``. If the rounding
    reaches ``2**31`` the multiplier is halved and the shift decreased by one. Then
    ``real ≈ multiplier * 2**-31 * 2**-shift`` with ``multiplier`` in ``[2**30, 2**31)``.

    A ``real`` so small that ``shift`` would exceed 31 (below about ``2**-32``) gives
    ``(0, 0)``, as TFLite does. Such a ``real`` is below ``2**-32``, so ``|acc * real| < 0.5``
    for every int32 accumulator and 0 is the correctly rounded product anyway; requantizing
    with it yields ``zero_point``.

    Parameters
    ----------
    real : float or array_like of float
        Scales with ``0 < real < 1``.

    Returns
    -------
    multiplier, shift : int, int or numpy.ndarray of int32, numpy.ndarray of int32
        Python ints for a scalar ``real``, arrays of its shape otherwise.

    Raises
    ------
    ValueError
        If any ``real`` is not in ``(0, 1)`` (including NaN), or is so close to one that it
        rounds to ``1.0`` (``shift`` would be -1, a left shift this model does not support).
    """
    real = np.asarray(real, dtype=np.float64)
    bad = ~((real > 0) & (real < 1))
    if bad.any():
        raise ValueError(f"Scale {real[bad].flat[0]} is not in (0, 1)")
    q, exponent = np.frexp(real)  # same C frexp as math.frexp, element-wise
    # q * 2**31 is exact and below 2**31, so adding 0.5 is exact too: floor is round-half-up,
    # which is half-away-from-zero for these positive values.
    fixed = np.floor(q * 2.0**31 + 0.5).astype(np.int64)
    rounded_up = fixed == 2**31
    fixed = np.where(rounded_up, fixed // 2, fixed)
    shift = -(exponent.astype(np.int64) + rounded_up)
    if (shift < 0).any():
        raise ValueError(f"Scale {real[shift < 0].flat[0]!r} rounds to 1.0 at 31-bit precision")
    too_small = shift > 31
    fixed = np.where(too_small, 0, fixed).astype(np.int32)
    shift = np.where(too_small, 0, shift).astype(np.int32)
    if real.ndim == 0:
        return int(fixed), int(shift)
    return fixed, shift
