"""Host memory: the RAM on the NPU's ``mem`` AXI4 port, served inside the simulator.

The memory's AXI4 side is C++ (``csrc/host_memory.cpp``, behind ``hdl/host_memory.sv``), run by
the Verilated model at each clock edge; no Python runs for a beat. Its backing store is an mmap
of this process that the C++ reads and writes through a pointer, so the host CPU's loads and
stores here and the NPU's bursts there see one memory.
"""

import ctypes
import mmap
from dataclasses import dataclass

from tinynpu.rtl.axi import Resp

from .native import model

__all__ = ["HostMemory", "MemoryStats", "MemoryTiming"]

MiB = 1 << 20

#: The answers a refused beat may get.
REFUSALS = (Resp.SLVERR, Resp.DECERR)
# What a fault rule does (csrc/host_memory.cpp's Action).
_REFUSE, _DELAY, _FLIP = 0, 1, 2


@dataclass(frozen=True)
class MemoryTiming:
    """Latency and bandwidth of the memory, on top of its fastest timing (all defaults).

    Attributes
    ----------
    read_latency : int
        Clock edges between taking a read burst and reading its first beat; the first beat
        reaches the NPU one edge later. 0 answers at the edge after the address.
    write_latency : int
        Clock edges between a write burst's last beat and its response becoming ready.
    beat_interval : int
        Clock edges between the beats of a read burst; 1 is one beat a cycle.
    """

    read_latency: int = 0
    write_latency: int = 0
    beat_interval: int = 1

    def __post_init__(self):
        for name in ("read_latency", "write_latency"):
            if not 0 <= getattr(self, name) < 1 << 16:
                raise ValueError(f"{name} must be 0..65535 cycles, not {getattr(self, name)!r}")
        if not 1 <= self.beat_interval < 1 << 16:
            raise ValueError(f"beat_interval must be 1..65535 cycles, not {self.beat_interval!r}")


@dataclass(frozen=True)
class MemoryStats:
    """What the NPU asked of the memory since it was attached (bursts and beats, refused beats).

    ``protocol_errors`` counts bursts and beats that break the AXI4 rules the memory checks: a
    beat wider than the bus, an INCR burst across 4 KiB, a ``WLAST`` that does not end the burst.
    """

    read_bursts: int
    read_beats: int
    write_bursts: int
    write_beats: int
    refused_reads: int
    refused_writes: int
    protocol_errors: int


