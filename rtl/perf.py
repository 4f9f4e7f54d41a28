"""Performance counters: totals since reset for the host, and the running job's for the firmware.

Every counter of :class:`~tinynpu.rtl.layouts.JobCounters` is a 32-bit total. ``job_start`` copies
the totals into a base; the job's counters are the totals minus the base, read by the DMA engine
from the ``PERF`` local region (one cycle of latency) as a ``JobCounters`` record.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .layouts import JobCounters, nbytes

__all__ = ["COUNTERS", "PerfCounters"]

#: Counter names, in record order (the reserved words read as zero).
COUNTERS = [name for name, _ in data.Layout.cast(JobCounters) if not name.startswith("_")]


class PerfCounters(wiring.Component):
    """The counters of :data:`COUNTERS`.

    Parameters
    ----------
    bus_bytes : int
        Width of a local read.
    external : iterable of str
        Counters kept elsewhere (the MMU's): their totals come in on ``totals_in``.

    Attributes
    ----------
    inc : In(data.StructLayout({name: 32, ...}))
        What each counter not in ``external`` adds this cycle.
    totals_in : In(data.StructLayout({name: 32, ...}))
        The totals of the ``external`` counters.
    totals : Out(JobCounters)
        Every total (reserved fields zero).
    job_start : In(1)
        Start counting a job: its counters read zero from the next cycle.
    rd_addr : In(...), rd_en : In(1), rd_data : Out(8 * bus_bytes)
        Local reads of the job's record, in bus words; data one cycle after the address.
    """

    def __init__(self, *, bus_bytes, external=()):
        self.bus_bytes = bus_bytes
        self.external = tuple(external)
        own = [name for name in COUNTERS if name not in self.external]
        super().__init__(
            {
                "inc": In(data.StructLayout({name: 32 for name in own})),
                "totals_in": In(data.StructLayout({name: 32 for name in self.external})),
                "totals": Out(JobCounters),
                "job_start": In(1),
                "rd_addr": In(max(1, exact_log2(nbytes(JobCounters) // bus_bytes))),
                "rd_en": In(1),
                "rd_data": Out(bus_bytes * 8),
            }
        )

    def elaborate(self, platform):
        """Build the totals, the bases and the record's read port."""
        m = Module()
        job = Signal(JobCounters)
        for name in COUNTERS:
            total = getattr(self.totals, name)
            if name in self.external:
                m.d.comb += total.eq(getattr(self.totals_in, name))
            else:
                count = Signal(32, name=f"total_{name}")
                m.d.sync += count.eq(count + getattr(self.inc, name))
                m.d.comb += total.eq(count)
            base = Signal(32, name=f"base_{name}")
            with m.If(self.job_start):
                m.d.sync += base.eq(total)
            m.d.comb += getattr(job, name).eq(total - base)

        words = nbytes(JobCounters) // self.bus_bytes
        record = job.as_value()
        with m.If(self.rd_en):
            m.d.sync += self.rd_data.eq(
                record.word_select(self.rd_addr[: exact_log2(words)], self.bus_bytes * 8)
            )
        return m
