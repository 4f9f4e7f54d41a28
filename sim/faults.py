"""Fault injection into the simulated machine: its buses, interrupt, firmware, MMU and memory.

:class:`Faults` (``system.faults``) is what a test or a ``tinynpu run`` program arms faults
with. Each one is the hardware misbehaving as silicon can, not a shortcut into the driver: the
driver sees only what the registers, the memory and the interrupt line show it.

* **Bus**: beats of one AXI manager of the NPU's memory port refused (SLVERR or DECERR) or
  delayed, once, at the n-th match, or always, anywhere or in a physical range (the rules run
  inside the simulator, :class:`~tinynpu.sim.memory.HostMemory`).
* **Bit flips** in a page-table descriptor (stored in memory, or in the walker's read only), in
  a ring entry as the fetcher reads it, in a completion record as the firmware writes it. Fields
  are named by their layouts (``rtl/pte.py``, ``rtl/layouts.py``).
* **Interrupts** lost, late, duplicated, spurious or storming
  (:class:`~tinynpu.sim.irq.InterruptLine`).
* **Firmware crashes** at named points of its job loop (:meth:`ControlProcessor.crash_at`).
* **TLB invalidations** that never complete: the command write is lost on the host bus.

Every trigger is one-shot unless ``shots`` says otherwise (``None``: every match), and ``skip``
lets that many matches through first. :meth:`Faults.clear` disarms everything.
"""

from tinynpu.rtl.axi import Resp
from tinynpu.rtl.layouts import Completion, RingEntry, nbytes
from tinynpu.rtl.pte import OUTPUT_ADDR_WIDTH, Descriptor
from tinynpu.rtl.regmap import CP, HOST
from tinynpu.rtl.top import MemId

__all__ = ["CRASH_POINTS", "FLIP_FIELDS", "MANAGERS", "Faults"]

#: The memory port's managers: (AXI ID, write) of their beats. ``completion`` is the DMA
#: engine's writes to the completion ring.
MANAGERS = {
    "fetch": (MemId.FETCHER, False),
    "dma_read": (MemId.DMA, False),
    "dma_write": (MemId.DMA, True),
    "walker": (MemId.WALKER, False),
    "completion": (MemId.DMA, True),
}

#: Named points of the firmware's loop: the CP register whose store it dies instead of making.
CRASH_POINTS = {
    "entry_pop": "entry_pop",  # an entry read, not yet popped
    "dma_start": "dma_push",  # a DMA command set up, not queued
    "job_end": "job_end",  # the completion record written, the job not ended
    "boot": "fw_status",  # booted, not yet reporting ready (or dropping it on stop)
}

# The top bit of the descriptor's address field: above the output address, so it must be zero.
_ADDRESS = Descriptor.as_shape()["address"]
_ADDRESS_HIGH = _ADDRESS.offset + _ADDRESS.width - 1
assert _ADDRESS_HIGH >= OUTPUT_ADDR_WIDTH

#: The fields each flip may name: (layout, bit) of the bit flipped.
FLIP_FIELDS = {
    "pte": {
        "valid": Descriptor.as_shape()["valid"].offset,
        "af": Descriptor.as_shape()["af"].offset,
        "address_high": _ADDRESS_HIGH,
    },
    "entry": {
        "seqno": RingEntry.as_shape()["seqno"].offset,
        "flags": RingEntry.as_shape()["flags"].offset,
        "reserved0": RingEntry.as_shape()["_reserved0"].offset,
    },
    "completion": {
        name: Completion.as_shape()[name].offset for name in ("seqno", "status", "error")
    },
}


def _bit(kind, field):
    try:
        return FLIP_FIELDS[kind][field]
    except KeyError:
        known = ", ".join(FLIP_FIELDS[kind])
        raise ValueError(f"No {kind} field {field!r} to flip: one of {known}") from None