class HostMemory:
    """Host DRAM at physical addresses ``0 .. size - 1``, served to the NPU over AXI4.

    The host CPU's own loads and stores (``read``/``write``) go straight to the backing store, as
    a CPU's caches would, without consuming NPU bus cycles. NPU beats outside the memory, or
    matching a rule armed with :meth:`inject_error` or :meth:`add_fault`, are refused: a read
    beat carries zeros, a write beat stores nothing from its first refused byte lanes on.

    Only one memory serves the simulator's NPU: making one attaches it, in place of any earlier.

    Parameters
    ----------
    size : int
        Bytes of memory.
    timing : MemoryTiming, optional
        Latency and bandwidth; by default the memory at its fastest.
    """

    def __init__(self, *, size=64 * MiB, timing=None):
        if size <= 0 or size % 4096:
            raise ValueError(f"Host memory size must be a positive multiple of 4096, not {size!r}")
        self.size = size
        self._store = mmap.mmap(-1, size)
        self._view = (ctypes.c_char * size).from_buffer(self._store)
        self._model = model()
        self._model.tinynpu_host_memory_attach(ctypes.addressof(self._view), size)
        self.set_timing(MemoryTiming() if timing is None else timing)

    def set_timing(self, timing: MemoryTiming):
        """Use ``timing`` from the next clock edge on."""
        status = self._model.tinynpu_host_memory_timing(
            timing.read_latency, timing.write_latency, timing.beat_interval
        )
        assert status == 0, timing  # MemoryTiming checked the values
        self.timing = timing

    def _check(self, address, length):
        if not (address >= 0 and length >= 0 and address + length <= self.size):
            raise ValueError(
                f"Host memory range {address:#x}+{length:#x} is outside 0..{self.size:#x}"
            )

    def add_fault(
        self, address, length, *, write, resp=Resp.SLVERR, manager=None, skip=0, shots=None
    ):
        """Refuse NPU beats touching ``address .. address + length - 1``.

        Parameters
        ----------
        address, length : int
            The physical byte range.
        write : bool
            Refuse write beats (else read beats).
        resp : Resp
            The answer: SLVERR or DECERR.
        manager : int, optional
            Only beats of bursts carrying this AXI ID (``tinynpu.rtl.top.MemId``); any by default.
        skip : int
            Matching beats to let through before refusing: ``skip=n - 1`` refuses the n-th.
        shots : int, optional
            Matching beats to refuse after those; every one by default.

        Host-side accesses are not affected. Lasts until :meth:`clear_errors`.
        """
        if resp not in REFUSALS:
            raise ValueError(f"A refused beat is answered SLVERR or DECERR, not {resp!r}")
        self._add_rule(_REFUSE, resp.value, address, length, write, manager, skip, shots)

    def add_delay(self, address, length, cycles, *, write, manager=None, skip=0, shots=None):
        """Hold NPU bursts starting in the range ``cycles`` more clock edges.

        A read burst's first beat comes that much later, a write burst's response that much
        later after its last beat. ``manager``, ``skip`` and ``shots`` as for :meth:`add_fault`,
        counting bursts.
        """
        if not 0 < cycles < 1 << 32:
            raise ValueError(f"A delay is 1 to 2**32 - 1 cycles, not {cycles!r}")
        self._add_rule(_DELAY, cycles, address, length, write, manager, skip, shots)

    def add_flip(self, address, mask, *, write, manager=None, skip=0, shots=1):
        """Flip the bits ``mask`` of the byte at ``address`` in NPU beats as they cross the port.

        A read beat carries the flipped byte and memory keeps what it held; a write beat stores
        it flipped. ``manager``, ``skip`` and ``shots`` as for :meth:`add_fault`, counting beats;
        one beat by default.
        """
        if not 0 < mask < 256:
            raise ValueError(f"A flip mask is 1 to 255 (one byte), not {mask!r}")
        self._add_rule(_FLIP, mask, address, 1, write, manager, skip, shots)

    def _add_rule(self, action, value, address, length, write, manager, skip, shots):
        self._check(address, length)
        if skip < 0 or (shots is not None and shots < 0):
            raise ValueError(f"skip and shots must not be negative, not {skip!r}, {shots!r}")
        mask, ident = (0, 0) if manager is None else (0xFFFF_FFFF, manager)
        status = self._model.tinynpu_host_memory_add_rule(
            int(bool(write)),
            mask,
            ident,
            address,
            address + length,
            skip,
            -1 if shots is None else shots,
            action,
            value,
        )
        assert status == 0, action

    def inject_error(self, address, length, *, write):
        """Answer every NPU read (or write) beat touching the range with SLVERR."""
        self.add_fault(address, length, write=write)

    def clear_errors(self):
        """Disarm every fault rule (refusals, delays, flips)."""
        self._model.tinynpu_host_memory_clear_rules()

    @property
    def stats(self):
        """A :class:`MemoryStats` of the NPU's accesses so far."""
        fields = len(MemoryStats.__dataclass_fields__)
        values = (ctypes.c_uint64 * fields)()
        count = self._model.tinynpu_host_memory_stats(values, fields)
        assert count == fields, f"the model keeps {count} statistics, this module {fields}"
        return MemoryStats(*values)

    @property
    def faults_answered(self):
        """NPU beats refused so far."""
        stats = self.stats
        return stats.refused_reads + stats.refused_writes

    def read(self, address, length):
        """Return ``length`` bytes at physical ``address``."""
        self._check(address, length)
        return self._store[address : address + length]

    def write(self, address, data):
        """Store ``data`` at physical ``address``."""
        self._check(address, len(data))
        self._store[address : address + len(data)] = bytes(data)
