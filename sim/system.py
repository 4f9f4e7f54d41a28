"""The simulated machine a user-space program runs on: SoC, firmware, driver, device node.

:func:`boot` brings it up; a program then opens clients (:meth:`System.open`) and uses the uAPI
through :class:`tinynpu.runtime.libtinynpu.Client`. With tracing, :meth:`System.write_trace` writes
the decoded log of everything that happened and the per-job timeline.
"""

import cocotb
from tinynpu.driver import tracepoints
from tinynpu.driver.accel import Accel
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.npu_backend import NpuBackend
from tinynpu.firmware import Firmware
from tinynpu.runtime.libtinynpu import Client

from .activity import ActivityMonitor
from .soc import Soc
from .timeline import job_windows, render_svg
from .trace import DriverEvent

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

    def trace_driver(self):
        """Record the driver's tracepoints in the SoC's trace, time-stamped, until shutdown."""

        def probe(name, fields):
            self.soc.trace.record(DriverEvent(self.soc.now_ns(), name, fields))

        self._probe = probe
        tracepoints.register(probe)

    async def shutdown(self):
        """Close every client and stop the device; stop tracing. Safe to call twice."""
        try:
            for client in self.clients:
                await client.close()
            self.clients = []
            await self.device.stop()
        finally:
            if self._probe is not None:
                tracepoints.unregister(self._probe)
                self._probe = None
            if self.monitor is not None:
                self.monitor.stop()

    def trace_lines(self):
        """The decoded trace, one line per event."""
        return self.soc.trace.lines()

    def write_trace(self, log_path, svg_path):
        """Write the decoded trace and, with an activity monitor, the first jobs' timeline."""
        log_path.write_text("\n".join(self.trace_lines()) + "\n")
        if self.monitor is None:
            return
        events = [e for e in self.soc.trace.events if isinstance(e, DriverEvent)]
        # A job's window opens when the driver rings the doorbell for it (the job_run event)
        # and closes when the driver reads its completion, matched by ring seqno.
        started = {e.fields["hw"]: e.time_ns for e in events if e.name == "job_run"}
        done = {e.fields["seqno"]: e for e in events if e.name == "completion"}
        seqnos = sorted(started)[:TIMELINE_JOBS]
        end = self.soc.now_ns()
        jobs = job_windows(
            [started[n] for n in seqnos],
            [done[n].time_ns if n in done else end for n in seqnos],
            self.monitor.busy,
            self.monitor.irqs,
        )
        titles = []
        for n, job in zip(seqnos, jobs, strict=True):
            span = f"doorbell to completion read {job['end'] - job['start']:.0f} ns"
            if n in done:
                f = done[n].fields
                titles.append(f"ring seqno {n}: {f['status']}, {f['cycles']} cycles, {span}")
            else:
                titles.append(f"ring seqno {n}: no completion read, {span}")
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
        system.trace_driver()
    try:
        await device.start()
    except BaseException:
        await system.shutdown()
        raise
    return system