class Faults:
    """The fault injector of a :class:`~tinynpu.sim.system.System`."""

    MANAGERS = MANAGERS
    CRASH_POINTS = CRASH_POINTS

    def __init__(self, system):
        self.system = system
        self.soc = system.soc
        self.memory = system.soc.memory

    # --- the memory port ----------------------------------------------------------------------

    def _rule_args(self, manager, address, length):
        if manager not in MANAGERS:
            raise ValueError(f"Unknown manager {manager!r}: one of {', '.join(MANAGERS)}")
        ident, write = MANAGERS[manager]
        if manager == "completion":
            ring = self.system.device.backend.ring
            if address is None:
                address, length = ring.completions, ring.size * nbytes(Completion)
        elif address is None:
            address, length = 0, self.memory.size
        return ident, write, address, length

    def bus(self, manager, *, resp=Resp.SLVERR, address=None, length=1, skip=0, shots=1):
        """Refuse beats of ``manager`` (one of :data:`MANAGERS`) with ``resp``.

        ``address`` and ``length`` restrict it to a physical range (anywhere by default; the
        completion ring for ``completion``). ``skip`` and ``shots`` count beats.
        """
        ident, write, address, length = self._rule_args(manager, address, length)
        self.memory.add_fault(
            address, length, write=write, resp=resp, manager=ident, skip=skip, shots=shots
        )

    def delay(self, manager, cycles, *, address=None, length=1, skip=0, shots=1):
        """Hold bursts of ``manager`` ``cycles`` more.

        A read's first beat, or a write's response, comes that much later. ``skip`` and
        ``shots`` count bursts.
        """
        ident, write, address, length = self._rule_args(manager, address, length)
        self.memory.add_delay(
            address, length, cycles, write=write, manager=ident, skip=skip, shots=shots
        )

    def _flip(self, manager, address, bit, *, skip=0):
        ident, write = MANAGERS[manager]
        self.memory.add_flip(
            address + bit // 8, 1 << bit % 8, write=write, manager=ident, skip=skip
        )

    # --- addresses behind a client's handles --------------------------------------------------

    def buffer_address(self, client, handle, offset=0):
        """The physical address of byte ``offset`` of the client's buffer ``handle``."""
        bo = client.file.bos[handle]
        ((address, _),) = bo.pieces(offset, 1)
        return address

    def _table(self, client, context):
        return client.file.contexts[context].entity.space.table

    def pte_address(self, client, context, va):
        """The physical address of the descriptor that maps ``va`` in the client's context."""
        _, address, _ = self._table(client, context).locate(va)
        return address

    # --- bit flips ----------------------------------------------------------------------------

    def flip_pte(self, client, context, va, field, *, in_flight=False):
        """Flip ``field`` (``valid``, ``af`` or ``address_high``) of the descriptor mapping ``va``.

        Stored: the descriptor in memory changes (the driver's own copy does not). In flight:
        only the walker's next read of it carries the flipped bit.
        """
        bit = _bit("pte", field)
        address = self.pte_address(client, context, va)
        if in_flight:
            self._flip("walker", address, bit)
        else:
            byte = address + bit // 8
            old = self.memory.read(byte, 1)[0]
            self.memory.write(byte, bytes([old ^ 1 << bit % 8]))

    def flip_entry(self, field):
        """Flip the lowest bit of ``field`` of the next ring entry, as the fetcher reads it."""
        ring = self.system.device.backend.ring
        slot = ring.entries + ring.tail % ring.size * nbytes(RingEntry)
        self._flip("fetch", slot, _bit("entry", field))

    def flip_completion(self, field):
        """Flip the lowest bit of ``field`` of the next completion record the firmware writes."""
        ring = self.system.device.backend.ring
        slot = ring.completions + ring.tail % ring.size * nbytes(Completion)
        self._flip("completion", slot, _bit("completion", field))

    # --- interrupt, firmware, MMU -------------------------------------------------------------

    def drop_irq(self, count=1):
        """Lose the next ``count`` host interrupts."""
        self.soc.irq.inject("drop", count=count)

    def delay_irq(self, ns, count=1):
        """Deliver the next ``count`` host interrupts ``ns`` late."""
        self.soc.irq.inject("delay", count=count, ns=ns)

    def duplicate_irq(self, count=1):
        """Deliver the next ``count`` host interrupts twice."""
        self.soc.irq.inject("duplicate", count=count)

    def spurious_irq(self, count, interval_ns=200):
        """``count`` interrupts with nothing pending, one every ``interval_ns``: a storm."""
        self.soc.irq.inject("spurious", count=count, ns=interval_ns)

    def irq_storm(self, duration_ns, interval_ns=200):
        """For ``duration_ns``, an interrupt every ``interval_ns`` of waiting, pending or not."""
        self.soc.irq.storm(duration_ns, interval_ns)

    def crash_firmware(self, point, *, skip=0):
        """Stop the firmware for good at ``point`` (one of :data:`CRASH_POINTS`).

        ``skip`` passes go through first; only a reset of the NPU brings it back.
        """
        if point not in CRASH_POINTS:
            raise ValueError(f"Unknown crash point {point!r}: one of {', '.join(CRASH_POINTS)}")
        self.soc.cp.crash_at(getattr(CP, CRASH_POINTS[point]).offset, skip=skip)

    def stall_tlb_invalidation(self, count=1):
        """The next ``count`` TLB invalidation commands never complete (their write is lost)."""
        self.soc.drop_writes(HOST.tlb_inv_command.offset, count)

    @property
    def injected(self):
        """Faults that fired so far, by kind."""
        stats = self.memory.stats
        return {
            "refused_reads": stats.refused_reads,
            "refused_writes": stats.refused_writes,
            "firmware_crashes": self.soc.cp.crashes,
            "dropped_writes": self.soc.dropped_writes,
            **{f"irq_{kind}": n for kind, n in self.soc.irq.injected.items()},
        }

    def clear(self):
        """Disarm every fault not yet fired."""
        self.memory.clear_errors()
        self.soc.irq.clear()
        self.soc.cp.clear_crash_points()
        self.soc.drop_writes(HOST.tlb_inv_command.offset, 0)
