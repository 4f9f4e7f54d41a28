"""The simulated machine a user-space program runs on: SoC, firmware, driver, device node.

:func:`boot` brings it up; a program then opens clients (:meth:`System.open`) and uses the uAPI
through :class:`runtime.libtinynpu.Client`. With tracing, :meth:`System.write_trace` writes the
decoded log of everything that happened and the per-job timeline.
"""

import cocotb

from driver import tracepoints
from driver.accel import Accel
from driver.memory import PhysicalAllocator
from driver.npu_backend import NpuBackend
from firmware import Firmware
from rtl.regmap import HOST
from runtime.libtinynpu import Client

from .activity import ActivityMonitor
from .soc import Soc
from .timeline import job_windows, render_svg
from .trace import DriverEvent, MmioAccess

__all__ = ["POOL", "System", "boot"]

MiB = 1 << 20
#: Host memory the driver manages (base, bytes): its ring, page tables and every buffer.
POOL = (1 * MiB, 56 * MiB)
#: Jobs drawn in the timeline (the first ones).
TIMELINE_JOBS = 6


class System:
    """What a program may use: the device node, the clock and tasks.

    Attributes
    ----------
    soc : Soc
        The simulated SoC.
    device : driver.accel.Accel
        The driver's device.
    memory : PhysicalAllocator
        The driver's pool of host memory.
    clients : list of Client
        Every client opened, closed by :meth:`shutdown`.
    """

    def __init__(self, soc, device, memory, monitor=None):
        self.soc, self.device, self.memory = soc, device, memory
        self.monitor = monitor
        self.clients = []
        self._probe = None

    def open(self):
        """Open the device node: a new :class:`Client`."""
        client = Client(self.device.open())
        self.clients.append(client)
        return client

    def now_ns(self):
        """Simulated time in nanoseconds."""
        return self.soc.now_ns()

    async def sleep_ns(self, duration):
        """Let ``duration`` ns of simulated time pass."""
        await self.soc.sleep_ns(duration)

    async def gather(self, *coroutines):
        """Run coroutines concurrently; their results, in order."""
        tasks = [cocotb.start_soon(c) for c in coroutines]
        return [await task for task in tasks]

    async def shutdown(self):
        """Close every client and stop the device."""
        for client in self.clients:
            await client.close()
        self.clients = []
        await self.device.stop()
        if self._probe is not None:
            tracepoints.unregister(self._probe)
        if self.monitor is not None:
            self.monitor.stop()

    def trace_lines(self):
        """The decoded trace, one line per event."""
        return self.soc.trace.lines()

    def write_trace(self, log_path, svg_path):
        """Write the decoded trace and the timeline of the first jobs."""
        log_path.write_text("\n".join(self.trace_lines()) + "\n")
        events = self.soc.trace.events
        doorbell = HOST.ring_doorbell.offset
        doorbells = [
            e.time_ns
            for e in events
            if isinstance(e, MmioAccess) and e.write and e.offset == doorbell
        ]
        done = [e for e in events if isinstance(e, DriverEvent) and e.name == "completion"]
        jobs = job_windows(
            doorbells[:TIMELINE_JOBS],
            [e.time_ns for e in done[:TIMELINE_JOBS]],
            self.monitor.busy,
            self.monitor.irqs,
        )
        titles = [
            f"ring seqno {e.fields['seqno']}: {e.fields['status']}, {e.fields['cycles']} cycles "
            f"in the firmware, doorbell to completion read {job['end'] - job['start']:.0f} ns"
            for e, job in zip(done, jobs, strict=False)
        ]
        svg_path.write_text(render_svg(jobs, titles))


async def boot(dut, *, trace=False, cls=System):
    """Start the SoC and its firmware, probe the device; the system (a ``cls``), ready."""
    soc = Soc(dut, firmware=Firmware, trace=trace)
    monitor = None
    if trace:
        monitor = ActivityMonitor(dut)
        monitor.start()
    await soc.start()
    memory = PhysicalAllocator(*POOL)
    device = Accel(soc, NpuBackend(soc, memory), memory)
    system = cls(soc, device, memory, monitor)
    if trace:

        def probe(name, fields):
            soc.trace.record(DriverEvent(soc.now_ns(), name, fields))

        system._probe = probe
        tracepoints.register(probe)
    await device.start()
    return system
