"""Unit tests of the post-processor (``rtl.ppu``) in amaranth.sim, against ``runtime.reference``.

The post-processor is wrapped with two real ``lib.memory.Memory`` instances (connected with
``wiring.connect``): the accumulators, pre-loaded with int32 values (element ``e`` in word ``e //
acc_lanes``, lane ``e % acc_lanes``), and the parameters, pre-loaded with packed
:class:`~tinynpu.rtl.layouts.ChannelParams` records (channel ``c`` in word ``c // W``, lane ``c %
W``). The bench issues one read per cycle (pipelined: a new address every cycle, ACC8 and ACC32
mixed) and takes each word's result exactly :data:`~tinynpu.rtl.ppu.LATENCY` cycles after its
address. Every expected word comes from :func:`tinynpu.runtime.reference.requantize` (ACC8) or
:func:`tinynpu.runtime.reference.int32_output` (ACC32), element by element, with the channel of
element ``e`` being ``param_base + e % 2**row_log2``; a few are literals worked out by hand.
"""

import random
from dataclasses import dataclass

import numpy as np
import pytest
from amaranth.hdl import Elaboratable, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from rtl_kit import simulate
from tinynpu.rtl.layouts import ChannelParams, pack
from tinynpu.rtl.localmap import Geometry
from tinynpu.rtl.ppu import LATENCY, PostProcessor
from tinynpu.runtime.reference import INT32_MAX, INT32_MIN, int32_output, requantize

MASK32 = 0xFFFF_FFFF
#: Accumulator words of every geometry here (the accumulator size follows from it).
ACC_WORDS = 8
#: (array size N, bus bytes W): acc_lanes = max(N, W).
GEOMETRIES = [(2, 4), (8, 4), (16, 4), (2, 8), (8, 8), (16, 8), (2, 32), (8, 32), (16, 32)]


def geometry(n, w, acc_words=ACC_WORDS):
    lanes = max(n, w)
    return Geometry(
        array_size=n,
        bus_bytes=w,
        input_bytes=2 * n * 256,
        weight_bytes=2 * 256 * lanes,
        acc_bytes=acc_words * lanes * 4,
    )


def log2(x):
    assert x & (x - 1) == 0
    return x.bit_length() - 1


@dataclass(frozen=True)
class Settings:
    """The post-processor's static inputs for a batch of reads."""

    zero_point: int = 0
    act_min: int = -128
    act_max: int = 127
    row_log2: int = 0
    param_base: int = 0


