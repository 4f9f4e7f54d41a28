"""The DMA engine: 2-D copies between host memory and the local memories, and fills.

The *local port* reaches the CP-local SRAM and, in the NPU, the scratchpads and the
post-processor (``tinynpu.rtl.localmap``); a command's local addresses are byte addresses on it.

One command at a time moves ``rows`` rows of ``row_bytes`` bytes; any byte alignment of source
and destination. The data path is a pipeline of small components::

    source _Bursts -> AR / SRAM reads -> source _Fifo -> _Realigner -> destination _Fifo
        -> AW + W / SRAM writes, paced by the destination _Bursts

:class:`_Reader` and :class:`_Writer` each walk the command's rows as bus bursts with their own
:class:`_Bursts`; the :class:`_Realigner` walks them again as beats, shifting each source row's
bytes into the destination row's lanes and computing the exact byte strobes. Nothing flows
between the three but data beats, so each can be read (and tested) on its own.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2, exact_log2

from .axi import AXI4Signature, Burst, Resp, channels, forward
from .burst_translator import BurstTranslator
from .layouts import Access, DmaError, DmaKind
from .translate import ASID_WIDTH, TranslateSignature

__all__ = ["MAX_WRITES", "DmaCommand", "DmaEngine"]

#: Writes (AW issued, B not yet received) the engine keeps in flight at most.
MAX_WRITES = 16


class DmaCommand(data.Struct):
    """One DMA command.

    Row ``r`` (``0 <= r < rows``) moves ``row_bytes`` bytes from ``src + r * src_pitch`` to
    ``dst + r * dst_pitch``. Addresses are mem byte addresses, except the SRAM side of a LOAD
    (``dst``) or STORE (``src``), which is a byte offset into the SRAM. Byte ``i`` of each FILL row
    is byte ``i % 4`` of ``pattern``, little-endian; FILL ignores ``src`` and ``src_pitch``.

    With ``translate`` set, mem addresses are virtual addresses in address space ``asid``,
    translated burst by burst; ``fetch`` marks the reads as command fetches.
    """

    kind: DmaKind
    src: 40
    dst: 40
    row_bytes: 24
    rows: 16
    src_pitch: 32
    dst_pitch: 32
    pattern: 32
    translate: 1
    fetch: 1
    asid: ASID_WIDTH


#: A 2-D region of one side of a command.
_Region = data.StructLayout({"base": 40, "pitch": 32, "row_bytes": 24, "rows": 16})


def _beat_layout(data_width):
    """A destination beat: data already in its destination lanes, and its byte strobes."""
    return data.StructLayout({"data": data_width, "strb": data_width // 8})


def _is_pow2(n):
    return isinstance(n, int) and n > 0 and n & (n - 1) == 0


def _min(a, b):
    return Mux(a < b, a, b)


class _Fifo(wiring.Component):
    """A first-word-fall-through FIFO on a :class:`~amaranth.lib.memory.Memory`.

    Holds ``depth`` entries in the memory plus one in the read port's data register.
    ``w.ready`` is high while the memory has room. An entry pushed into an empty FIFO appears on
    ``r`` two cycles later; after that, one push and one pop per cycle are sustained. ``clear``
    empties the FIFO at the next edge and overrides a push or pop in the same cycle.
    """

    def __init__(self, shape, depth):
        self._shape, self._depth = shape, depth
        super().__init__(
            {
                "w": In(stream.Signature(shape)),
                "r": Out(stream.Signature(shape)),
                "clear": In(1),
            }
        )

    def elaborate(self, platform):
        """Build the memory, its pointers and the output register."""
        m = Module()
        m.submodules.storage = storage = Memory(shape=self._shape, depth=self._depth, init=[])
        wr, rd = storage.write_port(), storage.read_port()
        # One extra pointer bit tells full from empty.
        head = Signal(exact_log2(self._depth) + 1)
        tail = Signal.like(head)
        full = (head[:-1] == tail[:-1]) & (head[-1] != tail[-1])
        # Read the memory when the output register is empty or being taken.
        load = (head != tail) & (~self.r.valid | self.r.ready)
        m.d.comb += [
            self.w.ready.eq(~full),
            wr.addr.eq(tail[:-1]),
            wr.data.eq(self.w.payload),
            wr.en.eq(self.w.valid & ~full),
            rd.addr.eq(head[:-1]),
            rd.en.eq(load),
            self.r.payload.eq(rd.data),
        ]
        with m.If(self.w.valid & ~full):
            m.d.sync += tail.eq(tail + 1)
        with m.If(load):
            m.d.sync += [head.eq(head + 1), self.r.valid.eq(1)]
        with m.Elif(self.r.ready):
            m.d.sync += self.r.valid.eq(0)
        with m.If(self.clear):
            m.d.sync += [head.eq(0), tail.eq(0), self.r.valid.eq(0)]
        return m


class _Bursts(wiring.Component):
    """Splits a 2-D region into bus-aligned INCR bursts.

    Each row's bytes, widened to whole ``data_width`` beats, become bursts of at most
    ``max_beats`` beats that never cross a 4 KiB boundary; ``addr`` is aligned to the beat.
    ``start`` loads ``region`` at the next edge; the first burst is offered in the cycle after,
    and then one per cycle while ``bursts.ready`` is high. ``busy`` is high while bursts remain.
    """

    def __init__(self, *, data_width, max_beats):
        self._lg = exact_log2(data_width // 8)
        self._max_beats = max_beats
        layout = data.StructLayout({"addr": 40, "beats": range(max_beats + 1)})
        super().__init__(
            {
                "start": In(1),
                "region": In(_Region),
                "bursts": Out(stream.Signature(layout)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the row and burst counters."""
        m = Module()
        lg, region, out = self._lg, self.region, self.bursts.payload
        row_addr = Signal(40)
        rows_left = Signal(16)
        first = Signal()  # the next burst is the first of its row
        addr = Signal(40)  # beat-aligned address of the next burst, unless first
        left = Signal(26)  # beats left in the row, unless first

        row_beats = (row_addr[:lg] + region.row_bytes + (1 << lg) - 1) >> lg
        remaining = Mux(first, row_beats, left)
        to_4k = (Const(4096, 13) - out.addr[:12]) >> lg
        m.d.comb += [
            self.busy.eq(rows_left != 0),
            self.bursts.valid.eq(rows_left != 0),
            out.addr.eq(Mux(first, Cat(Const(0, lg), row_addr[lg:]), addr)),
            out.beats.eq(_min(_min(remaining, self._max_beats), to_4k)),
        ]
        with m.If(self.bursts.valid & self.bursts.ready):
            with m.If(out.beats == remaining):
                m.d.sync += [
                    rows_left.eq(rows_left - 1),
                    row_addr.eq(row_addr + region.pitch),
                    first.eq(1),
                ]
            with m.Else():
                m.d.sync += [
                    first.eq(0),
                    addr.eq(out.addr + (out.beats << lg)),
                    left.eq(remaining - out.beats),
                ]
        with m.If(self.start):
            m.d.sync += [row_addr.eq(region.base), rows_left.eq(region.rows), first.eq(1)]
        return m


