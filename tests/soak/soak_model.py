"""The soak's model of user-visible memory: buffers, mappings and every command's effect.

A :class:`Buffer` holds what the model knows of a buffer's bytes, and which of them it does not
know (written by a job that hung or failed part-way, until something rewrites them). A
:class:`Space` is a context's mappings, page by page, as VM_BIND must leave them; it predicts
VM_BIND's errnos. The commands (:class:`Copy`, :class:`Fill`, :class:`WriteValue`,
:class:`Gemm`, :class:`Conv2d`) encode themselves, say which regions they read and write, and
apply their effect to the model (GEMM and CONV2D through ``tinynpu.runtime.reference``).
"""

import errno
import itertools
from dataclasses import dataclass, field

import numpy as np
from tinynpu.rtl.layouts import OutputType
from tinynpu.runtime import commands, reference

PAGE = 4096
#: Bytes of one ChannelParams record.
PARAMS_BYTES = 16
#: The widest bus beat: a read of any byte of an aligned block this wide may read all of it.
BEAT_BLOCK = 128


class Buffer:
    """What the model knows of a buffer: its bytes, and a mask of those it does not know."""

    def __init__(self, handle, size, name):
        self.handle, self.size, self.name = handle, size, name
        self.data = np.zeros(size, np.uint8)
        self.unknown = np.zeros(size, bool)

    def store(self, offset, data, unknown=False):
        """Write ``data`` at ``offset``; its bytes become known (or unknown, with ``unknown``)."""
        end = offset + len(data)
        self.data[offset:end] = data
        self.unknown[offset:end] = unknown

    def compare(self, actual):
        """Offsets of known bytes that differ from ``actual`` (the buffer read back)."""
        got = np.frombuffer(actual, np.uint8)
        return np.flatnonzero((got != self.data) & ~self.unknown)


@dataclass(frozen=True)
class Region:
    """``rows`` rows of ``row_bytes`` bytes at ``va``, ``pitch`` apart."""

    va: int
    row_bytes: int
    rows: int = 1
    pitch: int = 0

    @property
    def extent(self):
        """Bytes from the first to the last byte of the region."""
        return (self.rows - 1) * self.pitch + self.row_bytes

    def row_vas(self):
        """The first address of each row."""
        return [self.va + r * self.pitch for r in range(self.rows)]


class UnmappedError(Exception):
    """A command reached a VA the model has no mapping for."""


