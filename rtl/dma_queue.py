"""The DMA command queue: commands run in order behind the one running; a failure halts it.

The control processor pushes commands without waiting for each (``dma_push``); the queue hands
them to the :class:`~tinynpu.rtl.dma.DmaEngine` one at a time and counts what completes. Only the
commands pushed with ``notify`` (and a failing one) raise ``dma_done``, so the firmware wakes once
per batch it cares about. The first command that fails halts the queue: the commands behind it
are discarded, pushes are dropped, and the failing command's position stays readable until the
firmware clears the halt. A scatter-gather engine's channel halts on an error the same way.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .dma_command import DmaCommand
from .fifo import StreamFifo
from .layouts import DmaError
from .regmap import CP

__all__ = ["DmaQueue"]

#: Bits of the completion count and of a command's position in the sequence pushed: as many as
#: the registers that report them.
SEQUENCE_WIDTH = CP.dma_status.completed.width
assert CP.dma_queue.failed.width == SEQUENCE_WIDTH


class DmaQueue(wiring.Component):
    """An in-order queue of DMA commands in front of the engine, with completion and halt.

    A command offered on ``i`` is queued unless the queue is halted: then it is taken and dropped.
    ``o`` offers the oldest queued command to the engine while the engine is not ``busy`` (the
    engine's ``cmd.ready`` is ``~busy``, so an offer is taken at once). Each ``done`` pulse of the
    engine completes the command it took last: ``completed`` counts up and, if the command had
    ``notify`` or ``error`` is not NONE, ``notify`` pulses in the next cycle. A completion with an
    error halts the queue: ``halt`` holds the error and ``failed`` the value ``completed`` had
    before it (the failing command's position in the sequence pushed since reset), and every command
    still queued is dropped. ``clear`` ends the halt; it does not change the counts.

    Parameters
    ----------
    depth : int
        Commands the queue holds, at least 1.

    Attributes
    ----------
    i : In(stream.Signature(DmaCommand))
    o : Out(stream.Signature(DmaCommand))
    busy, done : In(1)
    error : In(DmaError)
        The engine's result, valid with ``done``.
    clear : In(1)
    level : Out(range(depth + 1))
        Commands queued (not counting the one the engine runs).
    completed, failed : Out(SEQUENCE_WIDTH)
    halt : Out(DmaError)
    notify : Out(1)
    """

    def __init__(self, *, depth):
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"DMA queue depth must be a positive integer, not {depth!r}")
        self.depth = depth
        super().__init__(
            {
                "i": In(stream.Signature(DmaCommand)),
                "o": Out(stream.Signature(DmaCommand)),
                "busy": In(1),
                "done": In(1),
                "error": In(DmaError),
                "clear": In(1),
                "level": Out(range(depth + 1)),
                "completed": Out(SEQUENCE_WIDTH),
                "failed": Out(SEQUENCE_WIDTH),
                "halt": Out(DmaError),
                "notify": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the FIFO, the running command's notify bit and the halt."""
        m = Module()
        m.submodules.fifo = fifo = StreamFifo(DmaCommand, depth=self.depth)
        halted = self.halt != DmaError.NONE
        failing = self.done & (self.error != DmaError.NONE)
        wants_notify = Signal()  # of the command the engine took last
        m.d.comb += [
            fifo.w.payload.eq(self.i.payload),
            fifo.w.valid.eq(self.i.valid & ~halted),
            self.i.ready.eq(fifo.w.ready | halted),
            self.o.payload.eq(fifo.r.payload),
            # Offered only to an idle engine (whose ready is then high), and not in the cycle a
            # failure is reported: an offer is never withdrawn, and nothing runs after a failure.
            self.o.valid.eq(fifo.r.valid & ~self.busy & ~halted & ~failing),
            fifo.r.ready.eq(self.o.ready & ~self.busy & ~halted & ~failing),
            fifo.flush.eq(failing),
            self.level.eq(fifo.level),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += wants_notify.eq(self.o.payload.notify)
        m.d.sync += self.notify.eq(self.done & (wants_notify | failing))
        with m.If(self.done):
            m.d.sync += self.completed.eq(self.completed + 1)
        with m.If(failing):
            m.d.sync += [self.halt.eq(self.error), self.failed.eq(self.completed)]
        with m.Elif(self.clear):
            m.d.sync += self.halt.eq(DmaError.NONE)
        return m
