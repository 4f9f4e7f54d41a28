"""The simulated SoC around the NPU: clock, reset, host MMIO, host memory and interrupts.

:class:`Soc` is the :class:`tinynpu.driver.platform.Platform` that the driver runs on in simulation.
"""

import json
import math
import os

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import Event, FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.regmap import HOST
from tinynpu.rtl.top import HOST_ADDR_WIDTH

from .cp import DEFAULT_COST, ControlProcessor
from .irq import InterruptLine
from .memory import HostMemory, MemoryTiming
from .mmio import Mmio
from .trace import Trace

__all__ = ["CONFIG_ENV", "SimEvent", "Soc", "config_from_env"]

#: Host memory at its fastest: the timing every cycle count of the suite and the bench assumes.
FASTEST = MemoryTiming()

#: Environment variable through which the runner tells the simulation its configuration.
CONFIG_ENV = "TINYNPU_CONFIG"


def config_from_env():
    """The :class:`NpuConfig` the running simulation was built for."""
    return NpuConfig(**json.loads(os.environ[CONFIG_ENV]))


class SimEvent:
    """A :class:`tinynpu.driver.platform.Event` on cocotb's :class:`~cocotb.triggers.Event`."""

    def __init__(self):
        self._event = Event()

    def set(self):
        """Set the flag and wake every waiter."""
        self._event.set()

    def clear(self):
        """Clear the flag."""
        self._event.clear()

    def is_set(self):
        """Whether the flag is set."""
        return self._event.is_set()

    async def wait(self, timeout_ns=None):
        """Wait until the flag is set; ``False`` after ``timeout_ns`` of simulated time."""
        if self._event.is_set():
            return True
        if timeout_ns is None:
            await self._event.wait()
            return True
        if timeout_ns <= 0:
            return False
        await First(self._event.wait(), Timer(math.ceil(timeout_ns), unit="ns"))
        return self._event.is_set()


class Soc:
    """The NPU in a simulated SoC.

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level.
    config : NpuConfig, optional
        The configuration the design was built for; by default, the one the runner passed.
    clock_ns : float
        Clock period.
    mem_size : int
        Bytes of host memory.
    mem_timing : MemoryTiming
        Latency and bandwidth of host memory; the default is the memory at its fastest.
    trace : bool
        Record MMIO accesses and interrupts in :attr:`trace`.
    firmware : callable, optional
        ``firmware(bus)`` builds the control processor's firmware (``firmware.Firmware``); it
        boots whenever the NPU leaves reset. Without it the control processor stays idle.
    cost : CostModel
        What the control processor charges for the firmware's work.

    Attributes
    ----------
    mmio : Mmio
        The host's MMIO master.
    memory : HostMemory
        Host memory, on the NPU's ``mem`` port (inside the simulator).
    irq : InterruptLine
        The NPU's interrupt to the host.
    trace : Trace
        What crossed the buses (empty unless tracing).
    cp : ControlProcessor or None
        The control processor running the firmware.
    """

    def __init__(
        self,
        dut,
        *,
        config=None,
        clock_ns=10.0,
        mem_size=64 << 20,
        mem_timing=FASTEST,
        trace=False,
        firmware=None,
        cost=DEFAULT_COST,
    ):
        self.dut = dut
        self.config = config if config is not None else config_from_env()
        self.clock_ns = clock_ns
        self.trace = Trace(HOST, enabled=trace)
        self.mmio = Mmio(dut, window=1 << HOST_ADDR_WIDTH, trace=self.trace)
        self.memory = HostMemory(size=mem_size, timing=mem_timing)
        self.irq = InterruptLine(dut.irq, name="irq", trace=self.trace)
        self.cp = (
            None
            if firmware is None
            else ControlProcessor(dut, firmware, cost=cost, clock_ns=clock_ns)
        )
        self.dropped_writes = 0
        self._drop = {}  # host register offset -> writes still to lose
        # The clock toggles in the simulator's C++ (cocotb's GPI clock), not in a Python task
        # woken twice a cycle: an idle cycle then costs no Python at all.
        self._clock = Clock(dut.clk, clock_ns, unit="ns", impl="gpi")

    async def start(self, reset_cycles=4):
        """Start the clock and reset the NPU; return after reset is released."""
        self._clock.start(start_high=False)
        await self.reset(reset_cycles)

    async def reset(self, cycles=4):
        """Hold the NPU in reset for ``cycles`` clock cycles; the firmware reboots after it.

        This is the SoC's reset line to the NPU (a driver's reset controller): it stops the
        firmware wherever it is, and boots a fresh image once the NPU is out of reset.
        """
        if self.cp is not None:
            self.cp.crash()
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        await Timer(cycles * self.clock_ns, unit="ns")
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)
        if self.cp is not None:
            self.cp.start()

    @property
    def cycles(self):
        """Clock cycles since time zero."""
        return int(get_sim_time("ns") / self.clock_ns)

    # The Platform interface.

    async def mmio_read(self, offset):
        """Read a host register (see :class:`tinynpu.driver.platform.Platform`)."""
        return await self.mmio.read(offset)

    async def mmio_write(self, offset, value):
        """Write a host register."""
        if self._drop.get(offset):
            self._drop[offset] -= 1
            self.dropped_writes += 1
            return
        await self.mmio.write(offset, value)

    def drop_writes(self, offset, count):
        """Lose the next ``count`` host writes to the register at ``offset`` (0: none)."""
        self._drop[offset] = count

    async def mem_read(self, address, length):
        """Read host memory at a physical address."""
        return self.memory.read(address, length)

    async def mem_write(self, address, data):
        """Write host memory at a physical address."""
        self.memory.write(address, data)

    async def wait_irq(self, timeout_ns=None):
        """Wait for the NPU's interrupt line; ``False`` on timeout."""
        return await self.irq.wait(timeout_ns)

    async def sleep_ns(self, duration):
        """Let ``duration`` nanoseconds of simulated time pass."""
        await Timer(duration, unit="ns")

    def now_ns(self):
        """Simulated time in nanoseconds."""
        return get_sim_time("ns")

    def spawn(self, coroutine):
        """Start ``coroutine`` as a cocotb task."""
        return cocotb.start_soon(coroutine)

    def event(self):
        """A new, clear :class:`SimEvent`."""
        return SimEvent()
