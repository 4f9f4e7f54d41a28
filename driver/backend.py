"""What the generic core asks of a device: the whole of a backend's job.

The core (buffers, address spaces, scheduler, uAPI) is device-agnostic; a backend is the only code
that knows registers. It implements :class:`Backend`: address spaces and their page-table writes,
running a job, the interrupt handler, and reset. :class:`tinynpu.driver.npu.NpuBackend` is the one
for tinynpu.
"""

from dataclasses import dataclass
from typing import Protocol

from .pgtable import Prot

__all__ = ["Backend", "Outcome"]


@dataclass(frozen=True)
class Outcome:
    """How a job ended on the hardware, in the core's terms.

    Attributes
    ----------
    error : int
        0, or the errno the job fails with: ``EFAULT`` for an MMU fault, ``EINVAL`` for a
        command stream the device refused, ``EIO`` for a hardware error.
    retry : bool
        The job did not run because its address space was stopped by an earlier fault: the
        scheduler runs it again once the fault is handled.
    hw_status, hw_error, hw_offset : int
        The device's own completion status and error code, and the failing command's offset,
        for user space and diagnostics.
    fault_va : int
        The faulting virtual address, for an MMU fault.
    cycles : int
        Device cycles the job took.
    """

    error: int = 0
    retry: bool = False
    hw_status: int = 0
    hw_error: int = 0
    hw_offset: int = 0
    fault_va: int = 0
    cycles: int = 0


class Backend(Protocol):
    """The register-aware half of a driver.

    Attributes
    ----------
    limits : dict of str to int
        ``array_size``, ``hw_version`` (packed major/minor/patch), ``max_contexts``,
        ``max_cmd_size`` (bytes of command stream a job may have), ``queue_depth`` (jobs
        the hardware queue holds) and ``va_end`` (the end of the device's virtual address
        range), as the device reports them after :meth:`init`.
    stopped_at : object or None
        After an interrupt reported the hardware queue stopped on an error: the handle of the
        first job it did not take (``None``: it took them all). The scheduler lets the jobs
        before it end, then resets; that job fails, those after it run again after the reset.
    reset_pending : bool
        The device must be reset before the next job runs (a TLB invalidation did not
        complete; the operation that started it has otherwise completed).
    """

    limits: dict
    stopped_at: object
    reset_pending: bool

    async def init(self) -> None:
        """Probe and bring the device up."""
        ...

    async def create_space(self) -> object:
        """A new, empty address space (``EBUSY`` if the hardware has none left)."""
        ...

    async def destroy_space(self, space) -> None:
        """Disable ``space``, forget its TLB entries and free its tables."""
        ...

    def space_bytes(self, space) -> int:
        """Bytes of the pool ``space``'s page tables hold now (counted in a client's quota)."""
        ...

    async def map(self, space, va: int, paddr: int, size: int, prot: Prot) -> None:
        """Write the descriptors that map ``size`` bytes at ``va`` to ``paddr``."""
        ...

    async def unmap(self, space, va: int, size: int) -> None:
        """Clear the descriptors, invalidate the TLB and wait for it, then free tables."""
        ...

    async def run_job(self, space, cmd_va: int, cmd_size: int) -> object:
        """Queue a job on the hardware; return a handle that its completion names."""
        ...

    async def handle_irq(self) -> tuple[list, list]:
        """Serve the interrupt: ``(completions, faulted)``.

        ``completions`` lists ``(handle, Outcome)`` in the order the jobs ran; ``faulted`` the
        address spaces the MMU stopped on a fault (their faults are not acknowledged yet).
        """
        ...

    async def resume_space(self, space) -> None:
        """Acknowledge ``space``'s fault, which restarts it."""
        ...

    async def reset(self) -> None:
        """Reset the device and bring it up again; every job on it is lost."""
        ...
