"""The command queue: fetch ring entries from host memory into an on-chip FIFO."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .axi import AXI4Signature, Burst, Resp
from .fifo import StreamFifo
from .layouts import QueueError, RingEntry, nbytes

__all__ = ["FetchedEntry", "RingFetcher"]

ENTRY_BYTES = nbytes(RingEntry)
ENTRY_SHIFT = exact_log2(ENTRY_BYTES)
#: Ring sizes, as log2 of the number of entries.
MIN_SIZE_LOG2, MAX_SIZE_LOG2 = 1, 12


class FetchedEntry(data.Struct):
    """A ring entry as the control processor receives it: the entry and its ring index."""

    entry: RingEntry
    index: 32


def _min(*values):
    result = values[0]
    for value in values[1:]:
        result = Mux(value < result, value, result)
    return result


class RingFetcher(wiring.Component):
    """Fetch ring entries published by a doorbell, in bursts, into a FIFO.

    A doorbell publishes ``tail``. While the head is behind the published tail and the FIFO has
    room, the fetcher reads as many contiguous entries as it can in one INCR burst: bounded by the
    entries published, the free FIFO slots, the end of the ring (wrap-around starts a new
    burst), the next 4 KiB boundary and 256 beats. One burst is in flight at a time.

    A doorbell is checked before it is taken: a ring size outside 1..12 (BAD_SIZE), or a tail
    behind the head or more than the ring size ahead of ``done`` (BAD_TAIL), stops the queue
    with ``error`` set and one ``error_event`` pulse; so does a fetch answered with SLVERR or
    DECERR (BUS_ERROR), after which the rest of that burst is drained and dropped. A doorbell
    that publishes nothing new only counts in ``empty_doorbells``. A stopped queue ignores
    doorbells until ``clear``.

    ``clear`` empties the queue: head and published tail become 0, the FIFO is flushed and the
    error cleared. A clear that arrives during a burst waits for the burst to drain.

    Parameters
    ----------
    data_width : int
        Data width of the memory port.
    depth : int
        Entries of the FIFO.
    id_width : int
        AXI ID width; the fetcher uses ID 0.
    addr_width : int
        Physical address width.

    Attributes
    ----------
    mem : Out(AXI4Signature(...))
        Memory port; only the read channels are used.
    base : In(addr_width)
        Ring address; 32-byte aligned (the low 5 bits are ignored).
    size_log2 : In(4)
        log2 of the number of entries.
    tail, done : In(32)
        The driver's tail index, and the number of entries completed.
    doorbell, clear : In(1)
        One-cycle requests.
    head : Out(32)
        Index of the next entry to fetch.
    error : Out(QueueError)
    error_event : Out(1)
        One-cycle pulse when the queue stops on an error.
    empty_doorbells : Out(16)
        Doorbells that published nothing new (saturating).
    entries : Out(stream.Signature(FetchedEntry))
        The FIFO's output.
    level : Out(range(depth + 1))
        Entries in the FIFO.
    """

    def __init__(self, *, data_width, depth, id_width=4, addr_width=40):
        if data_width not in (32, 64, 128, 256):
            raise ValueError(f"Data width must be one of (32, 64, 128, 256), not {data_width!r}")
        self.data_width = data_width
        self.depth = depth
        super().__init__(
            {
                "mem": Out(
                    AXI4Signature(addr_width=addr_width, data_width=data_width, id_width=id_width)
                ),
                "base": In(addr_width),
                "size_log2": In(4),
                "tail": In(32),
                "done": In(32),
                "doorbell": In(1),
                "clear": In(1),
                "head": Out(32),
                "error": Out(QueueError),
                "error_event": Out(1),
                "empty_doorbells": Out(16),
                "entries": Out(stream.Signature(FetchedEntry)),
                "level": Out(range(depth + 1)),
            }
        )

    def elaborate(self, platform):
        """Build the doorbell checks, the burst sequencer and the FIFO."""
        m = Module()
        mem = self.mem
        beat_bytes = self.data_width // 8
        beats_per_entry = ENTRY_BYTES // beat_bytes if beat_bytes <= ENTRY_BYTES else 1
        max_entries = 256 // beats_per_entry

        m.submodules.fifo = fifo = StreamFifo(FetchedEntry, depth=self.depth)
        wiring.connect(m, fifo.r, wiring.flipped(self.entries))
        m.d.comb += self.level.eq(fifo.level)

        head = self.head
        published = Signal(32)
        size = Signal(14)
        m.d.comb += size.eq(Const(1, 14) << self.size_log2)
        stopped = self.error != QueueError.NONE

        # Doorbells.
        in_flight = Signal()
        clear_pending = Signal()
        do_clear = Signal()
        m.d.comb += do_clear.eq((self.clear | clear_pending) & ~in_flight)
        with m.If(do_clear):
            m.d.sync += [
                head.eq(0),
                published.eq(0),
                self.error.eq(QueueError.NONE),
                self.empty_doorbells.eq(0),
                clear_pending.eq(0),
            ]
            m.d.comb += fifo.flush.eq(1)
        with m.Elif(self.clear):
            m.d.sync += clear_pending.eq(1)
        with m.Elif(self.doorbell & ~stopped):
            ahead_of_done = (self.tail - self.done)[:32]
            fetched = (head - self.done)[:32]
            with m.If((self.size_log2 < MIN_SIZE_LOG2) | (self.size_log2 > MAX_SIZE_LOG2)):
                m.d.sync += self.error.eq(QueueError.BAD_SIZE)
                m.d.comb += self.error_event.eq(1)
            with m.Elif((ahead_of_done > size) | (ahead_of_done < fetched)):
                m.d.sync += self.error.eq(QueueError.BAD_TAIL)
                m.d.comb += self.error_event.eq(1)
            with m.Elif(self.tail == published):
                with m.If(self.empty_doorbells != 0xFFFF):
                    m.d.sync += self.empty_doorbells.eq(self.empty_doorbells + 1)
            with m.Else():
                m.d.sync += published.eq(self.tail)

        # Burst sizing: contiguous entries up to the first limit.
        slot = Signal(12)
        m.d.comb += slot.eq(head & (size - 1))
        address = Signal(len(mem.araddr))
        m.d.comb += address.eq(
            Cat(Const(0, ENTRY_SHIFT), self.base[ENTRY_SHIFT:]) + (slot << ENTRY_SHIFT)
        )
        entries = Signal(range(max_entries + 1))
        m.d.comb += entries.eq(
            _min(
                (published - head)[:32],
                Const(self.depth, 32) - fifo.level,
                size - slot,
                # entries left before the next 4 KiB boundary
                (4096 >> ENTRY_SHIFT) - address[ENTRY_SHIFT:12],
                Const(max_entries, 32),
            )
        )

        beat = Signal(range(beats_per_entry))
        entry_bits = Signal(8 * ENTRY_BYTES)
        burst_failed = Signal()
        m.d.comb += [
            mem.arid.eq(0),
            mem.arsize.eq(beat_bytes.bit_length() - 1),
            mem.arburst.eq(Burst.INCR),
        ]
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~stopped & ~do_clear & ~clear_pending & (entries != 0)):
                    m.d.sync += [
                        mem.araddr.eq(address),
                        mem.arlen.eq(entries * beats_per_entry - 1),
                        burst_failed.eq(0),
                        beat.eq(0),
                    ]
                    m.next = "ADDRESS"
            with m.State("ADDRESS"):
                m.d.comb += [mem.arvalid.eq(1), in_flight.eq(1)]
                with m.If(mem.arready):
                    m.next = "DATA"
            with m.State("DATA"):
                m.d.comb += [mem.rready.eq(1), in_flight.eq(1)]
                with m.If(mem.rvalid):
                    # Beats arrive lowest address first: shift them in from the top.
                    if beats_per_entry == 1:
                        value = mem.rdata[: 8 * ENTRY_BYTES]
                    else:
                        value = Cat(entry_bits[self.data_width :], mem.rdata)
                    m.d.sync += entry_bits.eq(value)
                    failed = burst_failed | (mem.rresp != Resp.OKAY)
                    m.d.sync += burst_failed.eq(failed)
                    last_of_entry = beat == beats_per_entry - 1
                    m.d.sync += beat.eq(Mux(last_of_entry, 0, beat + 1))
                    with m.If(last_of_entry & ~failed):
                        m.d.comb += [
                            fifo.w.valid.eq(1),
                            fifo.w.payload.entry.eq(value),
                            fifo.w.payload.index.eq(head),
                        ]
                        m.d.sync += head.eq(head + 1)
                    with m.If(mem.rlast):
                        with m.If(failed):
                            m.d.sync += self.error.eq(QueueError.BUS_ERROR)
                            m.d.comb += self.error_event.eq(1)
                        m.next = "IDLE"
        return m
