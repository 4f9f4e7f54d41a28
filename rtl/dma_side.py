"""What the DMA engine's reader and writer share: a region's bursts, their translation, a buffer.

Each side walks its region of the command as bus bursts (:class:`Bursts`), puts each through a
:class:`~tinynpu.rtl.burst_translator.BurstTranslator` (a pass-through for physical addresses and
the local side) and moves the data through a FIFO; :meth:`Side.pipeline` builds the three.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi import Burst, Resp
from .burst_translator import BurstTranslator
from .dma_command import Region
from .fifo import StreamFifo
from .layouts import Access
from .translate import ASID_WIDTH, TranslateSignature

__all__ = ["Bursts", "Side"]


def _min(a, b):
    return Mux(a < b, a, b)


class Bursts(wiring.Component):
    """Splits a 4-D region into bus-aligned INCR bursts: by row, plane and volume.

    Each row's bytes, widened to whole ``data_width`` beats, become bursts of at most
    ``max_beats`` beats that never cross a 4 KiB boundary; ``addr`` is aligned to the beat.
    ``start`` loads ``region`` at the next edge; the first burst is offered in the cycle after,
    and then one per cycle while ``bursts.ready`` is high. ``busy`` is high while bursts remain.
    A region with no rows, planes or volumes has none.
    """

    def __init__(self, *, data_width, max_beats):
        self._lg = exact_log2(data_width // 8)
        self._max_beats = max_beats
        layout = data.StructLayout({"addr": 40, "beats": range(max_beats + 1)})
        super().__init__(
            {
                "start": In(1),
                "region": In(Region),
                "bursts": Out(stream.Signature(layout)),
                "busy": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the row and burst counters."""
        m = Module()
        lg, region, out = self._lg, self.region, self.bursts.payload
        row_addr = Signal(40)
        plane_addr = Signal(40)  # of the current plane's first row
        volume_addr = Signal(40)  # of the current volume's first row
        rows_left = Signal(region.rows.shape())  # in the current plane
        planes_left = Signal(region.planes.shape())  # in the current volume
        volumes_left = Signal(region.volumes.shape())
        first = Signal()  # the next burst is the first of its row
        addr = Signal(40)  # beat-aligned address of the next burst, unless first
        left = Signal(26)  # beats left in the row, unless first

        row_beats = (row_addr[:lg] + region.row_bytes + (1 << lg) - 1) >> lg
        remaining = Mux(first, row_beats, left)
        to_4k = (Const(4096, 13) - out.addr[:12]) >> lg
        more = (volumes_left != 0) & (planes_left != 0) & (rows_left != 0)
        m.d.comb += [
            self.busy.eq(more),
            self.bursts.valid.eq(more),
            out.addr.eq(Mux(first, Cat(Const(0, lg), row_addr[lg:]), addr)),
            out.beats.eq(_min(_min(remaining, self._max_beats), to_4k)),
        ]
        with m.If(self.bursts.valid & self.bursts.ready):
            row_done = out.beats == remaining
            with m.If(row_done & (rows_left == 1) & (planes_left == 1)):
                next_volume = volume_addr + region.volume_pitch
                m.d.sync += [
                    volumes_left.eq(volumes_left - 1),
                    planes_left.eq(region.planes),
                    rows_left.eq(region.rows),
                    volume_addr.eq(next_volume),
                    plane_addr.eq(next_volume),
                    row_addr.eq(next_volume),
                    first.eq(1),
                ]
            with m.Elif(row_done & (rows_left == 1)):
                next_plane = plane_addr + region.plane_pitch
                m.d.sync += [
                    planes_left.eq(planes_left - 1),
                    rows_left.eq(region.rows),
                    plane_addr.eq(next_plane),
                    row_addr.eq(next_plane),
                    first.eq(1),
                ]
            with m.Elif(row_done):
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
            m.d.sync += [
                row_addr.eq(region.base),
                plane_addr.eq(region.base),
                volume_addr.eq(region.base),
                rows_left.eq(region.rows),
                planes_left.eq(region.planes),
                volumes_left.eq(region.volumes),
                first.eq(1),
            ]
        return m


