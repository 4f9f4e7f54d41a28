"""Interrupt lines, awaited on their edges rather than polled each cycle."""

from cocotb.triggers import First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from .trace import IrqEvent, Trace

__all__ = ["InterruptLine"]


class InterruptLine:
    """A level-sensitive interrupt input of the host (or of the control processor).

    Parameters
    ----------
    signal : cocotb handle
        The one-bit interrupt output of the NPU.
    name : str
        Name for traces.
    trace : Trace, optional
        Where to record each time a waiter sees the line high.
    """

    def __init__(self, signal, *, name, trace: Trace | None = None):
        self._signal = signal
        self.name = name
        self.trace = trace

    @property
    def asserted(self):
        """Whether the line is high now."""
        return bool(self._signal.value)

    async def wait(self, timeout_ns=None):
        """Wait until the line is high.

        Returns at once if it already is: the line is level-sensitive, so an interrupt raised
        before the wait is not lost.

        Parameters
        ----------
        timeout_ns : float, optional
            Give up after this much simulated time.

        Returns
        -------
        bool
            ``True`` if the line is high, ``False`` on timeout.
        """
        if not self.asserted:
            edge = RisingEdge(self._signal)
            if timeout_ns is None:
                await edge
            elif await First(edge, Timer(timeout_ns, unit="ns")) is not edge:
                return False
        if self.trace is not None:
            self.trace.record(IrqEvent(get_sim_time("ns"), self.name))
        return True