class _Realigner(wiring.Component):
    """Shifts source row bytes into destination lanes and strobes exactly the row's bytes.

    Per row, source beats ``src[0..ns)`` hold the row from lane ``s = src_row % B`` (``B`` bytes
    per beat); destination beats ``dst[0..nd)`` receive it from lane ``d = dst_row % B``. With
    ``delta = (s - d) mod B``, destination beat ``j`` is bytes ``delta .. delta+B`` of the pair
    (``src[j-1+e]``, ``src[j+e]``), where ``e = 1`` if ``s >= d`` (the row starts earlier in its
    source beat, so each output needs the next source beat) and ``0`` otherwise. The component
    steps through ``nd + e`` beat slots per row; each slot shifts one source beat into the pair
    (``src[ns]`` is a bubble, never strobed) and, from slot ``e`` on, emits a destination beat.
    Throughput is one beat per cycle, combinational from ``i`` to ``o``; a row change costs no
    cycle.

    FILL rows take the pattern, replicated across the beat, as source beats with ``s = 0`` and
    ignore ``i``. ``start`` loads the command's rows at the next edge.
    """

    def __init__(self, *, data_width):
        self._dw = data_width
        super().__init__(
            {
                "start": In(1),
                "cmd": In(DmaCommand),
                "i": In(stream.Signature(data_width)),
                "o": Out(stream.Signature(_beat_layout(data_width))),
            }
        )

    def elaborate(self, platform):
        """Build the beat-pair shifter and the row counters."""
        m = Module()
        nbytes = self._dw // 8
        lg = exact_log2(nbytes)
        cmd = self.cmd
        fill = (cmd.kind == DmaKind.FILL) | (cmd.kind == DmaKind.FILL_LOCAL)
        s = Signal(lg)  # source lane of this row's first byte
        d = Signal(lg)  # destination lane of this row's first byte
        rows_left = Signal(16)
        slot = Signal(26)  # beat slot within the row
        hold = Signal(self._dw)  # the source beat shifted in by the previous slot

        ns = (s + cmd.row_bytes + nbytes - 1) >> lg
        nd = (d + cmd.row_bytes + nbytes - 1) >> lg
        e = s >= d
        delta = (s - d)[:lg]
        j = slot - e  # destination beat emitted in this slot
        needs_input = slot < ns
        emits = slot >= e
        source = Mux(fill, cmd.pattern.replicate(nbytes // 4), self.i.payload)
        have_input = fill | ~needs_input | self.i.valid
        step = (rows_left != 0) & have_input & (~emits | self.o.ready)
        last_slot = emits & (j == nd - 1)

        # Strobe lanes lo <= k < hi; only the first and last beats of a row are partial.
        lo = Mux(j == 0, d, 0)
        hi = Mux(last_slot, (d + cmd.row_bytes - 1)[:lg] + 1, nbytes)
        m.d.comb += [
            self.o.valid.eq((rows_left != 0) & have_input & emits),
            self.o.payload.data.eq(Cat(hold, source).bit_select(delta << 3, self._dw)),
            self.o.payload.strb.eq(Cat((lo <= k) & (k < hi) for k in range(nbytes))),
            self.i.ready.eq(step & needs_input & ~fill),
        ]
        with m.If(step):
            m.d.sync += [hold.eq(source), slot.eq(slot + 1)]
            with m.If(last_slot):
                m.d.sync += [
                    slot.eq(0),
                    rows_left.eq(rows_left - 1),
                    s.eq(Mux(fill, 0, s + cmd.src_pitch[:lg])),
                    d.eq(d + cmd.dst_pitch[:lg]),
                ]
        with m.If(self.start):
            m.d.sync += [
                s.eq(Mux(fill, 0, cmd.src[:lg])),
                d.eq(cmd.dst[:lg]),
                rows_left.eq(cmd.rows),
                slot.eq(0),
            ]
        return m


def _translator(m, side, bursts):
    """Put a :class:`BurstTranslator` between a side's bursts and its bus (not the SRAM)."""
    m.submodules.xlate = xlate = BurstTranslator(bursts.bursts.payload.shape())
    wiring.connect(m, bursts.bursts, xlate.i)
    wiring.connect(m, wiring.flipped(side.xlate), xlate.mmu)
    m.d.comb += [
        xlate.enable.eq(side.translate & ~side.sram),
        xlate.asid.eq(side.asid),
        xlate.access.eq(side.access),
        xlate.stop.eq(side.stop),
        xlate.start.eq(side.start),
        side.mmu_fault.eq(xlate.fault),
    ]
    return xlate


class _Reader(wiring.Component):
    """Fetches the source region into the source buffer, from mem or from the SRAM.

    An AR is issued only when the buffer has room for all of its beats (``used`` counts beats
    buffered or in flight), so ``rready`` is always high. From the SRAM, one beat is read per cycle
    under the same rule and pushed into the buffer ``latency`` cycles later (a fixed read latency).
    ``stop``
    prevents new ARs and SRAM reads; an AR already presented stays valid until accepted (AXI does
    not allow withdrawing it). ``fault`` is the ``rresp`` of an R beat taken with an error, for one
    cycle. ``idle`` is high when no AR is presented or awaiting data and no SRAM read is in flight.
    ``start`` loads ``region`` and empties the buffer.
    """

    def __init__(
        self, *, data_width, addr_width, id_width, sram_addr_width, max_burst, depth, latency=1
    ):
        self._dw, self._depth = data_width, depth
        self._lg = exact_log2(data_width // 8)
        self._max_burst = max_burst
        self._latency = latency
        axi = AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
        super().__init__(
            {
                "start": In(1),
                "stop": In(1),
                "sram": In(1),
                "region": In(_Region),
                "mem": Out(channels(axi, ("ar", "r"))),
                "sram_rd": In(
                    ReadPort.Signature(addr_width=sram_addr_width, shape=unsigned(data_width))
                ),
                "beats": Out(stream.Signature(data_width)),
                "fault": Out(Resp),
                "idle": Out(1),
                "translate": In(1),
                "asid": In(ASID_WIDTH),
                "access": In(Access),
                "xlate": Out(TranslateSignature()),
                "mmu_fault": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the AR issue, the SRAM read sequencer and the buffer."""
        m = Module()
        lg, mem = self._lg, self.mem
        m.submodules.bursts = bursts = _Bursts(data_width=self._dw, max_beats=self._max_burst)
        m.submodules.buffer = buffer = _Fifo(self._dw, self._depth)
        xlate = _translator(m, self, bursts)
        burst = xlate.o.payload
        m.d.comb += [
            bursts.start.eq(self.start),
            bursts.region.eq(self.region),
            buffer.clear.eq(self.start),
        ]
        wiring.connect(m, wiring.flipped(self.beats), buffer.r)

        used = Signal(range(self._depth + 1))  # buffer slots taken or promised to a read
        reads = Signal(range(self._depth + 1))  # ARs accepted whose last R beat is to come
        ar_held = Signal()  # arvalid was high without arready: keep it up
        # SRAM reads issued 1 .. latency cycles ago; the oldest returns its data this cycle.
        sram_pending = Signal(self._latency)
        sram_beat = Signal(9)  # beat of the current burst to read from the SRAM next

        room = used + burst.beats <= self._depth
        m.d.comb += [
            mem.arvalid.eq(xlate.o.valid & ~self.sram & (ar_held | (~self.stop & room))),
            mem.araddr.eq(burst.addr),
            mem.arlen.eq(burst.beats - 1),
            mem.arsize.eq(lg),
            mem.arburst.eq(Burst.INCR),
            mem.arcache.eq(0b0011),  # normal, non-cacheable, bufferable
            mem.rready.eq(1),
            self.fault.eq(Mux(mem.rvalid, mem.rresp, Resp.OKAY)),
            self.idle.eq((reads == 0) & ~mem.arvalid & ~sram_pending.any() & ~xlate.busy),
        ]
        ar_go = mem.arvalid & mem.arready
        m.d.sync += ar_held.eq(mem.arvalid & ~mem.arready)

        # SRAM source: one beat per cycle while a slot is free, the burst popped with its last.
        sram_go = xlate.o.valid & self.sram & ~self.stop & (used != self._depth)
        m.d.comb += [
            self.sram_rd.en.eq(sram_go),
            self.sram_rd.addr.eq(burst.addr[lg:] + sram_beat),
            xlate.o.ready.eq(ar_go | (sram_go & (sram_beat == burst.beats - 1))),
        ]
        m.d.sync += sram_pending.eq(Cat(sram_go, sram_pending[:-1]))
        with m.If(sram_go):
            m.d.sync += sram_beat.eq(Mux(sram_beat == burst.beats - 1, 0, sram_beat + 1))

        # Both sources push into the buffer; the credit check means it always has room.
        r_go = mem.rvalid & mem.rready
        m.d.comb += [
            buffer.w.valid.eq(r_go | sram_pending[-1]),
            buffer.w.payload.eq(Mux(sram_pending[-1], self.sram_rd.data, mem.rdata)),
        ]
        taken = self.beats.valid & self.beats.ready
        m.d.sync += [
            used.eq(used + Mux(ar_go, burst.beats, 0) + sram_go - taken),
            reads.eq(reads + ar_go - (r_go & mem.rlast)),
        ]
        with m.If(self.start):
            m.d.sync += [used.eq(0), sram_beat.eq(0)]
        return m


class _Writer(wiring.Component):
    """Writes destination beats to mem or to the SRAM, burst by burst.

    To mem: an AW is issued only once all of its beats are in the destination buffer and fewer
    than :data:`MAX_WRITES` writes are in flight, so W never waits for data after AW and the
    buffer (at least twice the longest burst) always drains: no deadlock, and no AW whose data
    could be cut short by an error. W beats follow their AW in order, back to back; ``bready`` is
    always high. To the SRAM: each beat is written as it arrives, byte enables from its strobes.
    ``stop`` prevents new AWs and SRAM writes; W still completes every issued AW. ``fault`` is the
    ``bresp`` of an error response, for one cycle. ``idle``: no AW presented and no write awaiting
    its B. ``finished``: every burst of the region written, and idle. ``start`` loads ``region``
    and empties the buffers.
    """

    def __init__(self, *, data_width, addr_width, id_width, sram_addr_width, max_burst, depth):
        self._dw, self._depth = data_width, depth
        self._lg = exact_log2(data_width // 8)
        self._max_burst = max_burst
        axi = AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
        sram_sig = WritePort.Signature(
            addr_width=sram_addr_width, shape=unsigned(data_width), granularity=8
        )
        super().__init__(
            {
                "start": In(1),
                "stop": In(1),
                "sram": In(1),
                "region": In(_Region),
                "beats": In(stream.Signature(_beat_layout(data_width))),
                "mem": Out(channels(axi, ("aw", "w", "b"))),
                "sram_wr": In(sram_sig),
                "fault": Out(Resp),
                "idle": Out(1),
                "translate": In(1),
                "asid": In(ASID_WIDTH),
                "access": In(Access),
                "xlate": Out(TranslateSignature()),
                "mmu_fault": Out(1),
                "finished": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the AW issue, the W sequencer, B counting and the SRAM write sequencer."""
        m = Module()
        lg, mem = self._lg, self.mem
        m.submodules.bursts = bursts = _Bursts(data_width=self._dw, max_beats=self._max_burst)
        m.submodules.buffer = buffer = _Fifo(_beat_layout(self._dw), self._depth)
        m.submodules.lens = lens = _Fifo(8, MAX_WRITES)  # awlen of each AW whose W is to come
        xlate = _translator(m, self, bursts)
        burst = xlate.o.payload
        m.d.comb += [
            bursts.start.eq(self.start),
            bursts.region.eq(self.region),
            buffer.clear.eq(self.start),
            lens.clear.eq(self.start),
        ]
        wiring.connect(m, wiring.flipped(self.beats), buffer.w)

        avail = Signal(range(self._depth + 2))  # buffered beats not yet claimed by an AW
        writes = Signal(range(MAX_WRITES + 1))  # AWs issued whose B is to come
        aw_held = Signal()  # awvalid was high without awready: keep it up
        beat = Signal(8)  # beat of the current W burst, or of the current SRAM burst

        ready = (avail >= burst.beats) & (writes != MAX_WRITES)
        m.d.comb += [
            mem.awvalid.eq(xlate.o.valid & ~self.sram & (aw_held | (~self.stop & ready))),
            mem.awaddr.eq(burst.addr),
            mem.awlen.eq(burst.beats - 1),
            mem.awsize.eq(lg),
            mem.awburst.eq(Burst.INCR),
            mem.awcache.eq(0b0011),  # normal, non-cacheable, bufferable
            lens.w.valid.eq(mem.awvalid & mem.awready),
            lens.w.payload.eq(burst.beats - 1),
            mem.bready.eq(1),
            self.fault.eq(Mux(mem.bvalid, mem.bresp, Resp.OKAY)),
            self.idle.eq((writes == 0) & ~mem.awvalid & ~xlate.busy),
            self.finished.eq(~bursts.busy & ~xlate.o.valid & self.idle),
        ]
        aw_go = mem.awvalid & mem.awready
        m.d.sync += [
            aw_held.eq(mem.awvalid & ~mem.awready),
            avail.eq(avail + (buffer.w.valid & buffer.w.ready) - Mux(aw_go, burst.beats, 0)),
            writes.eq(writes + aw_go - (mem.bvalid & mem.bready)),
        ]

        # W: the head of lens is the burst being sent; its data is already buffered.
        w_last = beat == lens.r.payload
        with m.If(~self.sram):
            m.d.comb += [
                mem.wvalid.eq(lens.r.valid & buffer.r.valid),
                mem.wdata.eq(buffer.r.payload.data),
                mem.wstrb.eq(buffer.r.payload.strb),
                mem.wlast.eq(w_last),
                buffer.r.ready.eq(mem.wready & lens.r.valid),
                lens.r.ready.eq(mem.wvalid & mem.wready & w_last),
                xlate.o.ready.eq(aw_go),
            ]
            with m.If(mem.wvalid & mem.wready):
                m.d.sync += beat.eq(Mux(w_last, 0, beat + 1))

        # SRAM: write each beat as it arrives; pop the burst with its last beat.
        with m.Else():
            sram_go = xlate.o.valid & buffer.r.valid & ~self.stop
            sram_last = beat == burst.beats - 1
            m.d.comb += [
                self.sram_wr.addr.eq(burst.addr[lg:] + beat),
                self.sram_wr.data.eq(buffer.r.payload.data),
                self.sram_wr.en.eq(Mux(sram_go, buffer.r.payload.strb, 0)),
                buffer.r.ready.eq(sram_go),
                xlate.o.ready.eq(sram_go & sram_last),
            ]
            with m.If(sram_go):
                m.d.sync += beat.eq(Mux(sram_last, 0, beat + 1))

        with m.If(self.start):
            m.d.sync += [avail.eq(0), beat.eq(0)]
        return m


class DmaEngine(wiring.Component):
    """Copies and fills 2-D regions of host memory and of the CP-local SRAM.

    A command is accepted when ``cmd.valid`` and ``cmd.ready`` are high at an edge (``cmd.ready``
    is ``~busy``). The next cycle checks it: with no rows or no bytes, or a LOAD or STORE row past
    the end of the SRAM (:attr:`DmaError.SRAM_RANGE`), the command completes without any traffic;
    otherwise the data path starts the cycle after. ``done`` pulses for one cycle as ``busy``
    falls; ``error`` then holds the result until the next command is accepted.

    Reads are INCR bursts of full-width beats, aligned down to the beat, at most ``max_burst``
    beats, never crossing 4 KiB; an AR is issued only when the source buffer has room for its
    beats, so ``rready`` is always high and several reads may be in flight. Writes are shaped the
    same way; an AW is issued only when all of its beats are in the destination buffer (then W
    streams without waiting), with up to :data:`MAX_WRITES` writes in flight. ``wstrb`` covers
    exactly the row's bytes. All transactions use ID 0, so responses arrive in order. Both buffers
    hold ``buffer_depth = max(2 * max_burst, 8)`` beats: one burst drains while the next fills.

    With ``translate``, each mem burst is translated on ``xlate_rd`` (reads; fetches if ``fetch``)
    or ``xlate_wr`` (writes) before its AR or AW; translations run ahead of the data, one per
    burst, a TLB hit costing no cycle. A refused translation is an error like a bus error
    (:attr:`DmaError.MMU_FAULT`); the burst is not issued.

    On the first R beat or B response with SLVERR or DECERR the error is recorded, no further AR,
    AW or SRAM write is issued, and the engine waits for every outstanding R burst and B response
    (W data of issued AWs is always buffered, so it is still sent) before pulsing ``done``. Data
    read with an error is never written: its AW would come after the error stopped the writer.

    Parameters
    ----------
    data_width : int
        Width of the mem port and of an SRAM word: 32, 64, 128 or 256.
    addr_width : int
        Width of mem addresses.
    id_width : int
        Width of AXI IDs.
    sram_bytes : int
        Size of the SRAM: a power of two, at least four words.
    max_burst : int
        Longest burst in beats: a power of two from 1 to 256.
    local_regions : list of (base, size, readable, writable), optional
        Byte ranges of the local port: a LOAD or STORE must fall inside one region that allows
        its direction. By default, the SRAM alone at local address 0.
    local_latency : int
        Cycles from a local read's address to its data (fixed, pipelined).
    local_addr_width : int, optional
        Bits of a local byte address; by default, enough for the regions.

    Attributes
    ----------
    cmd : In(stream.Signature(DmaCommand))
    busy, done : Out(1)
    error : Out(DmaError)
    mem : Out(AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width))
    sram_rd : In(ReadPort.Signature(addr_width=log2(words), shape=unsigned(data_width)))
        Connects to ``memory.read_port()`` of the SRAM (synchronous, one cycle of latency).
    sram_wr : In(WritePort.Signature(addr_width=log2(words), shape=..., granularity=8))
        Connects to ``memory.write_port(granularity=8)`` of the SRAM.
    xlate_rd, xlate_wr : Out(TranslateSignature())
        Translation requests of the reads and of the writes, to the MMU.

    Raises
    ------
    ValueError
        If a parameter is out of range.
    """

    def __init__(
        self,
        *,
        data_width=64,
        addr_width=40,
        id_width=4,
        sram_bytes=16384,
        max_burst=64,
        local_regions=None,
        local_latency=1,
        local_addr_width=None,
    ):
        if data_width not in (32, 64, 128, 256):
            raise ValueError(f"Data width must be one of (32, 64, 128, 256), not {data_width!r}")
        min_sram = data_width // 8 * 4
        if not (_is_pow2(sram_bytes) and sram_bytes >= min_sram):
            raise ValueError(
                f"SRAM size must be a power of two of at least {min_sram} bytes, not {sram_bytes!r}"
            )
        if not (_is_pow2(max_burst) and max_burst <= 256):
            raise ValueError(
                f"Maximum burst must be a power of two between 1 and 256, not {max_burst!r}"
            )
        if not (isinstance(local_latency, int) and local_latency >= 1):
            raise ValueError(f"Local read latency must be at least 1, not {local_latency!r}")
        self.data_width, self.sram_bytes, self.max_burst = data_width, sram_bytes, max_burst
        #: (base, size, readable, writable) of each region of the local port.
        self.local_regions = local_regions or [(0, sram_bytes, True, True)]
        span = max(base + size for base, size, _, _ in self.local_regions)
        self.buffer_depth = max(2 * max_burst, 8)
        local_bytes = 1 << local_addr_width if local_addr_width else max(span, sram_bytes)
        sram_addr_width = ceil_log2(local_bytes * 8 // data_width)
        self._params = dict(
            data_width=data_width,
            addr_width=addr_width,
            id_width=id_width,
            sram_addr_width=sram_addr_width,
            max_burst=max_burst,
            depth=self.buffer_depth,
        )
        self._latency = local_latency
        sram_shape = unsigned(data_width)
        super().__init__(
            {
                "cmd": In(stream.Signature(DmaCommand)),
                "busy": Out(1),
                "done": Out(1),
                "error": Out(DmaError),
                "mem": Out(
                    AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
                ),
                "sram_rd": In(ReadPort.Signature(addr_width=sram_addr_width, shape=sram_shape)),
                "sram_wr": In(
                    WritePort.Signature(addr_width=sram_addr_width, shape=sram_shape, granularity=8)
                ),
                "xlate_rd": Out(TranslateSignature()),
                "xlate_wr": Out(TranslateSignature()),
            }
        )

    def elaborate(self, platform):
        """Build the command check and sequencing around the reader, realigner and writer."""
        m = Module()
        m.submodules.reader = reader = _Reader(**self._params, latency=self._latency)
        m.submodules.realigner = realigner = _Realigner(data_width=self.data_width)
        m.submodules.writer = writer = _Writer(**self._params)
        forward(m, self.mem, reader.mem)
        forward(m, self.mem, writer.mem)
        wiring.connect(m, wiring.flipped(self.sram_rd), reader.sram_rd)
        wiring.connect(m, wiring.flipped(self.sram_wr), writer.sram_wr)
        wiring.connect(m, wiring.flipped(self.xlate_rd), reader.xlate)
        wiring.connect(m, wiring.flipped(self.xlate_wr), writer.xlate)
        wiring.connect(m, reader.beats, realigner.i)
        wiring.connect(m, realigner.o, writer.beats)

        cmd = Signal(DmaCommand)
        start = Signal()
        kind = cmd.kind
        fills = (kind == DmaKind.FILL) | (kind == DmaKind.FILL_LOCAL)
        to_local = (kind == DmaKind.LOAD) | (kind == DmaKind.FILL_LOCAL)
        m.d.comb += [
            realigner.start.eq(start),
            realigner.cmd.eq(cmd),
            reader.start.eq(start),
            reader.sram.eq(kind == DmaKind.STORE),
            reader.region.base.eq(cmd.src),
            reader.region.pitch.eq(cmd.src_pitch),
            reader.region.row_bytes.eq(cmd.row_bytes),
            reader.region.rows.eq(Mux(fills, 0, cmd.rows)),
            writer.start.eq(start),
            writer.sram.eq(to_local),
            writer.region.base.eq(cmd.dst),
            writer.region.pitch.eq(cmd.dst_pitch),
            writer.region.row_bytes.eq(cmd.row_bytes),
            writer.region.rows.eq(cmd.rows),
            reader.translate.eq(cmd.translate),
            reader.asid.eq(cmd.asid),
            reader.access.eq(Mux(cmd.fetch, Access.FETCH, Access.READ)),
            writer.translate.eq(cmd.translate),
            writer.asid.eq(cmd.asid),
            writer.access.eq(Access.WRITE),
        ]

        # The local side's last row ends furthest: the region of its first byte must hold it.
        on_src = kind == DmaKind.STORE
        local_base = Mux(on_src, cmd.src, cmd.dst)
        local_pitch = Mux(on_src, cmd.src_pitch, cmd.dst_pitch)
        local_end = local_base + (cmd.rows - 1)[:16] * local_pitch + cmd.row_bytes
        allowed = Const(0)
        for base, size, readable, writable in self.local_regions:
            inside = (local_base >= base) & (local_end <= base + size)
            direction = (on_src if readable else Const(0)) | (to_local if writable else Const(0))
            allowed |= inside & direction
        out_of_range = (to_local | on_src) & ~allowed

        # The first error wins; a read error is taken over a write error in the same cycle. Outside
        # RUN the reader and writer are held stopped: after an error they may still hold bursts.
        running = Signal()
        stop = ~running | (self.error != DmaError.NONE)
        with m.If(~stop & (reader.mmu_fault | writer.mmu_fault)):
            m.d.sync += self.error.eq(DmaError.MMU_FAULT)
        with m.Elif(~stop):
            with m.Switch(reader.fault):
                with m.Case(Resp.SLVERR):
                    m.d.sync += self.error.eq(DmaError.READ_SLVERR)
                with m.Case(Resp.DECERR):
                    m.d.sync += self.error.eq(DmaError.READ_DECERR)
                with m.Default():
                    with m.Switch(writer.fault):
                        with m.Case(Resp.SLVERR):
                            m.d.sync += self.error.eq(DmaError.WRITE_SLVERR)
                        with m.Case(Resp.DECERR):
                            m.d.sync += self.error.eq(DmaError.WRITE_DECERR)
        m.d.comb += [reader.stop.eq(stop), writer.stop.eq(stop)]

        m.d.sync += self.done.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.cmd.ready.eq(1)
                with m.If(self.cmd.valid):
                    m.d.sync += [cmd.eq(self.cmd.payload), self.error.eq(DmaError.NONE)]
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                with m.If((cmd.rows == 0) | (cmd.row_bytes == 0)):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
                with m.Elif(out_of_range):
                    m.d.sync += [self.done.eq(1), self.error.eq(DmaError.SRAM_RANGE)]
                    m.next = "IDLE"
                with m.Else():
                    m.d.comb += start.eq(1)
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.busy.eq(1), running.eq(1)]
                drained = reader.idle & writer.idle
                with m.If(drained & (stop | writer.finished)):
                    m.d.sync += self.done.eq(1)
                    m.next = "IDLE"
        return m
