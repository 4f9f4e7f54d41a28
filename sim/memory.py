"""Host memory: a RAM model on the NPU's ``mem`` AXI4 master port."""

from cocotbext.axi import AxiBus, AxiRam

__all__ = ["HostMemory"]

MiB = 1 << 20


class HostMemory:
    """Host DRAM, served to the NPU over AXI4 by cocotbext-axi's ``AxiRam``.

    The host CPU's own loads and stores (``read``/``write``) go straight to the backing store, as
    a CPU's caches would, without consuming NPU bus cycles.

    Parameters
    ----------
    dut : cocotb handle
        The NPU top level.
    size : int
        Bytes of memory, at physical addresses ``0 .. size - 1``.

    Notes
    -----
    The RAM model decodes addresses modulo ``size``: an NPU access past the end wraps around
    instead of returning DECERR.
    """

    def __init__(self, dut, *, size=64 * MiB):
        if size <= 0 or size % 4096:
            raise ValueError(f"Host memory size must be a positive multiple of 4096, not {size!r}")
        bus = AxiBus.from_prefix(dut, "mem", bus_separator="__")
        self._ram = AxiRam(bus, dut.clk, dut.rst, size=size)
        self._ram.write_if.log.setLevel("WARNING")
        self._ram.read_if.log.setLevel("WARNING")
        self.size = size

    def _check(self, address, length):
        if not (address >= 0 and address + length <= self.size):
            raise ValueError(
                f"Host memory range {address:#x}+{length:#x} is outside 0..{self.size:#x}"
            )

    def read(self, address, length):
        """Return ``length`` bytes at physical ``address``."""
        self._check(address, length)
        return bytes(self._ram.read(address, length))

    def write(self, address, data):
        """Store ``data`` at physical ``address``."""
        self._check(address, len(data))
        self._ram.write(address, bytes(data))
