"""The control-processor model: runs the Python firmware against the NPU's ``cp`` port.

The firmware's loads and stores become AXI4-Lite transactions on ``cp`` (real bus cycles, one
after another; stores posted, loads waited for), its sleeps await rising edges of ``cp_irq`` (no
polling), and its computation is charged to the simulated clock by a :class:`CostModel`.
"""

import math
from dataclasses import dataclass

import cocotb
from cocotb.triggers import ClockCycles, Event, First, RisingEdge, Timer
from tinynpu.rtl.top import CP_ADDR_WIDTH

from .cp_port import CpPort
from .trace import Trace

__all__ = ["DEFAULT_COST", "ControlProcessor", "CostModel"]


@dataclass(frozen=True)
class CostModel:
    """Simulated cycles charged for the firmware's work, on top of the bus cycles it spends.

    Attributes
    ----------
    cycles_per_instruction : float
        Clock cycles per instruction of computation the firmware declares
        (:meth:`~tinynpu.firmware.bus.CpBus.execute`); rounded up per declaration.
    access_cycles : int
        Cycles the core spends around each load or store (issue and writeback), besides the
        AXI4-Lite transaction itself.
    """

    cycles_per_instruction: float = 1.0
    access_cycles: int = 1

    def __post_init__(self):
        if not self.cycles_per_instruction >= 0 or not self.access_cycles >= 0:
            raise ValueError(f"Costs must be non-negative, not {self!r}")


#: A simple in-order core at the NPU's clock: one instruction per cycle, one cycle per access.
DEFAULT_COST = CostModel()