class Side(wiring.Component):
    """What the reader and the writer have in common: these ports, and :meth:`pipeline`.

    ``start``, ``stop``, ``sram``, ``region``, ``fault``, ``idle`` as each side documents them;
    ``translate``, ``asid`` and ``access`` qualify its bursts' translation requests on ``xlate``,
    ``mmu_fault`` pulses when one is refused.

    Parameters
    ----------
    members : dict
        The side's own ports (bus, local port, beats).
    data_width, max_burst : int
        Of the bus.
    depth : int
        Beats the side's buffer holds for its credits.
    """

    def __init__(self, members, *, data_width, max_burst, depth):
        self._dw, self._depth, self._max_burst = data_width, depth, max_burst
        self._lg = exact_log2(data_width // 8)
        super().__init__(
            {
                "start": In(1),
                "stop": In(1),
                "sram": In(1),
                "region": In(Region),
                "fault": Out(Resp),
                "idle": Out(1),
                "translate": In(1),
                "asid": In(ASID_WIDTH),
                "access": In(Access),
                "xlate": Out(TranslateSignature()),
                "mmu_fault": Out(1),
                **members,
            }
        )

    def pipeline(self, m, buffer_shape):
        """Build the side's bursts, their translator and its buffer of ``buffer_shape`` beats.

        ``start`` loads the region's bursts and empties the buffer, whose memory holds ``depth``
        entries (its output register one more). Bursts are translated when ``translate`` and not
        ``sram``.

        Returns
        -------
        bursts : Bursts
        translator : BurstTranslator
            Its ``o`` offers the next burst, with a physical address.
        buffer : StreamFifo
        """
        m.submodules.bursts = bursts = Bursts(data_width=self._dw, max_beats=self._max_burst)
        m.submodules.buffer = buffer = StreamFifo(buffer_shape, depth=self._depth + 1)
        m.submodules.xlate = xlate = BurstTranslator(bursts.bursts.payload.shape())
        wiring.connect(m, bursts.bursts, xlate.i)
        wiring.connect(m, wiring.flipped(self.xlate), xlate.mmu)
        m.d.comb += [
            bursts.start.eq(self.start),
            bursts.region.eq(self.region),
            buffer.flush.eq(self.start),
            xlate.enable.eq(self.translate & ~self.sram),
            xlate.asid.eq(self.asid),
            xlate.access.eq(self.access),
            xlate.stop.eq(self.stop),
            xlate.start.eq(self.start),
            self.mmu_fault.eq(xlate.fault),
        ]
        return bursts, xlate, buffer

    def issue(self, m, channel, xlate, room):
        """Offer the translator's burst on the ``"ar"`` or ``"aw"`` channel of ``mem``.

        An address is raised when the burst is for ``mem`` (not ``sram``), ``room`` holds and the
        side is not stopped; once raised it stays until taken (AXI does not allow withdrawing it).
        Bursts are full-width INCR beats, normal non-cacheable bufferable.

        Returns
        -------
        Value
            High in the cycle the address is taken.
        """
        mem, burst = self.mem, xlate.o.payload
        valid, ready = getattr(mem, f"{channel}valid"), getattr(mem, f"{channel}ready")
        held = Signal(name=f"{channel}_held")  # raised and not yet taken: keep it up
        m.d.comb += [
            valid.eq(xlate.o.valid & ~self.sram & (held | (~self.stop & room))),
            getattr(mem, f"{channel}addr").eq(burst.addr),
            getattr(mem, f"{channel}len").eq(burst.beats - 1),
            getattr(mem, f"{channel}size").eq(self._lg),
            getattr(mem, f"{channel}burst").eq(Burst.INCR),
            getattr(mem, f"{channel}cache").eq(0b0011),
        ]
        m.d.sync += held.eq(valid & ~ready)
        return valid & ready
