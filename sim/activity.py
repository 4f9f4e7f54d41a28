"""Watch the NPU's ``activity`` debug port and interrupt line; record when each changes."""

import cocotb
from amaranth.lib import data
from cocotb.triggers import Edge
from cocotb.utils import get_sim_time
from tinynpu.rtl.top import Activity

__all__ = ["LANES", "ActivityMonitor"]

#: The engines of the ``activity`` port, and the bit of each.
_BITS = {name: field.offset for name, field in data.Layout.cast(Activity)}
LANES = tuple(_BITS)


class ActivityMonitor:
    """Intervals during which each engine was busy, and the interrupt line's rising edges.

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level (its ``activity`` and ``irq`` ports).

    Attributes
    ----------
    busy : dict
        For each lane of :data:`LANES`, a list of ``[start_ns, end_ns]`` (``end_ns`` is
        ``None`` while the engine is still busy).
    irqs : list of float
        Times at which ``irq`` rose.
    """

    def __init__(self, dut):
        self.dut = dut
        self.busy = {lane: [] for lane in LANES}
        self.irqs = []
        self._tasks = []

    def start(self):
        """Start watching."""
        self._tasks = [cocotb.start_soon(self._activity()), cocotb.start_soon(self._irq())]

    def stop(self):
        """Stop watching; close intervals still open at the current time."""
        for task in self._tasks:
            task.cancel()
        now = get_sim_time("ns")
        for intervals in self.busy.values():
            if intervals and intervals[-1][1] is None:
                intervals[-1][1] = now

    async def _activity(self):
        previous = 0
        while True:
            await Edge(self.dut.activity)
            value, now = int(self.dut.activity.value), get_sim_time("ns")
            for lane, bit in _BITS.items():
                was, now_busy = previous >> bit & 1, value >> bit & 1
                if now_busy and not was:
                    self.busy[lane].append([now, None])
                elif was and not now_busy:
                    self.busy[lane][-1][1] = now
            previous = value

    async def _irq(self):
        while True:
            await Edge(self.dut.irq)
            if int(self.dut.irq.value):
                self.irqs.append(get_sim_time("ns"))
