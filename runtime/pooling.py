"""Average pooling with TFLite's rounding, and the output-stage constants that compute it.

TFLite's int8 AVERAGE_POOL_2D sums the window's raw int8 values and divides by the count,
rounding half away from zero: ``(sum + n/2) / n`` for a positive sum, ``(sum - n/2) / n``
otherwise, in C's truncating division. It keeps the input's scale and zero point, so no
requantization follows. On the NPU the window sum is a convolution with ones; the division must
then come out of the output stage, ``rounding_divide_by_pot(srdhm(sum, multiplier), shift)``.
For a power-of-two window, ``multiplier = 2**31 - 1`` and ``shift = log2 n`` are exact. For
other windows a pair may or may not exist: :func:`average_pool_constants` searches for one and
checks it on every sum a window of int8 values can have.
"""

import functools

import numpy as np

from .reference import rounding_divide_by_pot, saturating_rounding_doubling_high_mul

__all__ = ["MAX_COUNT", "average_pool_constants", "tflite_average"]

#: The largest window whose constants are searched (every sum is checked: 255 x 4096 of them).
MAX_COUNT = 4096


def tflite_average(total, count):
    """TFLite's rounded ``total / count`` (both integer arrays or scalars, ``count > 0``)."""
    total, count = np.asarray(total, np.int64), np.asarray(count, np.int64)
    half = count // 2
    return np.where(total > 0, (total + half) // count, -((half - total) // count))


def _exact(multiplier, shift, sums, want):
    got = rounding_divide_by_pot(saturating_rounding_doubling_high_mul(sums, multiplier), shift)
    return np.array_equal(got, want)


@functools.cache
def average_pool_constants(count):
    """``(multiplier, shift)`` whose output stage divides every int8 window sum like TFLite.

    Returns ``None`` when no pair is exact for a window of ``count`` values, or when the window
    is larger than :data:`MAX_COUNT` (not searched).
    """
    if count > MAX_COUNT:
        return None
    sums = np.arange(-128 * count, 127 * count + 1, dtype=np.int64)
    want = tflite_average(sums, count)
    if count & (count - 1) == 0:
        candidates = [((1 << 31) - 1, count.bit_length() - 1)]
    else:
        candidates = []
        for shift in range(32):
            nearest = round((1 << (31 + shift)) / count)
            candidates += [(m, shift) for m in (nearest - 1, nearest, nearest + 1) if m < 1 << 31]
    for multiplier, shift in candidates:
        if _exact(multiplier, shift, sums, want):
            return multiplier, shift
    return None
