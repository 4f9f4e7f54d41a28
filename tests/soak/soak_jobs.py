"""The soak's random jobs: command streams placed on a context's mappings, as the model sees them.

A :class:`Maker` draws commands whose operands lie in mapped memory (or, for a faulting command,
one operand wholly in unmapped memory), that write no byte twice and none they read. Sizes are
small: the soak is about the driver, not the arithmetic.
"""

import errno
from dataclasses import dataclass, field

from soak_model import (
    PAGE,
    PARAMS_BYTES,
    Conv2d,
    Copy,
    Fill,
    Gemm,
    Quant,
    Region,
    WriteValue,
    well_placed,
)

#: Where random mappings go, and the hang buffer's own mapping just above them.
WINDOW_VA, WINDOW_PAGES = 0x40_0000, 96
HANG_VA = WINDOW_VA + WINDOW_PAGES * PAGE
#: Far from every mapping: the fallback for a faulting operand.
HOLE_VA = 0x70_0000_0000
KINDS = ("copy", "fill", "write_value", "gemm", "conv2d")
#: Retries to place one command before giving up on it.
TRIES = 12


@dataclass
class Job:
    """One submitted job and what the model expects of it."""

    index: int
    kind: str  # normal, fault, hang, bus, probe
    cmds: list
    timeout_ns: int = 0
    fail: int | None = None  # the command expected to fail
    operand: str | None = None  # its operand that faults (unmapped, or refused on the bus)
    expected: int = 0
    offsets: list = field(default_factory=list)
    seqno: int = 0
    t_submit: int = 0
    t_done: int = 0
    reply: dict | None = None
    task: object = None
    lost: bool = False

    def stream(self):
        """The encoded stream; fills :attr:`offsets`."""
        data, self.offsets = b"", []
        for cmd in self.cmds:
            self.offsets.append(len(data))
            data += cmd.encode()
        return data

    def describe(self):
        names = ", ".join(type(c).__name__ for c in self.cmds)
        fail = "" if self.fail is None else f", command {self.fail} ({self.operand}) fails"
        expected = errno_name(self.expected)
        return (
            f"job {self.index} (seqno {self.seqno}, {self.kind}: {names}{fail}, "
            f"expected {expected})"
        )


def errno_name(code):
    return errno.errorcode.get(code, str(code)) if code else "0"


