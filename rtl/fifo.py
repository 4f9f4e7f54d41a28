"""A synchronous FIFO as a stream component."""

from amaranth.hdl import Module, ResetInserter, Shape
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamFifo"]


class StreamFifo(wiring.Component):
    """First-in first-out buffer between two streams.

    Wraps ``amaranth.lib.fifo.SyncFIFOBuffered`` (a legacy elaboratable in Amaranth 0.5) once, so
    the rest of the design sees only stream ports.

    Parameters
    ----------
    shape : shape-like
        Payload shape (a layout gives structured payloads).
    depth : int
        Entries.

    Attributes
    ----------
    w : In(stream.Signature(shape))
        Input; ``w.ready`` is low while full.
    r : Out(stream.Signature(shape))
        Output; ``r.valid`` is high while not empty.
    level : Out(range(depth + 1))
        Entries held.
    flush : In(1)
        Drop every entry (synchronous, takes effect at the next edge).

    Raises
    ------
    ValueError
        If ``depth`` is not a positive integer.
    """

    def __init__(self, shape, *, depth):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"FIFO depth must be a positive integer, not {depth!r}")
        self._shape = shape
        self.depth = depth
        super().__init__(
            {
                "w": In(stream.Signature(shape)),
                "r": Out(stream.Signature(shape)),
                "level": Out(range(depth + 1)),
                "flush": In(1),
            }
        )

    def elaborate(self, platform):
        """Instantiate the buffered FIFO, reset by ``flush``."""
        m = Module()
        width = Shape.cast(self._shape).width
        m.submodules.fifo = buf = ResetInserter(self.flush)(
            fifo.SyncFIFOBuffered(width=width, depth=self.depth)
        )
        m.d.comb += [
            buf.w_data.eq(self.w.payload),
            buf.w_en.eq(self.w.valid),
            self.w.ready.eq(buf.w_rdy),
            self.r.payload.eq(buf.r_data),
            self.r.valid.eq(buf.r_rdy),
            buf.r_en.eq(self.r.ready),
            self.level.eq(buf.level),
        ]
        return m
