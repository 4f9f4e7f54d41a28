"""The control processor's commands: a group of registers and a start pulse, as a stream.

The firmware programs a DMA command in the ``dma_*`` registers and queues it with
``dma_push.push``; it programs a matrix operation in the ``mx_*`` registers and queues it with
``mx_push.push`` (``rtl/regmap/cp.rdl``). Both push fields are write-pulses: high for one cycle.
A :class:`CommandStage` turns such a pulse into a stream transfer that obeys the stream rules
(``valid``, once raised, stays high with the payload unchanged until ``ready``), whatever the
consumer does; the registers are bound to the command's layout by member name
(:func:`~tinynpu.rtl.regmap.bind.bind`).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .dma_command import DmaCommand
from .dma_queue import DmaQueue
from .matrix_unit import MatrixOp
from .regmap.bind import bind

__all__ = ["CommandStage", "dma_command_port", "matrix_op_port"]


class CommandStage(wiring.Component):
    """Holds a started command until its consumer takes it.

    ``start`` offers ``fields`` on ``o`` in the same cycle, unless ``refuse`` is high or a command
    is already held: then the start is dropped. A command not taken in the cycle of its start is
    held: ``o.valid`` stays high with the payload latched until ``o.ready``, and ``held`` is high
    from the cycle after the start to the cycle the command is taken.

    Parameters
    ----------
    layout : Layout
        Of the command.

    Attributes
    ----------
    start, refuse : In(1)
    fields : In(layout)
        The command registers.
    o : Out(stream.Signature(layout))
    held : Out(1)
    """

    def __init__(self, layout):
        self._layout = layout
        super().__init__(
            {
                "start": In(1),
                "refuse": In(1),
                "fields": In(layout),
                "o": Out(stream.Signature(layout)),
                "held": Out(1),
            }
        )

    def elaborate(self, platform):
        """Build the holding register."""
        m = Module()
        latched = Signal(self._layout)
        offer = self.start & ~self.refuse & ~self.held
        m.d.comb += self.o.valid.eq(self.held | offer)
        with m.If(self.held):
            m.d.comb += self.o.payload.eq(latched)
        with m.Else():
            m.d.comb += self.o.payload.eq(self.fields)
        with m.If(self.o.ready):
            m.d.sync += self.held.eq(0)
        with m.Elif(offer):
            m.d.sync += [self.held.eq(1), latched.eq(self.fields)]
        return m


def _stage(m, cp, layout, prefix):
    """A :class:`CommandStage` of ``layout`` in ``m``, its fields the ``prefix`` registers."""
    stage = CommandStage(layout)
    m.submodules[f"{prefix}command"] = stage
    bind(m, cp, prefix, stage.fields)
    return stage


def dma_command_port(m, cp, *, depth, busy, done, error):
    """The DMA commands of the ``dma_*`` registers of ``cp`` (a ``RegisterBlock``), queued.

    ``dma_push`` offers the programmed command to a :class:`~tinynpu.rtl.dma_queue.DmaQueue` of
    ``depth - 1`` commands; the stage is the queue's last entry, so ``depth`` commands wait behind
    the one running and a push is dropped while the stage holds one (``dma_status.full``).
    ``dma_status`` and ``dma_queue`` report the queue and the engine's ``busy``; ``done`` and
    ``error`` are the engine's. Returns the queue, whose ``o`` is the engine's ``cmd`` and whose
    ``notify`` raises ``dma_done``.
    """
    stage = _stage(m, cp, DmaCommand, "dma_")
    m.submodules.dma_queue = queue = DmaQueue(depth=depth - 1)
    wiring.connect(m, stage.o, queue.i)
    status, waiting = cp.f.dma_status, cp.f.dma_queue
    m.d.comb += [
        stage.start.eq(cp.f.dma_push.push.value),
        queue.busy.eq(busy),
        queue.done.eq(done),
        queue.error.eq(error),
        queue.clear.eq(cp.f.dma_clear.clear.value),
        status.busy.value.eq(busy | (queue.level != 0) | stage.held),
        status.full.value.eq(stage.held),
        status.error.value.eq(queue.halt),
        status.completed.value.eq(queue.completed),
        waiting.queued.value.eq(queue.level + stage.held),
        waiting.failed.value.eq(queue.failed),
    ]
    return queue


def matrix_op_port(m, cp, *, level, busy, done):
    """The matrix operation of the ``mx_*`` registers of ``cp``, as a stream into the queue.

    ``mx_push`` offers it. The stage is the queue's last entry: a push is dropped while an
    operation waits in it (the queue behind it is full, ``mx_status.full`` reads 1).
    ``mx_status.queued`` is the queue's ``level`` plus that operation, ``mx_status.busy`` the
    matrix unit's ``busy``, ``mx_status.completed`` the count of ``done`` pulses. Returns the
    stream, for the queue's input.
    """
    stage = _stage(m, cp, MatrixOp, "mx_")
    status = cp.f.mx_status
    completed = Signal.like(status.completed.value)
    m.d.sync += completed.eq(completed + done)
    m.d.comb += [
        stage.start.eq(cp.f.mx_push.push.value),
        status.queued.value.eq(level + stage.held),
        status.full.value.eq(stage.held),
        status.busy.value.eq(busy),
        status.completed.value.eq(completed),
    ]
    return stage.o
