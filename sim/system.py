"""The simulated machine a user-space program runs on: SoC, firmware, driver, device node.

:func:`boot` brings it up; a program then opens clients (:meth:`System.open`) and uses the uAPI
through :class:`tinynpu.runtime.libtinynpu.Client`. With tracing, :meth:`System.write_trace` writes
the decoded log of everything that happened and the per-job timeline.

Hardware tests and benchmarks, which place their data at physical addresses of their choosing,
start the same driver with :func:`start_driver` and run jobs in a :class:`KernelContext`: the
scheduler runs them and the device's interrupt completes them, as it does a client's.
"""

import cocotb
from tinynpu.driver import tracepoints
from tinynpu.driver.accel import Accel
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.npu import NpuBackend
from tinynpu.driver.pgtable import Prot
from tinynpu.driver.sched import Fence, Job
from tinynpu.firmware import Firmware
from tinynpu.runtime.libtinynpu import Client

from .activity import ActivityMonitor
from .faults import Faults
from .soc import Soc
from .timeline import job_windows, render_svg
from .trace import DriverEvent

__all__ = ["POOL", "KernelContext", "System", "boot", "start_driver"]

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
    faults : Faults
        The fault injector: buses, interrupt, firmware, MMU, memory.
    """

    def __init__(self, soc, device, memory, monitor=None):
        self.soc, self.device, self.memory = soc, device, memory
        self.monitor = monitor
        self.faults = Faults(self)
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


async def start_driver(soc, memory, *, ring_log2=6, boot_timeout_ns=200_000.0, **options):
    """The driver on a started ``soc``: an :class:`Accel` over the NPU backend, serving interrupts.

    ``ring_log2`` and ``boot_timeout_ns`` go to the backend, other ``options`` to the Accel.
    """
    backend = NpuBackend(soc, memory, ring_log2=ring_log2, boot_timeout_ns=boot_timeout_ns)
    device = Accel(soc, backend, memory, **options)
    await device.start()
    return device


class KernelContext:
    """An address space and a scheduler entity of the driver's own: no file, no buffer objects.

    Its jobs are queued by the scheduler and completed by the device's interrupt (the Accel's
    interrupt task, then the job's fence), exactly as a client's are; but its mappings go
    straight to the backend, from physical addresses the caller chooses, and its space may bypass
    translation.

    Attributes
    ----------
    device : Accel
    space : AddressSpace
    entity : Entity
    """

    def __init__(self, device, space):
        self.device, self.space = device, space
        self.entity = device.sched.add(space)
        self._seqno = 0

    @classmethod
    async def create(cls, device, *, bypass=False):
        """A new address space (``bypass``: physical addresses) and its entity."""
        async with device.sched.lock:
            return cls(device, await device.backend.create_space(bypass=bypass))

    async def map(self, va, paddr, size, prot=Prot.READ | Prot.WRITE):
        """Map ``size`` bytes at ``va`` to ``paddr``."""
        async with self.device.sched.lock:
            await self.device.backend.map(self.space, va, paddr, size, prot)

    async def unmap(self, va, size):
        """Unmap ``size`` bytes at ``va`` (the TLB invalidated, emptied tables freed)."""
        async with self.device.sched.lock:
            await self.device.backend.unmap(self.space, va, size)

    async def submit(self, cmd_va, cmd_size, *, timeout_ns=None):
        """Queue a job; its :class:`~tinynpu.driver.sched.Fence`."""
        device = self.device
        self._seqno += 1
        fence = Fence(device.platform, self._seqno)
        timeout_ns = timeout_ns or device.default_timeout_ns
        async with device.sched.lock:
            await device.sched.push(Job(self.entity, fence, cmd_va, cmd_size, [], [], timeout_ns))
        return fence

    async def wait(self, fence):
        """Wait until ``fence`` signals and the interrupt that signaled it is served."""
        await fence.wait(None)  # bounded by the job's timeout
        async with self.device.sched.lock:
            pass  # the bottom half (a fault's acknowledge, the refill) has finished
        return fence

    async def run(self, cmd_va, cmd_size, *, timeout_ns=None):
        """Submit a job and wait for it; its fence."""
        return await self.wait(await self.submit(cmd_va, cmd_size, timeout_ns=timeout_ns))
