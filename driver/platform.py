"""What the driver needs from the machine it runs on.

The driver never touches a simulator: it awaits a :class:`Platform`. The cocotb SoC in ``sim/``
is one implementation; a functional model with the same register interface can be another.

Besides the device's lines, a platform lends the driver the kernel services it builds on: a
way to start a concurrent task (the threaded interrupt handler, the timeout timer) and an
:class:`Event` to sleep on (a ``struct completion``).
"""

from typing import Protocol, runtime_checkable

__all__ = ["MAX_WAIT_NS", "Event", "Platform", "Task"]

#: The longest single wait the driver asks of a platform (:meth:`Event.wait`,
#: :meth:`Platform.wait_irq`, :meth:`Platform.sleep_ns`): 2**32 ns, about 4.3 s. A longer one
#: (a WAIT until ``INT64_MAX``) is slept in slices of this length, so a platform need not
#: schedule a timer its clock cannot hold (cocotb's ``Timer`` counts 64-bit steps).
MAX_WAIT_NS = 1 << 32


@runtime_checkable
class Event(Protocol):
    """A flag that tasks sleep on until another task sets it."""

    def set(self) -> None:
        """Set the flag and wake every waiter."""
        ...

    def clear(self) -> None:
        """Clear the flag."""
        ...

    def is_set(self) -> bool:
        """Whether the flag is set."""
        ...

    async def wait(self, timeout_ns: float | None = None) -> bool:
        """Wait until the flag is set; ``False`` if ``timeout_ns`` passed first."""
        ...


@runtime_checkable
class Task(Protocol):
    """A task started with :meth:`Platform.spawn`."""

    def cancel(self) -> None:
        """Stop the task where it waits."""
        ...

    def done(self) -> bool:
        """Whether the task has ended."""
        ...


@runtime_checkable
class Platform(Protocol):
    """The host side of one NPU: MMIO window, host memory, interrupt line, reset line and clock."""

    async def mmio_read(self, offset: int) -> int:
        """Read the 32-bit register at byte ``offset`` of the NPU's MMIO window."""
        ...

    async def mmio_write(self, offset: int, value: int) -> None:
        """Write a 32-bit value to the register at byte ``offset``."""
        ...

    async def mem_read(self, address: int, length: int) -> bytes:
        """Read host memory at a physical address, as the CPU does."""
        ...

    async def mem_write(self, address: int, data: bytes) -> None:
        """Write host memory at a physical address, as the CPU does."""
        ...

    async def wait_irq(self, timeout_ns: float | None = None) -> bool:
        """Wait for the NPU's interrupt line; ``False`` if ``timeout_ns`` passed first."""
        ...

    async def reset(self) -> None:
        """Pulse the NPU's reset line (the SoC's reset controller); return once it is released.

        Every NPU register returns to its reset value and the control processor reboots its
        firmware; host memory is untouched.
        """
        ...

    async def sleep_ns(self, duration: float) -> None:
        """Let ``duration`` nanoseconds of (simulated) time pass: a driver's delay in a poll."""
        ...

    def now_ns(self) -> float:
        """Current (simulated) time in nanoseconds."""
        ...

    def spawn(self, coroutine) -> Task:
        """Run ``coroutine`` concurrently with the caller; return its :class:`Task`."""
        ...

    def event(self) -> Event:
        """A new, clear :class:`Event`."""
        ...
