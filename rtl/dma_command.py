"""The DMA engine's layouts: its command, a side's 2-D region, a destination beat."""

from amaranth.lib import data

from .layouts import DmaKind
from .translate import ASID_WIDTH

__all__ = ["DmaCommand", "Region", "beat_layout"]


class DmaCommand(data.Struct):
    """One DMA command.

    Row ``r`` (``0 <= r < rows``) of plane ``p`` (``0 <= p < planes``) of volume ``v`` (``0 <= v <
    volumes``) moves ``row_bytes`` bytes from ``src + v * src_volume_pitch + p * src_plane_pitch + r
    * src_pitch`` to ``dst`` plus the same with the ``dst_`` pitches, row after row, plane after
    plane, volume after volume: a 4-D copy, such as the rows of an im2col block that several output
    rows of several images read. Addresses are mem byte addresses, except the SRAM side of a LOAD
    (``dst``) or STORE (``src``), which is a byte offset into the SRAM. Byte ``i`` of each FILL row
    is byte ``i % 4`` of ``pattern``, little-endian; FILL ignores ``src`` and ``src_pitch``.

    With ``translate`` set, mem addresses are virtual addresses in address space ``asid``,
    translated burst by burst; ``fetch`` marks the reads as command fetches. ``notify`` asks the
    queue (:class:`~tinynpu.rtl.dma_queue.DmaQueue`) to report the command's completion; the
    engine ignores it.
    """

    kind: DmaKind
    src: 40
    dst: 40
    row_bytes: 24
    rows: 16
    src_pitch: 32
    dst_pitch: 32
    planes: 16
    src_plane_pitch: 32
    dst_plane_pitch: 32
    volumes: 16
    src_volume_pitch: 32
    dst_volume_pitch: 32
    pattern: 32
    translate: 1
    fetch: 1
    asid: ASID_WIDTH
    notify: 1


#: A 4-D region of one side of a command: ``volumes`` of ``planes`` of ``rows`` rows.
Region = data.StructLayout(
    {
        "base": 40,
        "pitch": 32,
        "row_bytes": 24,
        "rows": 16,
        "planes": 16,
        "plane_pitch": 32,
        "volumes": 16,
        "volume_pitch": 32,
    }
)


def beat_layout(data_width):
    """A destination beat: data already in its destination lanes, and its byte strobes."""
    return data.StructLayout({"data": data_width, "strb": data_width // 8})
