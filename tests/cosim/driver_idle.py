"""The check at the end of every co-simulation case that runs the driver: nothing left behind.

A :class:`Ledger` is opened once the driver is up; at the end of the case :meth:`Ledger.finish`
asserts that no job is queued, held or on the hardware, that every job queued since has had its
fence signaled, that the ring and the hardware queue are empty and stopped on no error, that no
interrupt is pending, and that the driver's memory pool holds exactly what it held at the start
plus what the case says it keeps: the address spaces it created and still holds (and their
page tables), and the bytes it took for its own streams.

It is shared by the co-simulation testbenches (``job_tb.py``, ``mmu_tb.py``, ``compute_tb.py``)
and the conformance suite's (``tests/conformance/rtl_tb.py``), which import it from this folder
(every simulation's Python path has it).
"""

from tinynpu.driver import tracepoints
from tinynpu.rtl.regmap import HOST

__all__ = ["Ledger"]


class Ledger:
    """The driver's state when a case starts, and the jobs and fences of the case since.

    Parameters
    ----------
    device : tinynpu.driver.accel.Accel
        A started driver.
    """

    def __init__(self, device):
        self.device = device
        self.free_bytes = device.memory.free_bytes
        self.spaces = len(device.backend.mmu.spaces)
        self.tables = self._table_bytes()
        self.queued = self.signaled = 0
        tracepoints.register(self._probe)

    def _probe(self, name, fields):
        if name == "job_queued":
            self.queued += 1
        elif name == "fence":
            self.signaled += 1

    def _table_bytes(self):
        backend = self.device.backend
        return sum(backend.space_bytes(space) for space in backend.mmu.spaces)

    async def check(self, *, kept=0, spaces=0):
        """Assert that the driver and the device are idle and nothing leaked.

        Parameters
        ----------
        kept : int
            Bytes of the driver's pool the case took for itself and still holds (command
            streams it allocated); the page tables of live address spaces are counted apart.
        spaces : int
            Address spaces the case created and keeps (their tables are not a leak).
        """
        device = self.device
        sched, ring = device.sched, device.backend.ring
        assert list(sched.pending) == [], f"{len(sched.pending)} jobs still on the hardware"
        for entity in sched.entities:
            left = (len(entity.queue), len(entity.held), entity.on_hw)
            assert left == (0, 0, 0), f"a context holds (queued, held, on hw) jobs {left}"
        assert self.signaled == self.queued, (
            f"{self.queued} jobs queued, {self.signaled} fences signaled"
        )
        assert sched.dead is None, sched.dead
        uncollected = (ring.tail - ring.done, ring.free_slots)
        assert uncollected == (0, ring.size), f"ring (uncollected, free slots) {uncollected}"
        read = device.platform.mmio_read
        index = HOST.ring_tail.offset, HOST.ring_head.offset, HOST.ring_done.offset
        width = 1 << HOST.ring_tail.index.width
        counts = [await read(offset) for offset in index]
        assert counts == [ring.tail % width] * 3, f"ring_tail, ring_head, ring_done {counts}"
        error = HOST.ring_status.decode(await read(HOST.ring_status.offset))["error"]
        assert error == 0, f"the queue stopped on error {error}"
        pending = await read(HOST.int_status.offset)
        assert pending == 0, f"int_status {pending:#x} pending"
        alive = len(device.backend.mmu.spaces) - self.spaces
        assert alive == spaces, f"{alive} address spaces created and alive, {spaces} expected"
        tables = self._table_bytes() - self.tables
        leaked = self.free_bytes - kept - tables - device.memory.free_bytes
        assert leaked == 0, f"{leaked} bytes of the pool leaked (kept {kept}, tables {tables})"

    async def finish(self, *, kept=0, spaces=0):
        """:meth:`check`, then stop counting jobs."""
        try:
            await self.check(kept=kept, spaces=spaces)
        finally:
            tracepoints.unregister(self._probe)
