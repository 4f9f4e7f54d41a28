"""The post-processor: accumulators to int8 (requantized) or int32 outputs, as the DMA reads them.

The DMA engine reads the accumulators through one of two local regions, ``ACC8`` (one int8 per
element) and ``ACC32`` (one int32 per element); each bus word it reads is computed on the way.
For element ``e`` of output channel ``c`` (``c = param_base + e mod 2**row_log2``), with the
channel's :class:`~tinynpu.rtl.layouts.ChannelParams` ``bias``, ``multiplier``, ``shift``::

    x     = acc[e] + bias                                  int32, wrapping
    ACC32 = clamp(x, act_min, act_max)
    y     = rounding_divide_by_pot(srdhm(x, multiplier), shift)
    ACC8  = clamp(y + zero_point, max(act_min, -128), min(act_max, 127))

``srdhm`` is gemmlowp's SaturatingRoundingDoublingHighMul (the high half of ``2 * x * m``, rounded
half away from zero, saturating the one overflow ``x = m = -2**31``) and
``rounding_divide_by_pot`` its right shift rounded half away from zero: TFLite's
``MultiplyByQuantizedMultiplier`` for a right shift of 0 to 31. ReLU and ReLU6 are the clamps
(``act_min`` at the zero point, ``act_max`` at the quantized 6).

Timing: the address is taken in cycle 0 (the accumulator and parameter memories read), the sum and
product are registered in cycle 1, the high multiply in cycle 2, the shift, offset and clamp in
cycle 3; the word is on ``rd_data`` in cycle 4 (:data:`LATENCY`). One word per cycle.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .layouts import ChannelParams
from .localmap import PARAM_BYTES, Geometry

__all__ = ["LATENCY", "PostProcessor"]

#: Cycles from ``rd_addr`` to ``rd_data``.
LATENCY = 4

_INT32_MIN = -(1 << 31)
_INT32_MAX = (1 << 31) - 1


def _clamp(value, lo, hi):
    return Mux(value < lo, lo, Mux(value > hi, hi, value))


class PostProcessor(wiring.Component):
    """Bias, requantization and clamping of accumulators, ``W`` lanes per cycle.

    Parameters
    ----------
    geometry : Geometry

    Attributes
    ----------
    rd_addr : In(...)
        Bus word of the region to read (``W`` elements of ``ACC8``, ``W / 4`` of ``ACC32``).
    rd_wide : In(1)
        The read is of ``ACC32``.
    rd_en : In(1)
    rd_data : Out(8 * W)
        The computed word, :data:`LATENCY` cycles after its address.
    acc : In(ReadPort.Signature(...))
        A read port of the accumulator memory.
    params : In(ReadPort.Signature(...))
        The read port of the parameter memory.
    zero_point, act_min, act_max : In(signed(32))
    row_log2 : In(5)
        log2 of the elements per accumulator row: an element's channel is its index in the row.
        At least log2(W): a bus word never spans two rows.
    param_base : In(16)
        Channel of the first element of a row: where in the parameter memory its record is. A
        multiple of W: a word's W records are then one word of the parameter memory.
    """

    def __init__(self, geometry: Geometry):
        self.geometry = g = geometry
        w = g.bus_bytes
        super().__init__(
            {
                "rd_addr": In(exact_log2(g.acc_bytes // w)),
                "rd_wide": In(1),
                "rd_en": In(1),
                "rd_data": Out(w * 8),
                "acc": In(
                    ReadPort.Signature(
                        addr_width=exact_log2(g.acc_words), shape=unsigned(g.acc_lanes * 32)
                    )
                ),
                "params": In(
                    ReadPort.Signature(
                        addr_width=exact_log2(g.params_bytes // g.params_word_bytes),
                        shape=unsigned(g.params_word_bytes * 8),
                    )
                ),
                "zero_point": In(signed(32)),
                "act_min": In(signed(32)),
                "act_max": In(signed(32)),
                "row_log2": In(5),
                "param_base": In(16),
            }
        )

    def elaborate(self, platform):
        """Build the four pipeline stages of ``W`` lanes."""
        m = Module()
        g = self.geometry
        w = g.bus_bytes
        quarter = max(1, w // 4)  # lanes of an ACC32 word
        lg_w, lg_q = exact_log2(w), exact_log2(quarter)
        lg_lanes = exact_log2(g.acc_lanes)
        param_bits = PARAM_BYTES * 8

        # Cycle 0: the first element and channel of the word; read both memories.
        first = Mux(self.rd_wide, self.rd_addr << lg_q, self.rd_addr << lg_w)
        channel = self.param_base + (first & ((Const(1, 33) << self.row_log2) - 1))
        acc_group = Signal(max(1, lg_lanes - lg_q))
        par_group = Signal(max(1, lg_w - lg_q))
        m.d.comb += [
            self.acc.addr.eq(first >> lg_lanes),
            self.acc.en.eq(self.rd_en),
            self.params.addr.eq(channel >> lg_w),
            self.params.en.eq(self.rd_en),
        ]
        m.d.sync += [
            acc_group.eq(first[lg_q:lg_lanes] if lg_lanes > lg_q else 0),
            par_group.eq(channel[lg_q:lg_w] if lg_w > lg_q else 0),
        ]

        # Cycle 1: each lane's element and parameters; the biased sum and the product.
        # Signals, not expressions, for what several lanes or uses read: Amaranth emits an
        # expression anew at each use, and each of these selects is as wide as the word.
        accs, pars = Signal(w * 32, name="accs"), Signal(w * param_bits, name="pars")
        m.d.comb += [
            accs.eq(self.acc.data.bit_select(acc_group * (quarter * 32), w * 32)),
            pars.eq(self.params.data.bit_select(par_group * (quarter * param_bits), len(pars))),
        ]
        lo8 = Mux(self.act_min > -128, self.act_min, -128)
        hi8 = Mux(self.act_max < 127, self.act_max, 127)
        lanes = []
        for lane in range(w):
            p = ChannelParams(pars.word_select(lane, param_bits))
            x, x1, prod, shift1, sat1 = (
                Signal(signed(32), name=f"x_{lane}"),
                Signal(signed(32), name=f"x1_{lane}"),
                Signal(signed(64), name=f"prod_{lane}"),
                Signal(5, name=f"shift1_{lane}"),
                Signal(name=f"sat_{lane}"),
            )
            m.d.comb += x.eq(accs.word_select(lane, 32).as_signed() + p.bias)  # wraps to 32 bits
            m.d.sync += [
                x1.eq(x),
                prod.eq(x * p.multiplier),
                shift1.eq(p.shift),
                sat1.eq((x == _INT32_MIN) & (p.multiplier == _INT32_MIN)),
            ]

            # Cycle 2: the doubling high multiply, rounded half away from zero.
            x2, high, shift2 = (
                Signal(signed(32), name=f"x2_{lane}"),
                Signal(signed(32), name=f"high_{lane}"),
                Signal(5, name=f"shift2_{lane}"),
            )
            nudged = Signal(signed(66), name=f"nudged_{lane}")
            m.d.comb += nudged.eq(prod + Mux(prod >= 0, 1 << 30, 1 - (1 << 30)))
            # Division by 2**31 truncating toward zero: floor, plus one for inexact negatives.
            quotient = (nudged >> 31) + (nudged[65] & (nudged[:31] != 0))
            m.d.sync += [
                x2.eq(x1),
                high.eq(Mux(sat1, _INT32_MAX, quotient[:32].as_signed())),
                shift2.eq(shift1),
            ]

            # Cycle 3: rounding right shift, zero point, clamps.
            mask = (Const(1, 33) << shift2) - 1
            remainder = high.as_unsigned() & mask
            threshold = (mask >> 1) + (high < 0)
            shifted = (high >> shift2) + (remainder > threshold)
            out8 = Signal(8, name=f"out8_{lane}")
            out32 = Signal(32, name=f"out32_{lane}")
            m.d.sync += [
                out8.eq(_clamp(shifted + self.zero_point, lo8, hi8)[:8]),
                out32.eq(_clamp(x2, self.act_min, self.act_max)),
            ]
            lanes.append((out8, out32))

        # Which region the word in the output registers was read from.
        wide = self.rd_wide
        for stage in range(LATENCY):
            delayed = Signal(name=f"wide{stage + 1}")
            m.d.sync += delayed.eq(wide)
            wide = delayed
        narrow_word = Cat(out8 for out8, _ in lanes)
        wide_word = Cat(out32 for _, out32 in lanes[:quarter])[: w * 8]
        m.d.comb += self.rd_data.eq(Mux(wide, wide_word, narrow_word))
        return m
