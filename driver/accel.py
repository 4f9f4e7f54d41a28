"""The accel device: the generic core (buffers, contexts, scheduler) over one backend.

:class:`Accel` is what a ``struct drm_device`` is to a kernel driver: it owns the backend, the
memory buffers come from, the scheduler and the interrupt task, and hands out
:class:`~tinynpu.driver.file.File` objects, one per open client.
"""

from .backend import Backend
from .file import File
from .memory import PhysicalAllocator
from .platform import MAX_WAIT_NS
from .sched import Scheduler
from .tenant import Tenant
from .uapi import PAGE_SIZE, UAPI_VERSION

__all__ = ["STORM_INTERRUPTS", "Accel"]

#: Interrupts in a row that found nothing to serve: a storm. The driver then masks the line and
#: polls every STORM_POLL_NS for STORM_HOLDOFF_NS before it listens again (Linux's spurious-IRQ
#: detector disables such a line; here it comes back after the hold-off).
STORM_INTERRUPTS = 32
STORM_POLL_NS = 20_000
STORM_HOLDOFF_NS = 1_000_000

#: Where client mappings may start: page 0 stays unmapped, so a NULL device pointer faults. They
#: end where the backend's virtual address range does (``limits["va_end"]``).
VA_START = PAGE_SIZE


class Accel:
    """An accel device over ``backend``.

    Parameters
    ----------
    platform : Platform
    backend : Backend
    memory : PhysicalAllocator
        Host memory for buffer objects.
    queue_depth : int
        Jobs the scheduler keeps on the hardware (bounded by the backend's queue).
    ban_hangs : int
        Timed-out jobs after which a context is banned.
    default_timeout_ns, max_timeout_ns : float
        A job's timeout when SUBMIT gives none, and the largest it may give (at most
        :data:`~tinynpu.driver.platform.MAX_WAIT_NS`).
    max_client_bytes : int, optional
        Bytes of ``memory`` one client may hold (buffers and page tables); all of it by default.
    max_client_contexts : int, optional
        Contexts one client may hold; the device's address spaces by default.
    client_ban_hangs : int, optional
        Timed-out jobs, over all its contexts, after which a client is banned; twice
        ``ban_hangs`` by default.
    """

    def __init__(
        self,
        platform,
        backend: Backend,
        memory: PhysicalAllocator,
        *,
        queue_depth=2,
        ban_hangs=2,
        default_timeout_ns=2_000_000,
        max_timeout_ns=1_000_000_000,
        max_client_bytes=None,
        max_client_contexts=None,
        client_ban_hangs=None,
    ):
        if not 0 < default_timeout_ns <= max_timeout_ns <= MAX_WAIT_NS:
            raise ValueError(
                f"Timeouts must be 0 < default {default_timeout_ns} <= max {max_timeout_ns} "
                f"<= {MAX_WAIT_NS} ns"
            )
        self.platform, self.backend, self.memory = platform, backend, memory
        self.queue_depth, self.ban_hangs = queue_depth, ban_hangs
        self.default_timeout_ns, self.max_timeout_ns = default_timeout_ns, max_timeout_ns
        self.max_client_bytes = memory.size if max_client_bytes is None else max_client_bytes
        self._max_client_contexts = max_client_contexts
        self.client_ban_hangs = 2 * ban_hangs if client_ban_hangs is None else client_ban_hangs
        self.sched = None
        self.irq_storms = 0
        self.files = []
        self._irq = None
        self._mmap_next = 1 << 32
        self.bos_by_offset = {}

    async def start(self):
        """Bring the device up and start serving its interrupt."""
        await self.backend.init()
        depth = min(self.queue_depth, self.backend.limits["queue_depth"])
        self.sched = Scheduler(
            self.platform, self.backend, queue_depth=depth, ban_hangs=self.ban_hangs
        )
        self._irq = self.platform.spawn(self._irq_thread())

    async def _irq_thread(self):
        idle = 0  # interrupts in a row that found nothing
        while True:
            await self.platform.wait_irq()
            async with self.sched.lock:
                idle = 0 if await self.sched.service() else idle + 1
            if idle >= STORM_INTERRUPTS:
                self.irq_storms += 1
                idle = 0
                await self._poll(STORM_HOLDOFF_NS)

    async def _poll(self, duration_ns):
        """Serve the device by polling for ``duration_ns``, the interrupt line masked."""
        end = self.platform.now_ns() + duration_ns
        while self.platform.now_ns() < end:
            await self.platform.sleep_ns(STORM_POLL_NS)
            async with self.sched.lock:
                await self.sched.service()

    async def stop(self):
        """Close every file and stop serving the device."""
        for file in list(self.files):
            await file.close()
        if self.sched is not None:  # None if start failed
            self.sched.stop()
        if self._irq is not None:
            self._irq.cancel()

    def open(self, user=None):
        """A new client (an open file).

        Parameters
        ----------
        user : UserMemory, optional
            The memory of the client's process, where its ioctl arrays live.
        """
        tenant = Tenant(self.max_client_bytes, self.max_client_contexts, self.client_ban_hangs)
        file = File(self, user, tenant)
        self.files.append(file)
        return file

    @property
    def max_client_contexts(self):
        """Contexts one client may hold (after :meth:`start`)."""
        if self._max_client_contexts is None:
            return self.backend.limits["max_contexts"]
        return self._max_client_contexts

    def now_ns(self):
        """The device clock (WAIT's deadlines are on it)."""
        return self.platform.now_ns()

    def next_mmap_offset(self, size):
        """A fresh fake offset for a buffer's CPU mappings."""
        offset = self._mmap_next
        self._mmap_next += -(-size // PAGE_SIZE) * PAGE_SIZE
        return offset

    def query(self):
        """The DEV_QUERY fields."""
        limits = self.backend.limits
        major, minor = UAPI_VERSION
        return {
            "uapi_version": major << 16 | minor,
            "hw_version": limits["hw_version"],
            "array_size": limits["array_size"],
            "max_contexts": limits["max_contexts"],
            "page_size": PAGE_SIZE,
            "max_cmd_size": limits["max_cmd_size"],
            "max_handles": File.MAX_HANDLES,
            "max_in_syncs": File.MAX_IN_SYNCS,
            "queue_depth": self.sched.queue_depth,
            "ban_hangs": self.ban_hangs,
            "va_start": VA_START,
            "va_end": limits["va_end"],
            "max_bo_size": self.memory.size,
            "default_timeout_ns": int(self.default_timeout_ns),
            "max_timeout_ns": int(self.max_timeout_ns),
            "max_client_bytes": self.max_client_bytes,
            "max_client_contexts": self.max_client_contexts,
            "client_ban_hangs": self.client_ban_hangs,
        }
