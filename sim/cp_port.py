"""The control processor's register accesses: stores posted, loads waited for."""

import ctypes

from cocotb.triggers import RisingEdge

from . import native
from .soc_top import QUEUED_PORTS
from .trace import MmioAccess, Trace

__all__ = ["CpPort"]

#: Kinds of entries of the queue (``csrc/lite_queue.cpp``).
_LOAD, _STORE, _SLEEP = 0, 1, 2

#: Completions collected from the queue's log per call.
_BATCH = 256

#: Loads whose data the queue keeps (``kKept`` of ``csrc/lite_queue.cpp``): the most
#: :meth:`CpPort.read_many` queues at once.
_KEPT = 1024


class CpPort:
    """32-bit loads and stores of the control processor, over the SoC's queued manager.

    The manager (``hdl/lite_queue.sv``) takes the accesses in order, one at a time, from a queue
    in the simulator (``csrc/lite_queue.cpp``). A store is queued and :meth:`post` returns: it
    costs no wake, as a store retiring into a store buffer costs a core nothing. A load is queued
    and :meth:`read` waits for its data: one wake (:meth:`read_many`: one for a run of loads).
    :meth:`drain` waits for the stores queued so
    far, so that nothing the processor does next (sleeping until an interrupt) starts before them.
    Each access's ``delay`` (the computation before it) is counted from the edge at which the
    manager is free to take it, so the timing is that of a processor awaiting every access.

    Parameters
    ----------
    dut : cocotb handle
        The SoC top level.
    prefix : str
        The register port, one of :data:`~tinynpu.sim.soc_top.QUEUED_PORTS`.
    window : int
        Size of the register window in bytes; accesses outside it are refused before the queue.
    trace : Trace, optional
        Where to record every access, at the time it completed.

    Attributes
    ----------
    last_resp : int
        ``RRESP`` of the latest load to complete (0 is OKAY). A posted store's response goes
        nowhere, as on a core whose stores retire before their response.
    """

    def __init__(self, dut, *, prefix="cp", window, trace: Trace | None = None):
        self._index = QUEUED_PORTS[prefix]
        self._native = native.model()
        self._done = getattr(dut, f"{prefix}__done")
        self._told = (ctypes.c_uint32 * 3)()  # what the manager's tag, data and resp show
        self.window = window
        self.trace = trace
        self.last_resp = 0
        self._last = 0  # sequence number of the latest access queued
        self.discard()
        self._native.tinynpu_lite_logging(self._index, trace is not None)
        if trace is not None:
            self._words = (ctypes.c_uint32 * (5 * _BATCH))()
            self._times = (ctypes.c_double * _BATCH)()

    def _check(self, offset):
        if offset % 4:
            raise ValueError(f"MMIO offset {offset:#x} is not 32-bit aligned")
        if not (offset >= 0 and offset + 4 <= self.window):
            raise ValueError(f"MMIO offset {offset:#x} is outside the {self.window:#x}-byte window")

    def _push(self, kind, offset, value, delay, notify):
        seq = self._native.tinynpu_lite_push(self._index, kind, offset, value, 0xF, delay, notify)
        self._last = seq
        return seq

    def post(self, offset, value, *, delay=0):
        """Queue a store of the 32-bit ``value`` at byte ``offset``, after ``delay`` edges."""
        self._check(offset)
        if not 0 <= value <= 0xFFFF_FFFF:
            raise ValueError(f"MMIO value {value!r} does not fit 32 bits")
        self._push(_STORE, offset, value, delay, False)

    async def read(self, offset, *, delay=0):
        """Load the 32-bit word at ``offset``, after the accesses queued and ``delay`` edges."""
        self._check(offset)
        seq = self._push(_LOAD, offset, 0, delay, True)
        await self._completion(seq)
        _, value, self.last_resp = self._told
        self._collect()
        return value

    async def read_many(self, offsets, *, delay=0, between=0):
        """Load the words at byte ``offsets``, in order: one wake, at the last (one per 1,024).

        ``delay`` edges pass before the first, ``between`` before each of the others.
        """
        offsets = list(offsets)
        for offset in offsets:
            self._check(offset)
        values = []
        for start in range(0, len(offsets), _KEPT):
            run = offsets[start : start + _KEPT]
            values += await self._loads(run, delay if start == 0 else between, between)
        return values

    async def _loads(self, offsets, delay, between):
        last = len(offsets) - 1
        seqs = [
            self._push(_LOAD, offset, 0, between if i else delay, i == last)
            for i, offset in enumerate(offsets)
        ]
        await self._completion(seqs[-1])
        self.last_resp = self._told[2]
        values = (ctypes.c_uint32 * len(offsets))()
        self._native.tinynpu_lite_values(self._index, seqs[0], len(offsets), values)
        self._collect()
        return list(values)

    @property
    def pending(self):
        """Whether an access queued is not yet complete."""
        return bool(self._native.tinynpu_lite_pending(self._index))

    async def read_after_sleep(self, offset, *, sleep_delay=0, delay=0):
        """Sleep until the interrupt, then load the word at byte ``offset``: one wake.

        The sleep starts once the accesses queued have completed and ``sleep_delay`` cycles
        have passed (``hdl/lite_queue.sv`` says when it ends); the load is taken at the next
        edge and goes out ``delay`` edges later. Only after an access still under way
        (:attr:`pending`): otherwise the sleep would start now, which the processor model sees
        to itself.
        """
        self._check(offset)
        if not self.pending:
            raise RuntimeError("a queued sleep starts at the end of an access: none is under way")
        self._push(_SLEEP, 0, 0, sleep_delay, False)
        seq = self._push(_LOAD, offset, 0, delay, True)
        await self._completion(seq)
        _, value, self.last_resp = self._told
        self._collect()
        return value

    async def drain(self):
        """Wait until every access queued so far has completed."""
        if self._last and not self._native.tinynpu_lite_notify(self._index, self._last):
            await self._completion(self._last)
        self._collect()

    def discard(self):
        """Drop the accesses not yet on the bus (a reset of the processor)."""
        self._native.tinynpu_lite_clear(self._index)

    async def _completion(self, seq):
        done = False
        try:
            while True:
                await RisingEdge(self._done)
                self._native.tinynpu_lite_told(self._index, self._told)
                if self._told[0] == seq:
                    done = True
                    return
        finally:
            if not done:  # given up: withdraw it if its edge has not come (no-op if it has)
                self._native.tinynpu_lite_withdraw(self._index, seq)

    def _collect(self):
        """Record the completions logged since the last call in the trace."""
        if self.trace is None:
            return
        while n := self._native.tinynpu_lite_collect(self._index, self._words, self._times, _BATCH):
            for i in range(n):
                _, write, offset, value, _ = self._words[5 * i : 5 * i + 5]
                self.trace.record(MmioAccess(self._times[i], bool(write), offset, value))