class Space:
    """A context's mappings as pages: VA page -> (buffer, offset of the page in it)."""

    def __init__(self):
        self.pages = {}

    def map(self, va, buf, offset, size):
        """VM_BIND MAP as the driver must do it; the errno it must return (0: mapped)."""
        pages = range(va, va + size, PAGE)
        if any(page in self.pages for page in pages):
            return errno.EEXIST
        for i, page in enumerate(pages):
            self.pages[page] = (buf, offset + i * PAGE)
        return 0

    def unmap(self, va, size):
        """VM_BIND UNMAP (no job on the hardware): the errno it must return (0: unmapped)."""
        hit = [page for page in range(va, va + size, PAGE) if page in self.pages]
        for page in hit:
            del self.pages[page]
        return 0 if hit else errno.ENOENT

    def forget(self, buf):
        """Drop every mapping of ``buf`` (its context is gone)."""
        self.pages = {va: m for va, m in self.pages.items() if m[0] is not buf}

    def pieces(self, va, length):
        """``(buffer, offset, length)`` pieces of ``va .. va + length``; :class:`UnmappedError`."""
        out = []
        while length > 0:
            page, within = va - va % PAGE, va % PAGE
            if page not in self.pages:
                raise UnmappedError(va)
            buf, offset = self.pages[page]
            n = min(length, PAGE - within)
            out.append((buf, offset + within, n))
            va, length = va + n, length - n
        return out

    def is_mapped(self, va, length):
        """Whether every page of ``va .. va + length`` is mapped."""
        first, last = va - va % PAGE, va + length - 1
        return all(page in self.pages for page in range(first, last + 1, PAGE))

    def is_unmapped(self, va, length):
        """Whether no page of ``va .. va + length`` is mapped."""
        first, last = va - va % PAGE, va + length - 1
        return not any(page in self.pages for page in range(first, last + 1, PAGE))

    def runs(self, lo, hi):
        """Runs of contiguous mapped pages in ``lo .. hi``: ``(va, bytes)``."""
        out, start, prev = [], None, None
        for page in sorted(p for p in self.pages if lo <= p < hi):
            if start is None or page != prev + PAGE:
                if start is not None:
                    out.append((start, prev + PAGE - start))
                start = page
            prev = page
        if start is not None:
            out.append((start, prev + PAGE - start))
        return out

    def read(self, va, length):
        """``(bytes, unknown mask)`` of ``va .. va + length``."""
        data, unknown = [], []
        for buf, offset, n in self.pieces(va, length):
            data.append(buf.data[offset : offset + n])
            unknown.append(buf.unknown[offset : offset + n])
        return np.concatenate(data), np.concatenate(unknown)

    def write(self, va, data, unknown):
        """Store ``data`` (with its unknown mask, or one bool for all) at ``va``."""
        done = 0
        for buf, offset, n in self.pieces(va, len(data)):
            mask = unknown if np.ndim(unknown) == 0 else unknown[done : done + n]
            buf.store(offset, data[done : done + n], mask)
            done += n

    def read_region(self, region):
        """The rows of ``region`` concatenated: ``(bytes, unknown mask)``."""
        rows = [self.read(va, region.row_bytes) for va in region.row_vas()]
        return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])

    def write_region(self, region, data, unknown):
        """Store ``data`` (the rows concatenated) in ``region``."""
        n = region.row_bytes
        for r, va in enumerate(region.row_vas()):
            mask = unknown if np.ndim(unknown) == 0 else unknown[r * n : (r + 1) * n]
            self.write(va, data[r * n : (r + 1) * n], mask)

    def spoil(self, region):
        """Every mapped byte of ``region`` becomes unknown."""
        for va in region.row_vas():
            for buf, offset, n in self.pieces(va, region.row_bytes):
                buf.unknown[offset : offset + n] = True

    def intervals(self, region, widen=1):
        """The physical bytes of ``region``: ``(buffer name, start, end)``, each row's pieces
        widened to whole blocks of ``widen`` bytes."""
        out = []
        for va in region.row_vas():
            for buf, offset, n in self.pieces(va, region.row_bytes):
                lo = offset - offset % widen
                hi = -(-(offset + n) // widen) * widen
                out.append((buf.name, lo, hi))
        return out


def overlapping(a, b):
    """Whether two lists of physical intervals share a byte."""
    return any(x[0] == y[0] and x[1] < y[2] and y[1] < x[2] for x in a for y in b)


def self_overlapping(intervals):
    """Whether some byte appears twice in a list of physical intervals."""
    ordered = sorted(intervals)
    return any(p[0] == q[0] and q[1] < p[2] for p, q in itertools.pairwise(ordered))


# --- commands ------------------------------------------------------------------------------


@dataclass
class Copy:
    """COPY ``src`` to ``dst`` (same row count and length)."""

    src: Region
    dst: Region

    def encode(self):
        s, d = self.src, self.dst
        return commands.copy(
            s.va, d.va, s.row_bytes, rows=s.rows, src_pitch=s.pitch, dst_pitch=d.pitch
        )

    def operands(self):
        return {"src": ("r", self.src), "dst": ("w", self.dst)}

    def apply(self, space):
        data, unknown = space.read_region(self.src)
        space.write_region(self.dst, data, unknown)


@dataclass
class Fill:
    """FILL ``dst`` with a 32-bit pattern (byte ``i % 4`` of it at byte ``i`` of each row)."""

    dst: Region
    pattern: int

    def encode(self):
        d = self.dst
        return commands.fill(d.va, d.row_bytes, self.pattern, rows=d.rows, dst_pitch=d.pitch)

    def operands(self):
        return {"dst": ("w", self.dst)}

    def apply(self, space):
        word = np.frombuffer(self.pattern.to_bytes(4, "little"), np.uint8)
        row = np.resize(word, self.dst.row_bytes)
        space.write_region(self.dst, np.tile(row, self.dst.rows), False)


@dataclass
class WriteValue:
    """WRITE_VALUE of a 64-bit value at an 8-byte aligned address."""

    addr: int
    value: int

    def encode(self):
        return commands.write_value(self.addr, self.value)

    def operands(self):
        return {"addr": ("w", Region(self.addr, 8))}

    def apply(self, space):
        data = np.frombuffer(self.value.to_bytes(8, "little"), np.uint8)
        space.write(self.addr, data, False)


def _params(raw, channels):
    """Bias, multiplier and shift of ``channels`` ChannelParams records (shift bits 7:5
    ignored, as the hardware does)."""
    records = raw.reshape(channels, PARAMS_BYTES)
    bias = records[:, 0:4].copy().view("<i4").reshape(channels).astype(np.int64)
    multiplier = records[:, 4:8].copy().view("<i4").reshape(channels).astype(np.int64)
    shift = (records[:, 8] & 31).astype(np.int64)
    return bias, multiplier, shift


@dataclass
class Quant:
    """A GEMM's or CONV2D's output stage."""

    int32: bool
    zero_point: int = 0
    act_min: int | None = None
    act_max: int | None = None

    @property
    def size(self):
        return 4 if self.int32 else 1

    def encoder_args(self):
        return {
            "zero_point": self.zero_point,
            "act_min": self.act_min,
            "act_max": self.act_max,
            "output_type": OutputType.INT32 if self.int32 else OutputType.INT8,
        }

    def reference_args(self):
        return {
            "zero_point": self.zero_point,
            "act_min": self.act_min,
            "act_max": self.act_max,
            "output_int32": self.int32,
        }

    def to_bytes(self, result):
        dtype = "<i4" if self.int32 else np.int8
        return np.ascontiguousarray(result.astype(dtype)).view(np.uint8).reshape(-1)


@dataclass
class Gemm:
    """GEMM ``C = A x B`` of ``m x k`` by ``k x n`` int8 matrices."""

    a: int
    b: int
    c: int
    params: int
    m: int
    k: int
    n: int
    lda: int
    ldb: int
    ldc: int
    quant: Quant = field(default_factory=lambda: Quant(False))

    def encode(self):
        return commands.gemm(
            self.a,
            self.b,
            self.c,
            self.params,
            self.m,
            self.k,
            self.n,
            lda=self.lda,
            ldb=self.ldb,
            ldc=self.ldc,
            **self.quant.encoder_args(),
        )

    def operands(self):
        return {
            "a": ("r", Region(self.a, self.k, self.m, self.lda)),
            "b": ("r", Region(self.b, self.n, self.k, self.ldb)),
            "params": ("r", Region(self.params, self.n * PARAMS_BYTES)),
            "c": ("w", Region(self.c, self.n * self.quant.size, self.m, self.ldc)),
        }

    def apply(self, space):
        ops = self.operands()
        (a, ua), (b, ub), (p, up) = (space.read_region(ops[n][1]) for n in ("a", "b", "params"))
        out = ops["c"][1]
        if ua.any() or ub.any() or up.any():
            space.spoil(out)
            return
        bias, multiplier, shift = _params(p, self.n)
        result = reference.gemm(
            a.view(np.int8).reshape(self.m, self.k),
            b.view(np.int8).reshape(self.k, self.n),
            bias,
            multiplier,
            shift,
            **self.quant.reference_args(),
        )
        space.write_region(out, self.quant.to_bytes(result), False)


@dataclass
class Conv2d:
    """CONV2D of an NHWC input by HWIO weights."""

    input: int
    weights: int
    output: int
    params: int
    shape: tuple  # (batch, h, w, c)
    out_c: int
    kernel: tuple
    stride: tuple
    padding: tuple
    out_hw: tuple
    input_zero_point: int = 0
    quant: Quant = field(default_factory=lambda: Quant(False))

    def encode(self):
        return commands.conv2d(
            self.input,
            self.weights,
            self.output,
            self.params,
            shape=self.shape,
            out_c=self.out_c,
            kernel=self.kernel,
            stride=self.stride,
            padding=self.padding,
            out_hw=self.out_hw,
            input_zero_point=self.input_zero_point,
            **self.quant.encoder_args(),
        )

    def operands(self):
        batch, h, w, c = self.shape
        kh, kw = self.kernel
        oh, ow = self.out_hw
        out_bytes = batch * oh * ow * self.out_c * self.quant.size
        return {
            "input": ("r", Region(self.input, batch * h * w * c)),
            "weights": ("r", Region(self.weights, kh * kw * c * self.out_c)),
            "params": ("r", Region(self.params, self.out_c * PARAMS_BYTES)),
            "output": ("w", Region(self.output, out_bytes)),
        }

    def apply(self, space):
        ops = self.operands()
        reads = [space.read_region(ops[n][1]) for n in ("input", "weights", "params")]
        out = ops["output"][1]
        if any(unknown.any() for _, unknown in reads):
            space.spoil(out)
            return
        (x, _), (w, _), (p, _) = reads
        bias, multiplier, shift = _params(p, self.out_c)
        kh, kw = self.kernel
        result = reference.conv2d(
            x.view(np.int8).reshape(self.shape),
            w.view(np.int8).reshape(kh, kw, self.shape[3], self.out_c),
            bias,
            multiplier,
            shift,
            stride=self.stride,
            pad_top=self.padding[0],
            pad_left=self.padding[1],
            out_hw=self.out_hw,
            input_zero_point=self.input_zero_point,
            **self.quant.reference_args(),
        )
        space.write_region(out, self.quant.to_bytes(result), False)


def write_regions(cmd):
    """The regions ``cmd`` writes."""
    return [region for role, region in cmd.operands().values() if role == "w"]


def read_regions(cmd):
    """The regions ``cmd`` reads."""
    return [region for role, region in cmd.operands().values() if role == "r"]


def well_placed(space, cmd, unmapped=None):
    """Whether ``cmd`` has every operand mapped (but ``unmapped``, wholly unmapped) and writes
    no byte twice nor any byte it reads (aliases included)."""
    for name, (_, region) in cmd.operands().items():
        if name == unmapped:
            if not space.is_unmapped(region.va, region.extent):
                return False
        elif not space.is_mapped(region.va, region.extent):
            return False
    ops = {n: r for n, (_, r) in cmd.operands().items() if n != unmapped}
    writes = [i for n, r in ops.items() if cmd.operands()[n][0] == "w" for i in space.intervals(r)]
    reads = [i for n, r in ops.items() if cmd.operands()[n][0] == "r" for i in space.intervals(r)]
    return not self_overlapping(writes) and not overlapping(writes, reads)
