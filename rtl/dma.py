"""The DMA engine: 4-D copies between host memory and the local memories, and fills.

The *local port* reaches the CP-local SRAM and, in the NPU, the scratchpads and the
post-processor (``tinynpu.rtl.localmap``); a command's local addresses are byte addresses on it.

One command at a time moves ``volumes`` volumes of ``planes`` planes of ``rows`` rows of
``row_bytes`` bytes; any byte alignment of source and destination. The data path is a pipeline of
small components::

    source Bursts -> AR / SRAM reads -> source buffer -> Realigner -> destination buffer
        -> AW + W / SRAM writes, paced by the destination Bursts

:class:`~tinynpu.rtl.dma_reader.Reader` and :class:`~tinynpu.rtl.dma_writer.Writer` each walk the
command's rows as bus bursts with their own :class:`~tinynpu.rtl.dma_side.Bursts`; the
:class:`~tinynpu.rtl.dma_realigner.Realigner` walks them again as beats, shifting each source
row's bytes into the destination row's lanes and computing the exact byte strobes. Nothing flows
between the three but data beats, so each can be read (and tested) on its own.
"""

from amaranth.hdl import Const, Module, Mux, Signal, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .axi import AXI4Signature, Resp, forward
from .dma_command import DmaCommand
from .dma_reader import Reader
from .dma_realigner import Realigner
from .dma_writer import MAX_WRITES, Writer
from .layouts import Access, DmaError, DmaKind
from .translate import TranslateSignature

__all__ = ["MAX_WRITES", "DmaCommand", "DmaEngine"]


def _is_pow2(n):
    return isinstance(n, int) and n > 0 and n & (n - 1) == 0


class DmaEngine(wiring.Component):
    """Copies and fills 4-D regions of host memory and of the CP-local SRAM.

    A command is accepted when ``cmd.valid`` and ``cmd.ready`` are high at an edge (``cmd.ready`` is
    ``~busy``). The next cycle checks it: with no volumes, planes, rows or bytes, or a LOAD or STORE
    row past the end of the SRAM (:attr:`DmaError.SRAM_RANGE`), the command completes without any
    traffic; otherwise the data path starts the cycle after. ``done`` pulses for one cycle as
    ``busy`` falls; ``error`` then holds the result until the next command is accepted.

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
        m.submodules.reader = reader = Reader(**self._params, latency=self._latency)
        m.submodules.realigner = realigner = Realigner(data_width=self.data_width)
        m.submodules.writer = writer = Writer(**self._params)
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
            reader.region.planes.eq(Mux(fills, 0, cmd.planes)),
            reader.region.plane_pitch.eq(cmd.src_plane_pitch),
            reader.region.volumes.eq(Mux(fills, 0, cmd.volumes)),
            reader.region.volume_pitch.eq(cmd.src_volume_pitch),
            writer.start.eq(start),
            writer.sram.eq(to_local),
            writer.region.base.eq(cmd.dst),
            writer.region.pitch.eq(cmd.dst_pitch),
            writer.region.row_bytes.eq(cmd.row_bytes),
            writer.region.rows.eq(cmd.rows),
            writer.region.planes.eq(cmd.planes),
            writer.region.plane_pitch.eq(cmd.dst_plane_pitch),
            writer.region.volumes.eq(cmd.volumes),
            writer.region.volume_pitch.eq(cmd.dst_volume_pitch),
            reader.translate.eq(cmd.translate),
            reader.asid.eq(cmd.asid),
            reader.access.eq(Mux(cmd.fetch, Access.FETCH, Access.READ)),
            writer.translate.eq(cmd.translate),
            writer.asid.eq(cmd.asid),
            writer.access.eq(Access.WRITE),
        ]

        # The local side's last row of its last plane of its last volume ends furthest: the region
        # of its first byte must hold it.
        on_src = kind == DmaKind.STORE
        local_base = Mux(on_src, cmd.src, cmd.dst)
        local_pitch = Mux(on_src, cmd.src_pitch, cmd.dst_pitch)
        local_plane_pitch = Mux(on_src, cmd.src_plane_pitch, cmd.dst_plane_pitch)
        local_volume_pitch = Mux(on_src, cmd.src_volume_pitch, cmd.dst_volume_pitch)
        local_end = (
            local_base
            + (cmd.rows - 1)[: len(cmd.rows)] * local_pitch
            + (cmd.planes - 1)[: len(cmd.planes)] * local_plane_pitch
            + (cmd.volumes - 1)[: len(cmd.volumes)] * local_volume_pitch
            + cmd.row_bytes
        )
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
                empty = (cmd.volumes == 0) | (cmd.planes == 0) | (cmd.rows == 0)
                with m.If(empty | (cmd.row_bytes == 0)):
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