class Harness(Elaboratable):
    """The post-processor with its accumulator and parameter memories."""

    def __init__(self, g, acc, params):
        self.g = g
        self.ppu = PostProcessor(g)
        lanes, w = g.acc_lanes, g.bus_bytes
        assert len(acc) == g.acc_elements and len(params) == g.param_channels
        self.acc_init = [
            sum((acc[word * lanes + lane] & MASK32) << (32 * lane) for lane in range(lanes))
            for word in range(g.acc_words)
        ]
        blob = b"".join(pack(ChannelParams, p) for p in params)
        word_bytes = g.params_word_bytes
        assert word_bytes == 16 * w
        self.params_init = [
            int.from_bytes(blob[k * word_bytes : (k + 1) * word_bytes], "little")
            for k in range(len(blob) // word_bytes)
        ]

    def elaborate(self, platform):
        m = Module()
        g = self.g
        m.submodules.ppu = ppu = self.ppu
        m.submodules.acc_mem = acc_mem = Memory(
            shape=unsigned(g.acc_lanes * 32), depth=g.acc_words, init=self.acc_init
        )
        m.submodules.params_mem = params_mem = Memory(
            shape=unsigned(g.params_word_bytes * 8),
            depth=len(self.params_init),
            init=self.params_init,
        )
        wiring.connect(m, ppu.acc, acc_mem.read_port())
        wiring.connect(m, ppu.params, params_mem.read_port())
        return m


def run_ppu(g, acc, params, batches, *, seed=0):
    """Run ``batches`` of ``(Settings, reads)``; a read is ``(wide, addr)``, or None (rd_en low).

    Returns, per batch, the ``rd_data`` of each read, taken :data:`LATENCY` cycles after it.
    """
    dut = Harness(g, acc, params)
    ppu = dut.ppu
    rng = random.Random(seed)
    addr_max = (1 << len(ppu.rd_addr)) - 1
    results = []

    async def bench(ctx):
        for settings, reads in batches:
            for name in ("zero_point", "act_min", "act_max", "row_log2", "param_base"):
                ctx.set(getattr(ppu, name), getattr(settings, name))
            got = []
            for cycle in range(len(reads) + LATENCY):
                read = reads[cycle] if cycle < len(reads) else None
                if read is None:  # no read: rubbish on the address
                    ctx.set(ppu.rd_en, 0)
                    ctx.set(ppu.rd_wide, rng.randrange(2))
                    ctx.set(ppu.rd_addr, rng.randint(0, addr_max))
                else:
                    ctx.set(ppu.rd_en, 1)
                    ctx.set(ppu.rd_wide, read[0])
                    ctx.set(ppu.rd_addr, read[1])
                if cycle >= LATENCY and reads[cycle - LATENCY] is not None:
                    got.append(ctx.get(ppu.rd_data))
                await ctx.tick()
            results.append(got)

    simulate(dut, bench)
    return results


def expected_word(g, acc, params, s, wide, addr):
    """The word read at ``addr`` of ACC32 (``wide``) or ACC8, from ``tinynpu.runtime.reference``."""
    w = g.bus_bytes
    count = w // 4 if wide else w
    elements = range(addr * count, (addr + 1) * count)
    channels = [s.param_base + e % (1 << s.row_log2) for e in elements]
    x = np.array([acc[e] for e in elements], dtype=np.int64)
    bias = np.array([params[c]["bias"] for c in channels], dtype=np.int64)
    if wide:
        out = int32_output(x, bias, s.act_min, s.act_max)
        return sum((int(v) & MASK32) << (32 * lane) for lane, v in enumerate(out))
    multiplier = np.array([params[c]["multiplier"] for c in channels], dtype=np.int64)
    shift = np.array([params[c]["shift"] for c in channels], dtype=np.int64)
    out = requantize(x, bias, multiplier, shift, s.zero_point, s.act_min, s.act_max)
    return sum((int(v) & 0xFF) << (8 * lane) for lane, v in enumerate(out))


def check(g, acc, params, batches, **kwargs):
    results = run_ppu(g, acc, params, batches, **kwargs)
    for (settings, reads), got in zip(batches, results, strict=True):
        reads = [r for r in reads if r is not None]
        want = [expected_word(g, acc, params, settings, wide, addr) for wide, addr in reads]
        for (wide, addr), a, b in zip(reads, got, want, strict=True):
            region = "ACC32" if wide else "ACC8"
            assert a == b, f"{settings} {region} word {addr}: got {a:#x}, expected {b:#x}"


def words(g, wide):
    """Bus words of ACC32 (``wide``) or ACC8."""
    return g.acc_elements * (4 if wide else 1) // g.bus_bytes


def random_acc(rng, count):
    """int32 accumulators of mixed magnitudes, with the extremes."""
    values = []
    for _ in range(count):
        kind = rng.randrange(5)
        if kind == 0:
            values.append(rng.randint(INT32_MIN, INT32_MAX))
        elif kind == 1:
            values.append(rng.randint(-(1 << 20), 1 << 20))
        elif kind == 2:
            values.append(rng.randint(-2000, 2000))
        elif kind == 3:
            values.append(rng.choice([INT32_MIN, INT32_MAX, INT32_MIN + 1, -1, 0, 1]))
        else:
            values.append(rng.randint(-(1 << 28), 1 << 28))
    return values


def random_params(rng, count):
    """Channel parameters: mostly TFLite-like multipliers (0.5 to 1 in Q0.31), some arbitrary."""
    params = []
    for _ in range(count):
        if rng.random() < 0.7:
            multiplier = rng.randint(1 << 30, INT32_MAX)
            shift = rng.randint(0, 31)
            bias = rng.randint(-(1 << 16), 1 << 16)
        else:
            multiplier = rng.choice([rng.randint(INT32_MIN, INT32_MAX), INT32_MIN, INT32_MAX])
            shift = rng.choice([0, 31, rng.randint(0, 31)])
            bias = rng.randint(INT32_MIN, INT32_MAX)
        params.append({"bias": bias, "multiplier": multiplier, "shift": shift})
    return params


def mixed_reads(g, rng):
    """Every ACC8 and ACC32 word, in a shuffled order that alternates the two regions."""
    narrow = [(0, a) for a in range(words(g, False))]
    wide = [(1, a) for a in range(words(g, True))]
    rng.shuffle(narrow)
    rng.shuffle(wide)
    reads = []
    while narrow or wide:
        if narrow:
            reads.append(narrow.pop())
        if wide:
            reads.append(wide.pop())
    return reads


# --- random words on every geometry -----------------------------------------------------------


@pytest.mark.parametrize(("n", "w"), GEOMETRIES)
def test_random_words(n, w):
    """All words of both regions, back to back, under four settings of the static inputs."""
    g = geometry(n, w)
    rng = random.Random(n * 100 + w)
    acc = random_acc(rng, g.acc_elements)
    params = random_params(rng, g.param_channels)
    lg_lanes = log2(g.acc_lanes)
    lg_elems = log2(g.acc_elements)
    batches = [
        # a row per accumulator word, parameters from channel 0, negative zero point
        (Settings(-7, -128, 127, lg_lanes, 0), mixed_reads(g, rng)),
        # longer rows, parameters from the second half; ReLU (act_min at the zero point)
        (Settings(23, 23, 127, lg_lanes + 1, 256), mixed_reads(g, rng)),
        # one row over all elements (channels up to acc_elements); ReLU6-like clamp
        (Settings(-128, -128, -128 + 97, lg_elems, 3 * 32), mixed_reads(g, rng)),
        # int32 clamps (act_min and act_max out of the int8 range clamp ACC32 only)
        (Settings(5, -(1 << 20), 1 << 24, lg_lanes + 2, 128), mixed_reads(g, rng)),
    ]
    check(g, acc, params, batches, seed=n + w)
    # The data is not degenerate: many ACC8 outputs of the first batch are inside the clamps.
    outs = [
        (expected_word(g, acc, params, batches[0][0], 0, a) >> (8 * lane) & 0xFF) ^ 0x80
        for a in range(words(g, False))
        for lane in range(w)
    ]
    assert sum(0 < v < 255 for v in outs) >= len(outs) // 8


@pytest.mark.parametrize(("n", "w"), [(2, 4), (8, 8), (16, 32)])
def test_read_gaps_and_repeats(n, w):
    """rd_en low between reads (rubbish on the address), the same word twice in a row."""
    g = geometry(n, w)
    rng = random.Random(7 * n + w)
    acc = random_acc(rng, g.acc_elements)
    params = random_params(rng, g.param_channels)
    reads = []
    for _ in range(24):
        wide = rng.randrange(2)
        read = (wide, rng.randrange(words(g, wide)))
        reads += [read] * rng.choice([1, 1, 2])
        reads += [None] * rng.choice([0, 0, 1, 3])
    check(g, acc, params, [(Settings(-1, -100, 100, log2(g.acc_lanes), 64), reads)], seed=3)


# --- rounding, saturation, shifts ---------------------------------------------------------------


def test_rounding_ties_literals():
    """Multiplier 0.5 (1 << 30) and small sums: both roundings tie; values worked out by hand.

    srdhm(x, 2**30) = trunc((x * 2**30 + nudge) / 2**31): 3 -> 2 (1.5 up), -3 -> -1 (-1.5 up),
    5 -> 3, 2 -> 1, 12 -> 6, -12 -> -6, -4 -> -2, 4 -> 2; then the shift, half away from zero:
    2 >> 1 = 1, -1 >> 1 = -1 (-0.5), 3 >> 2 = 1 (0.75), 1 >> 2 = 0 (0.25), 6 >> 3 = 1 (0.75),
    -6 >> 3 = -1 (-0.75), -2 >> 2 = -1 (-0.5), 2 >> 2 = 1 (0.5).
    """
    g = geometry(2, 4, acc_words=2)  # 8 elements, two ACC8 words
    acc = [3, -3, 5, 2, 12, -12, -4, 4]
    shifts = [1, 1, 2, 2, 3, 3, 2, 2]
    params = [{"bias": 0, "multiplier": 1 << 30, "shift": s} for s in shifts]
    params += [{"bias": 0, "multiplier": 0, "shift": 0}] * (g.param_channels - len(params))
    s = Settings(0, -128, 127, 3, 0)
    (got,) = run_ppu(g, acc, params, [(s, [(0, 0), (0, 1)])])
    expected = [1, -1, 1, 0, 1, -1, -1, 1]
    assert got == [
        int.from_bytes(bytes(v & 0xFF for v in expected[0:4]), "little"),
        int.from_bytes(bytes(v & 0xFF for v in expected[4:8]), "little"),
    ]
    # and the reference agrees
    assert list(requantize(acc, 0, 1 << 30, shifts, 0)) == expected


@pytest.mark.parametrize(("n", "w"), [(2, 4), (8, 8), (16, 32)])
def test_rounding_ties(n, w):
    """Every sum from -N to N under multiplier 1 << 30 and shifts 1 to 8 (all the ties)."""
    g = geometry(n, w)
    span = g.acc_elements // 2
    acc = list(range(-span, span))
    # channel c: shift 1 + c % 8; bias 0 and 1 (odd sums on both sides of the tie)
    params = [
        {"bias": (c // 8) % 2, "multiplier": 1 << 30, "shift": 1 + c % 8}
        for c in range(g.param_channels)
    ]
    lg = log2(g.acc_elements)
    reads = [(0, a) for a in range(words(g, False))]
    batches = [
        (Settings(0, -128, 127, lg, 0), reads),
        (Settings(3, -128, 127, lg, 8 * w), reads),
        (Settings(0, -128, 127, log2(g.acc_lanes), 0), reads),
    ]
    check(g, acc, params, batches)


@pytest.mark.parametrize(("n", "w"), [(2, 4), (8, 32)])
def test_saturation_and_extreme_shifts(n, w):
    """INT32_MIN * INT32_MIN saturates; extreme sums, multipliers, biases; shifts 0 and 31."""
    g = geometry(n, w)
    extremes = [INT32_MIN, INT32_MAX, INT32_MIN + 1, -1, 0, 1, 1 << 30, -(1 << 30)]
    multipliers = [INT32_MIN, INT32_MAX, 1 << 30, -(1 << 30), INT32_MIN + 1, 1, -1, 0]
    # channel c: multiplier c % 8, shift 0 or 31 by (c // 8) % 2, bias 0, 1, -1, INT32_MIN ...
    biases = [0, 0, 1, -1, INT32_MIN, INT32_MAX]
    params = [
        {
            "bias": biases[(c // 16) % len(biases)],
            "multiplier": multipliers[c % 8],
            "shift": 31 * ((c // 8) % 2),
        }
        for c in range(g.param_channels)
    ]
    rng = random.Random(n + w)
    acc = [extremes[e % 8] if e < 64 else rng.choice(extremes) for e in range(g.acc_elements)]
    lg = log2(g.acc_elements)
    reads = mixed_reads(g, rng)
    batches = [
        (Settings(0, -128, 127, lg, 0), reads),
        (Settings(-128, -128, 127, lg, 32), reads),
        (Settings(127, -128, 127, lg, 64), reads),
        (Settings(-5, -3, 3, lg, 96), reads),
        (Settings(0, INT32_MIN, INT32_MAX, lg, 128), reads),
        (Settings(0, INT32_MIN + 1, INT32_MAX - 1, lg, 224), reads),
    ]
    check(g, acc, params, batches)


def test_saturation_literals():
    """Hand-worked: srdhm(-2**31, -2**31) = 2**31 - 1; shift 0 -> 127 (clamped), shift 31 -> 1.

    rounding_divide_by_pot(2**31 - 1, 31): remainder 2**31 - 1 > threshold 2**30 - 1, so 0 + 1.
    acc INT32_MAX + bias 1 wraps to INT32_MIN (ACC32, no clamp); 7 + bias -9 is -2.
    """
    g = geometry(2, 4, acc_words=2)  # 8 elements
    acc = [INT32_MIN, INT32_MIN, INT32_MIN, INT32_MIN, INT32_MAX, 7, 0, 0]
    params = [
        {"bias": 0, "multiplier": INT32_MIN, "shift": 0},
        {"bias": 0, "multiplier": INT32_MIN, "shift": 31},
        {"bias": 0, "multiplier": INT32_MIN, "shift": 31},
        {"bias": 0, "multiplier": INT32_MIN, "shift": 0},
        {"bias": 1, "multiplier": 1 << 30, "shift": 0},
        {"bias": -9, "multiplier": 1 << 30, "shift": 0},
        {"bias": 0, "multiplier": 0, "shift": 0},
        {"bias": 0, "multiplier": 0, "shift": 0},
    ]
    params += [{"bias": 0, "multiplier": 0, "shift": 0}] * (g.param_channels - len(params))
    reads = [(0, 0), (1, 4), (1, 5), (0, 0)]
    (got,) = run_ppu(g, acc, params, [(Settings(-5, INT32_MIN, INT32_MAX, 3, 0), reads)])
    # ACC8 word 0: 127 (clamped), 1 - 5, 1 - 5, 127
    narrow = int.from_bytes(bytes([127, (-4) & 0xFF, (-4) & 0xFF, 127]), "little")
    assert got == [narrow, 0x8000_0000, (-2) & MASK32, narrow]


@pytest.mark.parametrize("zero_point", [-128, -20, 0, 9, 127])
def test_zero_points_and_clamps(zero_point):
    """Zero points at both ends; ReLU, ReLU6-like and asymmetric clamps, int8 and int32."""
    g = geometry(8, 8)
    rng = random.Random(zero_point + 1000)
    acc = random_acc(rng, g.acc_elements)
    params = random_params(rng, g.param_channels)
    lg = log2(g.acc_lanes)
    six = min(127, zero_point + 60)
    reads = mixed_reads(g, rng)
    batches = [
        (Settings(zero_point, zero_point, 127, lg, 0), reads),  # ReLU
        (Settings(zero_point, zero_point, six, lg, 8), reads),  # ReLU6-like
        (Settings(zero_point, -300, 300, lg, 16), reads),  # wider than int8: int8 clamps
        (Settings(zero_point, -1, 0, lg, 24), reads),  # a two-value range
        (Settings(zero_point, 0, 0, lg, 32), reads),  # a single value
    ]
    check(g, acc, params, batches)


@pytest.mark.parametrize(("n", "w"), [(2, 8), (8, 32)])
def test_acc32_param_base_in_quarter_words(n, w):
    """ACC32 reads with ``param_base`` a multiple of W / 4 (an ACC32 word's elements), not of W."""
    g = geometry(n, w)
    rng = random.Random(60 + w)
    acc = random_acc(rng, g.acc_elements)
    params = random_params(rng, g.param_channels)
    reads = [(1, a) for a in range(words(g, True))]
    rng.shuffle(reads)
    lg = log2(g.acc_lanes)
    batches = [
        (Settings(0, INT32_MIN, INT32_MAX, lg, base), reads) for base in (w // 4, 3 * w // 4)
    ]
    check(g, acc, params, batches)
