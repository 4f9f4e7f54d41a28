"""Host memory: a RAM model on the NPU's ``mem`` AXI4 master port, with error injection."""

import mmap

from cocotbext.axi import AxiBus
from cocotbext.axi.axi_ram import AxiRamRead, AxiRamWrite

__all__ = ["HostMemory", "RefusedAccessError"]

MiB = 1 << 20


class RefusedAccessError(Exception):
    """An NPU access the memory refuses: answered with SLVERR."""


class _FaultingRead(AxiRamRead):
    def __init__(self, *args, check, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_access = check

    async def _read(self, address, length):
        self._check_access(address, length, write=False)
        return self.read(address, length)


class _FaultingWrite(AxiRamWrite):
    def __init__(self, *args, check, **kwargs):
        super().__init__(*args, **kwargs)
        self._check_access = check

    async def _write(self, address, data):
        self._check_access(address, len(data), write=True)
        self.write(address, data)


class HostMemory:
    """Host DRAM, served to the NPU over AXI4 by cocotbext-axi's RAM model.

    The host CPU's own loads and stores (``read``/``write``) go straight to the backing store, as
    a CPU's caches would, without consuming NPU bus cycles. NPU accesses outside the memory, or
    inside a range armed with :meth:`inject_error`, are answered with SLVERR (a read beat carries
    zeros; a write beat is dropped).

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level.
    size : int
        Bytes of memory, at physical addresses ``0 .. size - 1``.
    """

    def __init__(self, dut, *, size=64 * MiB):
        if size <= 0 or size % 4096:
            raise ValueError(f"Host memory size must be a positive multiple of 4096, not {size!r}")
        bus = AxiBus.from_prefix(dut, "mem", bus_separator="__")
        self._store = mmap.mmap(-1, size)
        self._faults = []
        self.size = size
        self.faults_answered = 0
        common = dict(reset_active_level=True, mem=self._store, check=self._check_npu)
        self._write_if = _FaultingWrite(bus.write, dut.clk, dut.rst, **common)
        self._read_if = _FaultingRead(bus.read, dut.clk, dut.rst, **common)
        for port in (self._write_if, self._read_if):
            port.log.setLevel("WARNING")
            port.log.disabled = True  # refused beats are reported through faults_answered

    def _check(self, address, length):
        if not (address >= 0 and address + length <= self.size):
            raise ValueError(
                f"Host memory range {address:#x}+{length:#x} is outside 0..{self.size:#x}"
            )

    def _check_npu(self, address, length, *, write):
        refused = address + length > self.size
        for start, end, on_write in self._faults:
            if on_write == write and address < end and start < address + length:
                refused = True
        if refused:
            self.faults_answered += 1
            raise RefusedAccessError(f"{'write' if write else 'read'} {address:#x}+{length}")

    def inject_error(self, address, length, *, write):
        """Answer NPU reads (or writes) touching ``address .. address + length - 1`` with SLVERR.

        Host-side accesses are not affected. Lasts until :meth:`clear_errors`.
        """
        self._check(address, length)
        self._faults.append((address, address + length, bool(write)))

    def clear_errors(self):
        """Disarm every injected error."""
        self._faults.clear()

    def read(self, address, length):
        """Return ``length`` bytes at physical ``address``."""
        self._check(address, length)
        return bytes(self._store[address : address + length])

    def write(self, address, data):
        """Store ``data`` at physical ``address``."""
        self._check(address, len(data))
        self._store[address : address + len(data)] = bytes(data)
