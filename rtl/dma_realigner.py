"""The DMA engine's realigner: source row bytes into destination lanes, with exact strobes."""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .dma_command import DmaCommand, beat_layout
from .layouts import DmaKind

__all__ = ["Realigner"]


class Realigner(wiring.Component):
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
    ignore ``i``. ``start`` loads the command's rows at the next edge; the rows of each plane
    follow the last row of the plane before, and the planes of each volume the last plane of the
    volume before.
    """

    def __init__(self, *, data_width):
        self._dw = data_width
        super().__init__(
            {
                "start": In(1),
                "cmd": In(DmaCommand),
                "i": In(stream.Signature(data_width)),
                "o": Out(stream.Signature(beat_layout(data_width))),
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
        s_plane = Signal(lg)  # source and destination lanes of the plane's first row
        d_plane = Signal(lg)
        s_volume = Signal(lg)  # and of the volume's
        d_volume = Signal(lg)
        rows_left = Signal(cmd.rows.shape())  # in the current plane
        planes_left = Signal(cmd.planes.shape())  # in the current volume
        volumes_left = Signal(cmd.volumes.shape())
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
        active = volumes_left != 0
        step = active & have_input & (~emits | self.o.ready)
        last_slot = emits & (j == nd - 1)

        # Strobe lanes lo <= k < hi; only the first and last beats of a row are partial.
        lo = Mux(j == 0, d, 0)
        hi = Mux(last_slot, (d + cmd.row_bytes - 1)[:lg] + 1, nbytes)
        m.d.comb += [
            self.o.valid.eq(active & have_input & emits),
            self.o.payload.data.eq(Cat(hold, source).bit_select(delta << 3, self._dw)),
            self.o.payload.strb.eq(Cat((lo <= k) & (k < hi) for k in range(nbytes))),
            self.i.ready.eq(step & needs_input & ~fill),
        ]
        # The next row's lanes: a row pitch on, or a plane (volume) pitch on from the first row of
        # the plane (volume) just finished.
        plane_end = rows_left == 1
        volume_end = plane_end & (planes_left == 1)
        s_next = Mux(
            fill,
            0,
            Mux(
                volume_end,
                s_volume + cmd.src_volume_pitch[:lg],
                Mux(plane_end, s_plane + cmd.src_plane_pitch[:lg], s + cmd.src_pitch[:lg]),
            )[:lg],
        )
        d_next = Mux(
            volume_end,
            d_volume + cmd.dst_volume_pitch[:lg],
            Mux(plane_end, d_plane + cmd.dst_plane_pitch[:lg], d + cmd.dst_pitch[:lg]),
        )[:lg]
        with m.If(step):
            m.d.sync += [hold.eq(source), slot.eq(slot + 1)]
            with m.If(last_slot):
                m.d.sync += [
                    slot.eq(0),
                    rows_left.eq(Mux(plane_end, cmd.rows, rows_left - 1)),
                    s.eq(s_next),
                    d.eq(d_next),
                ]
                with m.If(plane_end):
                    m.d.sync += [
                        planes_left.eq(Mux(volume_end, cmd.planes, planes_left - 1)),
                        s_plane.eq(s_next),
                        d_plane.eq(d_next),
                    ]
                with m.If(volume_end):
                    m.d.sync += [
                        volumes_left.eq(volumes_left - 1),
                        s_volume.eq(s_next),
                        d_volume.eq(d_next),
                    ]
        with m.If(self.start):
            m.d.sync += [
                s.eq(Mux(fill, 0, cmd.src[:lg])),
                s_plane.eq(Mux(fill, 0, cmd.src[:lg])),
                s_volume.eq(Mux(fill, 0, cmd.src[:lg])),
                d.eq(cmd.dst[:lg]),
                d_plane.eq(cmd.dst[:lg]),
                d_volume.eq(cmd.dst[:lg]),
                rows_left.eq(cmd.rows),
                planes_left.eq(cmd.planes),
                volumes_left.eq(cmd.volumes),
                slot.eq(0),
            ]
        return m