class ControlProcessor:
    """A control processor on the NPU's ``cp`` port (a :class:`~tinynpu.firmware.bus.CpBus`).

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level.
    firmware : callable
        ``firmware(bus)`` builds the firmware image (``firmware.Firmware``).
    cost : CostModel
    trace : Trace, optional
        Record the firmware's register accesses (with the CP register map).
    clock_ns : float
        Period of ``dut.clk``: a charge of many cycles sleeps on a timer rather than counting
        each edge.

    Attributes
    ----------
    cycles_charged : int
        Cycles charged by the cost model since the model was built.
    accesses : int
        Loads and stores issued.
    crashes : int
        Times the firmware stopped at an armed crash point (:meth:`crash_at`).
    """

    def __init__(
        self, dut, firmware, *, cost=DEFAULT_COST, trace: Trace | None = None, clock_ns=10.0
    ):
        self.dut = dut
        self._period_ps = round(clock_ns * 1000)
        self._factory = firmware
        self.cost = cost
        self.mmio = CpPort(dut, prefix="cp", window=1 << CP_ADDR_WIDTH, trace=trace)
        self.image = None
        self._task = None
        self._wake = Event()
        self.cycles_charged = 0
        self.accesses = 0
        self._owing = 0  # cycles charged, not yet passed (see execute)
        self.crashes = 0
        self._crash_points = {}  # CP window offset -> stores to let through first

    # --- the CpBus interface --------------------------------------------------------------------

    async def read(self, offset):
        """Load a word of the CP window."""
        self.accesses += 1
        return await self.mmio.read(offset, delay=self._owed(self.cost.access_cycles))

    async def read_many(self, offsets):
        """Load words of the CP window one after another (as many :meth:`read`, fewer wakes)."""
        offsets = list(offsets)
        if not offsets:
            return []
        self.accesses += len(offsets)
        self.cycles_charged += self.cost.access_cycles * (len(offsets) - 1)
        return await self.mmio.read_many(
            offsets,
            delay=self._owed(self.cost.access_cycles),
            between=self.cost.access_cycles,
        )

    async def write(self, offset, value):
        """Store a word to the CP window: queued behind the accesses before it, not waited for."""
        if offset in self._crash_points:
            await self._crash_point(offset)
        self.accesses += 1
        self.mmio.post(offset, value, delay=self._owed(self.cost.access_cycles))

    def _owed(self, cycles):
        """The cycles charged since the last access, and ``cycles`` more; none owed after."""
        self.cycles_charged += cycles
        owed, self._owing = self._owing + cycles, 0
        return owed

    async def wait_irq(self, *, stoppable=True):
        """Sleep until ``cp_irq`` is high, or (``stoppable``) until :meth:`stop` asks to stop.

        The stores queued complete first: the core sleeps once its store buffer is empty. A stop
        asked for during an unstoppable sleep wakes the next stoppable one at once.
        """
        await self.mmio.drain()
        await self._settle()
        if not stoppable:
            if not self.dut.cp_irq.value:
                await RisingEdge(self.dut.cp_irq)
            return
        if not self.dut.cp_irq.value:
            await First(RisingEdge(self.dut.cp_irq), self._wake.wait())
        self._wake.clear()

    async def wait_irq_and_read(self, offset):
        """:meth:`wait_irq` (not stoppable), then :meth:`read` of ``offset``, in one wake.

        With stores still under way the sleep and the load go to the queue behind them, the
        cycles owed as the sleep's delay; otherwise the core sleeps here, as :meth:`wait_irq`.
        """
        if not self.mmio.pending:
            await self.wait_irq(stoppable=False)
            return await self.read(offset)
        owed, self._owing = self._owing, 0
        self.accesses += 1
        return await self.mmio.read_after_sleep(
            offset, sleep_delay=owed, delay=self._owed(self.cost.access_cycles)
        )

    async def execute(self, instructions):
        """Charge ``instructions`` of computation.

        The cycles are owed, not waited for: the next load or store asks the bus for them as its
        delay (its request goes out as many edges later, as if they had passed first), and a
        wait for the interrupt lets them pass first. Nothing but the bus and the interrupt sees
        the processor's time, so this is the timing of waiting for them at once, without the
        wakes.
        """
        cycles = math.ceil(instructions * self.cost.cycles_per_instruction)
        self.cycles_charged += cycles
        self._owing += cycles

    async def _settle(self):
        """Let the cycles owed pass."""
        owed, self._owing = self._owing, 0
        await self._charge(owed)

    async def _charge(self, cycles):
        """Let ``cycles`` rising edges of the clock pass, as ``ClockCycles`` does, in few wakes.

        After the first edge, a timer sleeps to the middle of the cycle before the last edge
        (no edge can be due there, whatever else runs at an edge's time step), then one more
        edge: three wakes for any span instead of one per cycle.
        """
        if not cycles:
            return
        clk = self.dut.clk
        if cycles <= 3:
            await ClockCycles(clk, cycles)
            return
        await RisingEdge(clk)
        await Timer((2 * cycles - 3) * self._period_ps // 2, unit="ps")
        await RisingEdge(clk)

    # --- life cycle ------------------------------------------------------------------------------

    @property
    def running(self):
        """Whether the firmware is executing."""
        return self._task is not None and not self._task.done()

    def start(self):
        """Boot a fresh firmware image (after the NPU left reset)."""
        if self.running:
            raise RuntimeError("The firmware is already running")
        self.image = self._factory(self)
        self._owing = 0  # a killed image's computation dies with it
        self._wake.clear()
        self._task = cocotb.start_soon(self.image.run())

    async def stop(self):
        """Let the firmware finish its job in hand, drop ``ready`` and return; wait for that."""
        if not self.running:
            return
        self.image.stop()
        self._wake.set()  # an idle firmware sleeps in wait_irq: let it see the request
        await self._task
        await self.mmio.drain()

    def crash_at(self, offset, *, skip=0):
        """Arm a crash point: the firmware stops for good instead of its next store to ``offset``.

        ``skip`` stores are let through first. The point stays armed across reboots until it is
        reached; the firmware then hangs where it stands, as after :meth:`crash`.
        """
        if skip < 0:
            raise ValueError(f"skip must not be negative, not {skip!r}")
        self._crash_points[offset] = skip

    def clear_crash_points(self):
        """Disarm every crash point."""
        self._crash_points.clear()

    async def _crash_point(self, offset):
        left = self._crash_points[offset]
        if left:
            self._crash_points[offset] = left - 1
            return
        del self._crash_points[offset]
        self.crashes += 1
        await self.mmio.drain()  # the stores before it still complete
        await Event().wait()  # never set: the core has stopped; a reset's crash() ends the task

    def crash(self):
        """Kill the firmware where it stands, as a hang or a fault of the core would.

        Nothing is cleaned up: ``fw_status.ready`` stays as it was and a job in hand never
        completes. Only a reset of the NPU (then :meth:`start`) recovers.
        """
        if self.running:
            self._task.cancel()
        self._task = None
        self.mmio.discard()  # its stores not yet on the bus die with it
