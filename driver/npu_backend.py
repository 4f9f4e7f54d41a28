"""The tinynpu backend of the generic core: :class:`~.backend.Backend` over :class:`Npu`.

Everything here is a thin translation: address spaces are the MMU's (:mod:`tinynpu.driver.mmu`),
jobs are ring entries (:mod:`tinynpu.driver.npu`), and completion records become :class:`Outcome`
values with the errno policy of the core: a translation fault is ``EFAULT``, a bus error ``EIO``, a
command the firmware refused ``EINVAL``; a job that found its address space stopped did not run and
is retried.
"""

import errno

from tinynpu.rtl.layouts import ErrorCode
from tinynpu.rtl.regmap import CP

from .backend import Outcome
from .npu import Npu

__all__ = ["MAX_CMD_SIZE", "NpuBackend"]

#: Bytes of command stream per job: firmware 2.x holds a stream in its SRAM and guarantees half
#: of it (the rest is its own).
MAX_CMD_SIZE = 1 << (CP.cp_info.sram_log2.reset - 1)


def outcome(result):
    """The :class:`Outcome` of a :class:`~tinynpu.driver.npu.JobResult`."""
    error = result.error
    if error is ErrorCode.AS_STOPPED:
        return Outcome(retry=True, hw_error=error.value)
    if error is ErrorCode.NONE:
        code = 0
    elif error is ErrorCode.PAGE_FAULT:
        code = errno.EFAULT
    elif error is ErrorCode.BUS_ERROR:
        code = errno.EIO
    else:
        code = errno.EINVAL
    return Outcome(
        error=code,
        hw_error=error.value,
        hw_offset=result.offset,
        fault_va=result.fault.address if result.fault is not None else 0,
        cycles=result.cycles,
    )


class NpuBackend:
    """tinynpu behind the :class:`~tinynpu.driver.backend.Backend` interface.

    Parameters
    ----------
    platform : Platform
    memory : PhysicalAllocator
        Where the ring, completions and page tables come from.
    **kwargs
        Passed to :class:`~tinynpu.driver.npu.Npu`.
    """

    def __init__(self, platform, memory, **kwargs):
        self.npu = Npu(platform, memory, **kwargs)
        self.limits = {}

    async def init(self):
        """Probe and bring up the NPU; fill in :attr:`limits`."""
        await self.npu.init()
        info = self.npu.info
        major, minor, patch = info.version
        self.limits = {
            "array_size": info.array_size,
            "hw_version": major << 16 | minor << 8 | patch,
            "max_contexts": info.addr_spaces,
            "max_cmd_size": MAX_CMD_SIZE,
            "queue_depth": self.npu.ring_size,
        }

    async def create_space(self):
        """An address space of the MMU, enabled, with empty tables."""
        return await self.npu.mmu.create()

    async def destroy_space(self, space):
        """Disable the address space and free its tables."""
        await self.npu.mmu.destroy(space)

    async def map(self, space, va, paddr, size, prot):
        """Write the descriptors of a mapping."""
        await self.npu.mmu.map(space, va, paddr, size, prot)

    async def unmap(self, space, va, size):
        """Clear descriptors, invalidate the TLB range, free emptied tables."""
        await self.npu.mmu.unmap(space, va, size)

    async def run_job(self, space, cmd_va, cmd_size):
        """Write a ring entry and ring the doorbell; the handle is the ring's seqno."""
        return await self.npu.submit(cmd_va, cmd_size, asid=space.asid)

    async def handle_irq(self):
        """Acknowledge; read faults (held), collect completions."""
        npu = self.npu
        await npu.handle_irq(hold_faults=True)
        done = [(seqno, outcome(npu.results.pop(seqno))) for seqno in list(npu.results)]
        spaces = {space.asid: space for space in npu.mmu.spaces}
        return done, [spaces[f.asid] for f in npu.new_faults if f.asid in spaces]

    async def resume_space(self, space):
        """Acknowledge the address space's fault: it restarts."""
        await self.npu.mmu.acknowledge(space.asid)

    async def reset(self):
        """Reset the NPU, bring it up again and reprogram the address spaces."""
        await self.npu.reset()
        self.npu.results.clear()
