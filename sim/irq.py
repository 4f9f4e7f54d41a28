"""Interrupt lines, awaited on their edges rather than polled each cycle.

An :class:`InterruptLine` can also misbehave on purpose, as a flaky interrupt controller would:
:meth:`InterruptLine.inject` queues faults that the next deliveries take in order.
"""

from collections import deque

from cocotb.triggers import FallingEdge, First, RisingEdge, Timer
from cocotb.utils import get_sim_time

from .trace import IrqEvent, Trace

__all__ = ["IRQ_FAULTS", "InterruptLine"]

#: What :meth:`InterruptLine.inject` can do to deliveries: ``drop`` loses the next one (the line
#: stays high, unseen, until it falls), ``delay`` delivers it ``ns`` late, ``duplicate`` delivers
#: it twice, ``spurious`` delivers one with the line low, ``ns`` after the wait began.
IRQ_FAULTS = ("drop", "delay", "duplicate", "spurious")


class InterruptLine:
    """A level-sensitive interrupt input of the host (or of the control processor).

    Parameters
    ----------
    signal : cocotb handle
        The one-bit interrupt output of the NPU.
    name : str
        Name for traces.
    trace : Trace, optional
        Where to record each time a waiter sees the line high.
    """

    def __init__(self, signal, *, name, trace: Trace | None = None):
        self._signal = signal
        self.name = name
        self.trace = trace
        self._faults = deque()  # (kind, ns), taken by the next deliveries in order
        self._storm = (0, 0)  # (until, interval) in ns: every wait returns after interval
        self.injected = dict.fromkeys((*IRQ_FAULTS, "storm"), 0)  # faults that happened

    def storm(self, duration_ns, interval_ns):
        """Deliver an interrupt every ``interval_ns`` of waiting for the next ``duration_ns``.

        Whatever the line does: a stuck or chattering source.
        """
        if not 0 < interval_ns <= duration_ns:
            raise ValueError(f"Bad storm: {duration_ns!r} ns, one every {interval_ns!r} ns")
        self._storm = (get_sim_time("ns") + duration_ns, interval_ns)

    def inject(self, kind, *, count=1, ns=0):
        """Queue ``count`` faults of ``kind`` (one of :data:`IRQ_FAULTS`) for the next deliveries.

        ``ns`` is the lateness of ``delay`` and the spacing of ``spurious``. A wait already
        under way takes ``drop``, ``delay`` and ``duplicate`` when the line rises; ``spurious``
        (and a storm) start with the next wait.
        """
        if kind not in IRQ_FAULTS:
            raise ValueError(f"Unknown interrupt fault {kind!r}: one of {', '.join(IRQ_FAULTS)}")
        if count < 1 or ns < 0 or (kind in ("delay", "spurious") and ns <= 0):
            raise ValueError(f"Bad {kind} fault: count {count!r}, ns {ns!r}")
        self._faults.extend([(kind, ns)] * count)

    def clear(self):
        """Drop the faults not yet taken, and end a storm."""
        self._faults.clear()
        self._storm = (0, 0)

    @property
    def asserted(self):
        """Whether the line is high now."""
        return bool(self._signal.value)

    async def wait(self, timeout_ns=None):
        """Wait until the line is high.

        Returns at once if it already is: the line is level-sensitive, so an interrupt raised
        before the wait is not lost.

        Parameters
        ----------
        timeout_ns : float, optional
            Give up after this much simulated time.

        Returns
        -------
        bool
            ``True`` if the line is high, ``False`` on timeout.
        """
        if self._storm[0] and await self._in_storm(timeout_ns):
            return True
        if self._faults and self._faults[0][0] == "spurious":
            return await self._wait_faulty(timeout_ns)
        start = get_sim_time("ns")
        if not await self._rise(timeout_ns):
            return False
        # Faults armed while this wait was under way apply to this delivery.
        if self._faults:
            left = None if timeout_ns is None else timeout_ns - (get_sim_time("ns") - start)
            return await self._wait_faulty(left)
        self._record()
        return True

    async def _rise(self, timeout_ns):
        """Wait for the line to be high; ``False`` after ``timeout_ns``."""
        if self.asserted:
            return True
        edge = RisingEdge(self._signal)
        if timeout_ns is None:
            await edge
            return True
        return await First(edge, Timer(timeout_ns, unit="ns")) is edge

    async def _in_storm(self, timeout_ns):
        """One delivery of the storm, if it is still on and the wait can last that long."""
        until, interval = self._storm
        if get_sim_time("ns") >= until:
            self._storm = (0, 0)
            return False
        if timeout_ns is not None and timeout_ns < interval:
            return False
        await Timer(interval, unit="ns")
        self.injected["storm"] += 1
        self._record()
        return True

    async def _wait_faulty(self, timeout_ns):
        start = get_sim_time("ns")
        kind, ns = self._faults[0]
        if kind == "spurious":
            if timeout_ns is not None and timeout_ns < ns:
                await Timer(timeout_ns, unit="ns")
                return False
            self._faults.popleft()
            await Timer(ns, unit="ns")
        else:
            if not await self._rise(timeout_ns):
                return False
            self._faults.popleft()
            if kind == "drop":  # never seen: the next delivery needs the line to fall first
                self.injected[kind] += 1
                return await self._after_drop(start, timeout_ns)
            if kind == "delay":
                await Timer(ns, unit="ns")
            else:  # duplicate: this delivery, then one more at once
                self._faults.appendleft(("spurious", 1))
                self.injected["spurious"] -= 1  # the copy is counted as the duplicate
        self.injected[kind] += 1
        self._record()
        return True

    async def _after_drop(self, start, timeout_ns):
        fall = FallingEdge(self._signal)
        if timeout_ns is None:
            await fall
            return await self.wait()
        remaining = timeout_ns - (get_sim_time("ns") - start)
        if remaining <= 0 or await First(fall, Timer(remaining, unit="ns")) is not fall:
            return False
        remaining = timeout_ns - (get_sim_time("ns") - start)
        return remaining > 0 and await self.wait(remaining)

    def _record(self):
        if self.trace is not None:
            self.trace.record(IrqEvent(get_sim_time("ns"), self.name))
