"""The matrix unit: runs matrix operations on the systolic array, from scratchpad to accumulators.

One :class:`MatrixOp` multiplies a block of A held in the input scratchpad (``m`` rows, ``k``
columns, in row slots from ``a_slot``) by a block of B held in the weight scratchpad (``k`` rows
of ``n`` bytes, ``b_pitch`` apart from ``b_addr``) into int32 accumulators (element ``acc_addr``,
rows ``2**acc_row_log2`` elements apart), overwriting them or adding to them (``accumulate``).

The unit walks the block as N x N output tiles, row tile by row tile, and feeds each tile's ``k``
steps to the array one per cycle; tiles and operations follow each other without a gap, since the
array keeps one tile's results while it computes the next. A tile shorter than N steps is padded
with bubbles to N (before its steps). The pipeline::

    cycle c     step issued: scratchpad addresses (all input banks, one weight word)
    cycle c+1   bank bytes and weight lanes selected, registered
    cycle c+2   the step enters the array (rows and columns then skewed inside it)
    ...         row i of a tile leaves the array N + i cycles after its last step entered
    drain       accumulator read (to add to it), then the write, one row per cycle

Rows of an edge tile beyond ``m`` and columns beyond ``n`` are computed from whatever the
scratchpads hold and written to the accumulators like the others: the accumulator block is
``ceil(m/N)*N`` rows of ``ceil(n/N)*N`` elements. Nothing reads them back but the firmware decides
what to store.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .fifo import StreamFifo
from .localmap import K_SLOT, Geometry
from .systolic import SystolicArray

__all__ = ["MatrixOp", "MatrixUnit"]


class MatrixOp(data.Struct):
    """One matrix operation, as the firmware queues it (see the module docstring)."""

    a_slot: 16  # first row slot of A: a multiple of N
    b_addr: 20  # byte offset of B[0][0] in the weight scratchpad: a multiple of N
    b_pitch: 16  # bytes between rows of B: a multiple of N
    acc_addr: 20  # element of C[0][0] in the accumulators: a multiple of N
    acc_row_log2: 5  # log2 of the elements between rows of C: at least log2(N)
    k: 9  # steps: 1 to K_SLOT
    m: 16  # rows of A and C: at least 1
    n: 16  # columns of B and C: at least 1
    accumulate: 1  # add to the accumulators instead of overwriting them


_Tag = data.StructLayout({"addr": 20, "row_log2": 5, "accumulate": 1, "final": 1})


class MatrixUnit(wiring.Component):
    """Sequencer, operand feed and accumulator drain around a :class:`SystolicArray`.

    Parameters
    ----------
    geometry : Geometry

    Attributes
    ----------
    ops : In(stream.Signature(MatrixOp))
        Operations, taken one after the other.
    in_addr : Out(...), in_data : In(...)
        The input scratchpad's read address and its banks' words (``InputBuffer``).
    wt : In(ReadPort.Signature(...))
        The weight scratchpad's read port.
    acc_rd : In(ReadPort.Signature(...)), acc_wr : In(WritePort.Signature(..., granularity=32))
        The accumulator memory's ports used by the drain.
    done : Out(1)
        Pulses when an operation's last row is written.
    busy : Out(1)
        An operation is being fed or drained.
    step, bubble : Out(1)
        A step, or a padding bubble, enters the array this cycle (performance counters).
    macs : Out(range(N * N + 1))
        Useful multiply-accumulates of this cycle's step (rows and columns within ``m``, ``n``).
    """

    def __init__(self, geometry: Geometry):
        self.geometry = g = geometry
        n = g.array_size
        self._wt_word_bytes = g.weight_word_bytes
        super().__init__(
            {
                "ops": In(stream.Signature(MatrixOp)),
                "in_addr": Out(exact_log2(g.input_bank_words)),
                "in_data": In(data.ArrayLayout(unsigned(g.bus_bytes * 8), n)),
                "wt": In(
                    ReadPort.Signature(
                        addr_width=exact_log2(g.weight_bytes // g.weight_word_bytes),
                        shape=unsigned(g.weight_word_bytes * 8),
                    )
                ),
                "acc_rd": In(
                    ReadPort.Signature(
                        addr_width=exact_log2(g.acc_words), shape=unsigned(g.acc_lanes * 32)
                    )
                ),
                "acc_wr": In(
                    WritePort.Signature(
                        addr_width=exact_log2(g.acc_words),
                        shape=unsigned(g.acc_lanes * 32),
                        granularity=32,
                    )
                ),
                "done": Out(1),
                "busy": Out(1),
                "step": Out(1),
                "bubble": Out(1),
                "macs": Out(range(n * n + 1)),
            }
        )

    def elaborate(self, platform):
        """Build the sequencer, the feed registers, the array and the drain."""
        m = Module()
        g = self.geometry
        n = g.array_size
        lg_n, lg_w = exact_log2(n), exact_log2(g.bus_bytes)
        lg_lanes = exact_log2(g.acc_lanes)
        m.submodules.array = array = SystolicArray(n)
        m.submodules.tags = tags = StreamFifo(_Tag, depth=4)

        # --- sequencer: operation, row tile r, column tile s, step t -------------------------
        op = Signal(MatrixOp)
        active = Signal()
        r, s = Signal(16), Signal(16)
        t = Signal(range(max(K_SLOT, n)))
        row_tiles = (op.m + n - 1) >> lg_n
        col_tiles = (op.n + n - 1) >> lg_n
        period = Mux(op.k > n, op.k, n)
        tile_end = t == period - 1
        last_tile = (r == row_tiles - 1) & (s == col_tiles - 1)
        # A short tile's bubbles come first: its last step then ends the period, so that last
        # steps of consecutive tiles are always at least N cycles apart.
        skip = period - op.k
        step = active & (t >= skip)
        kk = (t - skip)[: len(t)]  # the step's k
        take = ~active | (tile_end & last_tile)
        m.d.comb += self.ops.ready.eq(take)
        with m.If(active):
            m.d.sync += t.eq(t + 1)
            with m.If(tile_end):
                m.d.sync += t.eq(0)
                with m.If(s == col_tiles - 1):
                    m.d.sync += [s.eq(0), r.eq(r + 1)]
                with m.Else():
                    m.d.sync += s.eq(s + 1)
                with m.If(last_tile):
                    m.d.sync += active.eq(0)
        with m.If(take & self.ops.valid):
            m.d.sync += [op.eq(self.ops.payload), active.eq(1), r.eq(0), s.eq(0), t.eq(0)]

        rows_left = op.m - (r << lg_n)
        cols_left = op.n - (s << lg_n)
        m.d.comb += [
            self.step.eq(step),
            self.bubble.eq(active & ~step),
            self.macs.eq(
                Mux(step, Mux(rows_left > n, n, rows_left) * Mux(cols_left > n, n, cols_left), 0)
            ),
        ]

        # Scratchpad addresses of step t: every bank at slot a_slot / N + r; B row t, tile s.
        lg_slot_words = exact_log2(K_SLOT // g.bus_bytes)
        slot = (op.a_slot >> lg_n) + r
        m.d.comb += self.in_addr.eq(Cat((kk >> lg_w)[:lg_slot_words], slot))
        b_byte = op.b_addr + kk * op.b_pitch + (s << lg_n)
        lg_wt = exact_log2(self._wt_word_bytes)
        m.d.comb += [self.wt.addr.eq(b_byte >> lg_wt), self.wt.en.eq(1)]

        # The tile's accumulator address goes with its last step to the drain.
        tile_addr = op.acc_addr + ((r << lg_n) << op.acc_row_log2) + (s << lg_n)
        m.d.comb += [
            tags.w.valid.eq(step & tile_end),
            tags.w.payload.addr.eq(tile_addr),
            tags.w.payload.row_log2.eq(op.acc_row_log2),
            tags.w.payload.accumulate.eq(op.accumulate),
            tags.w.payload.final.eq(last_tile),
        ]

        # --- feed: select each bank's byte and the tile's weights, register them -------------
        byte_sel = Signal(lg_w)
        lane_sel = Signal(max(1, lg_wt - lg_n))
        flags = Signal.like(array.flags)
        m.d.sync += [
            byte_sel.eq(kk[:lg_w]),
            lane_sel.eq(b_byte[lg_n:lg_wt] if lg_wt > lg_n else 0),
            flags.valid.eq(step),
            flags.first.eq(kk == 0),
            flags.last.eq(tile_end),
        ]
        weights = self.wt.data.word_select(lane_sel, n * 8) if lg_wt > lg_n else self.wt.data
        for i in range(n):
            m.d.sync += [
                array.a[i].eq(self.in_data[i].word_select(byte_sel, 8)),
                array.b[i].eq(weights.word_select(i, 8)),
            ]
        m.d.sync += array.flags.eq(flags)

        # --- drain: one finished row per cycle into the accumulators -------------------------
        tag = tags.r.payload
        elem = tag.addr + (array.row_index << tag.row_log2)
        m.d.comb += [
            tags.r.ready.eq(array.row_valid & (array.row_index == n - 1)),
            self.acc_rd.addr.eq(elem >> lg_lanes),
            self.acc_rd.en.eq(array.row_valid & tag.accumulate),
        ]
        w_valid = Signal()
        w_word = Signal.like(self.acc_wr.addr)
        w_group = Signal(max(1, lg_lanes - lg_n))
        w_acc = Signal()
        w_final = Signal()
        w_row = Signal.like(array.row)
        m.d.sync += [
            w_valid.eq(array.row_valid),
            w_word.eq(elem >> lg_lanes),
            w_group.eq(elem[lg_n:lg_lanes] if lg_lanes > lg_n else 0),
            w_acc.eq(tag.accumulate),
            w_final.eq(array.row_valid & tag.final & (array.row_index == n - 1)),
            w_row.eq(array.row),
        ]
        groups = g.acc_lanes // n
        old = self.acc_rd.data.word_select(w_group, n * 32) if groups > 1 else self.acc_rd.data
        sums = Cat(
            (Mux(w_acc, old.word_select(j, 32).as_signed(), 0) + w_row[j])[:32] for j in range(n)
        )
        m.d.comb += [
            self.acc_wr.addr.eq(w_word),
            self.acc_wr.data.eq(sums.replicate(groups)),
            self.acc_wr.en.eq(
                Mux(w_valid, Cat((w_group == q).replicate(n) for q in range(groups)), 0)
            ),
        ]
        m.d.sync += self.done.eq(w_valid & w_final)

        pending = Signal(range(2 * n + 8))  # operations' final rows not yet written
        m.d.sync += pending.eq(pending + (tags.w.valid & last_tile) - (w_valid & w_final))
        m.d.comb += self.busy.eq(active | (pending != 0))
        return m
