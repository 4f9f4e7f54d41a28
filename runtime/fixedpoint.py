"""gemmlowp's fixed-point transcendental functions, in numpy, bit for bit.

TFLite's integer LOGISTIC and SOFTMAX kernels evaluate ``exp`` and ``1 / (1 + x)`` on int32
fixed-point numbers with gemmlowp's ``fixedpoint.h``. A ``FixedPoint<int32, I>`` is a raw
int32 ``r`` standing for ``r * 2**(I - 31)``; the product of an ``I1`` and an ``I2`` number is
an ``I1 + I2`` number whose raw value is :func:`~.reference.saturating_rounding_doubling_high_mul`
of the raw values, and sums are raw sums. Raw values here are int64 arrays holding int32 values;
every function takes and returns them, and the integer-bit counts are arguments.
"""

import numpy as np

from .reference import INT32_MAX, INT32_MIN, rounding_divide_by_pot
from .reference import saturating_rounding_doubling_high_mul as _srdhm

__all__ = [
    "exp_on_negative_values",
    "logistic",
    "multiply_by_quantized_multiplier",
    "one_over_one_plus_x_for_x_in_0_1",
    "reciprocal",
]


def _i64(x):
    return np.asarray(x, dtype=np.int64)


def mul(a, b):
    """The raw product of two fixed-point numbers (integer bits add up)."""
    return _srdhm(a, b).astype(np.int64)


def _wrap(x):
    """int32 two's-complement wrap of an int64 sum (gemmlowp adds raw int32 values)."""
    return ((_i64(x) - INT32_MIN) & 0xFFFFFFFF) + INT32_MIN


def multiply_by_pot(x, exponent):
    """``SaturatingRoundingMultiplyByPOT<e>``: saturating ``x << e`` or rounding ``x >> -e``."""
    x = _i64(x)
    if exponent > 0:
        return np.clip(x << exponent, INT32_MIN, INT32_MAX)
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent).astype(np.int64)
    return x


def rescale(x, from_bits, to_bits):
    """``Rescale<to_bits>`` of a number with ``from_bits`` integer bits."""
    return multiply_by_pot(x, from_bits - to_bits)


def multiply_by_quantized_multiplier(x, multiplier, shift):
    """TFLite's ``MultiplyByQuantizedMultiplier`` (double rounding), ``shift > 0`` left.

    ``RoundingDivideByPOT(SRDHM(x * 2**left, multiplier), right)`` with
    ``left = max(shift, 0)``, ``right = max(-shift, 0)``; ``x * 2**left`` wraps as in C.
    """
    left, right = max(shift, 0), max(-shift, 0)
    scaled = _srdhm(_wrap(_i64(x) << left), multiplier)
    return rounding_divide_by_pot(scaled, right).astype(np.int64)


def _exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """``exp(a)`` for ``a`` in ``[-1/4, 0)``, 0 integer bits: a Taylor series around -1/8."""
    constant_term = 1895147668  # exp(-1/8)
    constant_1_over_3 = 715827883
    x = _wrap(a + (1 << 28))  # a + 1/8
    x2 = mul(x, x)
    x3 = mul(x2, x)
    x4 = mul(x2, x2)
    x4_over_4 = multiply_by_pot(x4, -2)
    poly = multiply_by_pot(_wrap(mul(_wrap(x4_over_4 + x3), constant_1_over_3) + x2), -1)
    return _wrap(constant_term + mul(constant_term, _wrap(x + poly)))


#: ``exp(-2**k)`` in 0 integer bits, for the barrel shifter over the integer part.
_EXP_MULTIPLIERS = {
    -2: 1672461947,
    -1: 1302514674,
    0: 790015084,
    1: 290630308,
    2: 39332535,
    3: 720401,
    4: 242,
}


def exp_on_negative_values(a, integer_bits):
    """Gemmlowp ``exp_on_negative_values``: ``exp(a)`` for ``a <= 0``, in 0 integer bits."""
    a = _i64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = 1 << (fractional_bits - 2)
    mask = one_quarter - 1
    a_mod_quarter_minus_one_quarter = _wrap((a & mask) - one_quarter)
    result = _exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0)
    )
    remainder = _wrap(a_mod_quarter_minus_one_quarter - a)
    for exponent, multiplier in _EXP_MULTIPLIERS.items():
        if integer_bits > exponent:
            bit = 1 << (fractional_bits + exponent)
            result = np.where(remainder & bit, mul(result, multiplier), result)
    if integer_bits > 5:
        clamp = -(1 << (36 - integer_bits))  # -32.0
        result = np.where(a < clamp, 0, result)
    return np.where(a == 0, INT32_MAX, result)


def _rounding_half_sum(a, b):
    total = _i64(a) + _i64(b)
    sign = np.where(total >= 0, 1, -1)
    # C's division truncates toward zero.
    return np.trunc((total + sign) / 2).astype(np.int64)


def one_over_one_plus_x_for_x_in_0_1(a):
    """Gemmlowp ``one_over_one_plus_x_for_x_in_0_1``: Newton-Raphson division, 0 integer bits."""
    half_denominator = _rounding_half_sum(a, INT32_MAX)
    constant_48_over_17 = 1515870810  # 2 integer bits
    constant_neg_32_over_17 = -1010580540
    x = _wrap(constant_48_over_17 + mul(half_denominator, constant_neg_32_over_17))
    one = 1 << 29  # 1.0 in 2 integer bits
    for _ in range(3):
        half_denominator_times_x = mul(half_denominator, x)
        one_minus = _wrap(one - half_denominator_times_x)
        x = _wrap(x + rescale(mul(x, one_minus), 4, 2))
    # ExactMulByPot<-1> keeps the raw value and drops an integer bit: 2 -> 1, then Rescale<0>.
    return rescale(x, 1, 0)


def logistic(a, integer_bits):
    """Gemmlowp ``logistic`` of a number with ``integer_bits``; the result has 0 integer bits."""
    a = _i64(a)
    positive = a > 0
    magnitude = np.where(positive, a, -a)
    result_if_positive = one_over_one_plus_x_for_x_in_0_1(
        exp_on_negative_values(-magnitude, integer_bits)
    )
    result_if_negative = _wrap(INT32_MAX - result_if_positive)
    result = np.where(positive, result_if_positive, result_if_negative)
    return np.where(a == 0, 1 << 30, result)


def reciprocal(x, integer_bits):
    """TFLite ``GetReciprocal``: ``(scale, bits_over_unit)`` with ``1/x = scale * 2**-bits``.

    ``x`` is a positive number with ``integer_bits``; ``scale`` has 0 integer bits.
    """
    x = _i64(x)
    # CountLeadingZeros of the uint32 value.
    bit_length = np.vectorize(lambda v: int(v).bit_length(), otypes=[np.int64])
    headroom_plus_one = 32 - bit_length(x)
    bits_over_unit = integer_bits - headroom_plus_one
    shifted_minus_one = _wrap(((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_minus_one), bits_over_unit