class Maker:
    """Draws commands on ``space`` (a :class:`~soak_model.Space`) with ``rng``."""

    def __init__(self, rng, space):
        self.rng, self.space = rng, space

    # --- placing operands ----------------------------------------------------------------------

    def mapped_va(self, extent, align):
        """A VA with ``extent`` mapped bytes from it, ``align``-aligned; None if none."""
        runs = [r for r in self.space.runs(WINDOW_VA, HANG_VA + 16 * PAGE) if r[1] >= extent]
        if not runs:
            return None
        start, length = self.rng.choice(runs)
        va = start + self.rng.randrange(length - extent + 1)
        return va - va % align

    def unmapped_va(self, extent, align):
        """A VA with no page of ``extent`` bytes from it mapped, ``align``-aligned."""
        for _ in range(16):
            va = WINDOW_VA + self.rng.randrange(WINDOW_PAGES * PAGE - extent)
            va -= va % align
            if self.space.is_unmapped(va, extent):
                return va
        return HOLE_VA + self.rng.randrange(256) * PAGE + self.rng.randrange(PAGE) // align * align

    def _place(self, name, extent, align, unmapped):
        if name == unmapped:
            return self.unmapped_va(extent, align)
        return self.mapped_va(extent, align)

    # --- commands ------------------------------------------------------------------------------

    def command(self, kind, unmapped=None):
        """A ``kind`` command (one of :data:`KINDS`), placed; None if it could not be."""
        for _ in range(TRIES):
            cmd = getattr(self, kind)(unmapped)
            if cmd is not None and well_placed(self.space, cmd, unmapped):
                return cmd
        return None

    def _rows(self, max_row):
        rng = self.rng
        row, rows = rng.randint(1, max_row), rng.choice((1, 1, 2, 3))
        return row, rows

    def _pitch(self, row, rows):
        return row + self.rng.choice((0, 0, 8, 17, 64)) if rows > 1 else row

    def copy(self, unmapped):
        row, rows = self._rows(256)
        src, dst = Region(0, row, rows, self._pitch(row, rows)), None
        dst = Region(0, row, rows, self._pitch(row, rows))
        va_src = self._place("src", src.extent, 1, unmapped)
        va_dst = self._place("dst", dst.extent, 1, unmapped)
        if va_src is None or va_dst is None:
            return None
        return Copy(Region(va_src, row, rows, src.pitch), Region(va_dst, row, rows, dst.pitch))

    def fill(self, unmapped):
        row, rows = self._rows(512)
        pitch = self._pitch(row, rows)
        va = self._place("dst", (rows - 1) * pitch + row, 1, unmapped)
        if va is None:
            return None
        return Fill(Region(va, row, rows, pitch), self.rng.getrandbits(32))

    def write_value(self, unmapped):
        va = self._place("addr", 8, 8, unmapped)
        return None if va is None else WriteValue(va, self.rng.getrandbits(64))

    def _quant(self):
        rng = self.rng
        if rng.random() < 0.3:
            quant = Quant(True)
            if rng.random() < 0.3:
                low = rng.randint(-(1 << 20), 0)
                quant.act_min, quant.act_max = low, low + rng.randint(0, 1 << 21)
            return quant
        quant = Quant(False, zero_point=rng.randint(-20, 20))
        if rng.random() < 0.3:
            low = rng.randint(-128, 100)
            quant.act_min, quant.act_max = low, rng.randint(low, 127)
        return quant

    def gemm(self, unmapped):
        rng = self.rng
        m, k, n = rng.randint(1, 8), rng.randint(1, 8), rng.randint(1, 8)
        quant = self._quant()
        lda, ldb = k + rng.choice((0, 0, 3, 8)), n + rng.choice((0, 0, 5, 8))
        ldc = n * quant.size + rng.choice((0, 0, 4, 8))
        extents = {
            "a": ((m - 1) * lda + k, 1),
            "b": ((k - 1) * ldb + n, 1),
            "c": ((m - 1) * ldc + n * quant.size, quant.size),
            "params": (n * PARAMS_BYTES, 4),
        }
        vas = {name: self._place(name, e, a, unmapped) for name, (e, a) in extents.items()}
        if None in vas.values():
            return None
        return Gemm(**vas, m=m, k=k, n=n, lda=lda, ldb=ldb, ldc=ldc, quant=quant)

    def conv2d(self, unmapped):
        rng = self.rng
        batch, c, out_c = rng.randint(1, 2), rng.randint(1, 4), rng.randint(1, 4)
        h, w = rng.randint(1, 6), rng.randint(1, 6)
        kernel = (rng.randint(1, 3), rng.randint(1, 3))
        stride = (rng.randint(1, 2), rng.randint(1, 2))
        padding = (rng.randrange(kernel[0]), rng.randrange(kernel[1]))
        # The last output's window must start inside the input.
        out_hw = tuple(
            rng.randint(1, (size - 1 + pad) // step + 1)
            for size, pad, step in zip((h, w), padding, stride, strict=True)
        )
        quant = self._quant()
        extents = {
            "input": (batch * h * w * c, 1),
            "weights": (kernel[0] * kernel[1] * c * out_c, 1),
            "output": (batch * out_hw[0] * out_hw[1] * out_c * quant.size, quant.size),
            "params": (out_c * PARAMS_BYTES, 4),
        }
        vas = {name: self._place(name, e, a, unmapped) for name, (e, a) in extents.items()}
        if None in vas.values():
            return None
        return Conv2d(
            **vas,
            shape=(batch, h, w, c),
            out_c=out_c,
            kernel=kernel,
            stride=stride,
            padding=padding,
            out_hw=out_hw,
            input_zero_point=rng.randint(-10, 10),
            quant=quant,
        )

    def stream(self, count):
        """``count`` placed commands of random kinds (fewer if some could not be placed)."""
        cmds = []
        for _ in range(count):
            cmd = self.command(self.rng.choice(KINDS))
            if cmd is not None:
                cmds.append(cmd)
        return cmds
