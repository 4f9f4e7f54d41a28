"""Elaboration parameters of the NPU.

Every parameter is fixed when the design is elaborated and reported back by the hardware in its
capability registers, so that the driver and firmware discover the configuration at run time.
"""

import dataclasses
import hashlib
import json
from dataclasses import dataclass

__all__ = ["K_SLOT", "MEM_ADDR_WIDTH", "PARAMETERS", "NpuConfig"]

#: Width of a physical address on the ``mem`` AXI4 master (40-bit output addresses, as LPAE).
MEM_ADDR_WIDTH = 40

KiB = 1024
#: Bytes of an input-scratchpad row slot: the longest reduction (K) one matrix operation takes.
K_SLOT = 256


def _pow2(n):
    return n > 0 and n & (n - 1) == 0


@dataclass(frozen=True)
class _Range:
    """The allowed values of one parameter, and how to say so."""

    lo: int
    hi: int
    pow2: bool
    unit: str = ""

    def __contains__(self, value):
        return self.lo <= value <= self.hi and (not self.pow2 or _pow2(value))

    def describe(self):
        kind = "a power of two" if self.pow2 else "an integer"
        return f"{kind} between {self.lo} and {self.hi}{self.unit}"


#: Parameter name -> (allowed range, one-line description). The order is the capability order.
PARAMETERS = {
    "array_size": (_Range(2, 32, True), "systolic array is N x N processing elements"),
    "mem_data_width": (_Range(32, 256, True, " bits"), "data width of the mem AXI4 master"),
    "addr_spaces": (_Range(1, 16, False), "number of MMU address spaces"),
    "tlb_entries": (_Range(2, 64, False), "entries of the fully associative TLB"),
    "spad_in_bytes": (_Range(1 * KiB, 256 * KiB, True, " bytes"), "input scratchpad size"),
    "spad_wt_bytes": (_Range(2 * KiB, 256 * KiB, True, " bytes"), "weight scratchpad size"),
    "spad_acc_bytes": (_Range(1 * KiB, 1024 * KiB, True, " bytes"), "accumulator scratchpad"),
    "queue_depth": (_Range(2, 64, True), "entries of the on-chip command FIFO"),
    "dma_queue_depth": (_Range(2, 64, False), "DMA commands queued behind the running one"),
}


@dataclass(frozen=True)
class NpuConfig:
    """One elaboration of the NPU.

    Parameters
    ----------
    array_size : int
        N, the systolic array has N x N processing elements. A power of two from 2 to 32.
    mem_data_width : int
        Data width of the ``mem`` AXI4 master in bits: 32, 64, 128 or 256.
    addr_spaces : int
        Number of MMU address spaces, 1 to 16.
    tlb_entries : int
        Entries of the fully associative TLB, 2 to 64.
    spad_in_bytes, spad_wt_bytes : int
        Input and weight scratchpad sizes in bytes: powers of two from 1 KiB to 256 KiB. The input
        scratchpad holds at least ``2 * N`` row slots of 256 bytes; the weight scratchpad at
        least ``2 * 256`` rows of ``max(N, bus bytes)`` bytes (two halves, double buffering).
    spad_acc_bytes : int
        Accumulator scratchpad size in bytes: a power of two from 1 KiB to 1 MiB, at least two
        halves of ``N`` rows of ``max(N, bus bytes)`` int32 elements.
    queue_depth : int
        Entries of the on-chip command FIFO, a power of two from 2 to 64.
    dma_queue_depth : int
        DMA commands the control processor can queue behind the one running, 2 to 64.

    Raises
    ------
    TypeError
        If a parameter is not an integer.
    ValueError
        If a parameter is out of its range; the message names the parameter and the range.
    """

    array_size: int = 8
    mem_data_width: int = 64
    addr_spaces: int = 4
    tlb_entries: int = 16
    spad_in_bytes: int = 32 * KiB
    spad_wt_bytes: int = 32 * KiB
    spad_acc_bytes: int = 64 * KiB
    queue_depth: int = 8
    dma_queue_depth: int = 16

    def __post_init__(self):
        for name, (allowed, _) in PARAMETERS.items():
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"Parameter {name} must be an integer, not {value!r}")
            if value not in allowed:
                raise ValueError(f"Parameter {name} must be {allowed.describe()}, not {value!r}")
        # Each scratchpad holds two halves (double buffering) of at least one tile's operands:
        # N row slots of K_SLOT bytes, K_SLOT rows of N weights (at least a bus beat wide), and
        # N accumulator rows of max(N, beat) int32 elements.
        n, beat = self.array_size, self.mem_data_width // 8
        for name, need in (
            ("spad_in_bytes", 2 * n * K_SLOT),
            ("spad_wt_bytes", 2 * K_SLOT * max(n, beat)),
            ("spad_acc_bytes", 2 * n * max(n, beat) * 4),
        ):
            if getattr(self, name) < need:
                raise ValueError(
                    f"Parameter {name} must hold two halves of one tile for array_size {n} and "
                    f"a {self.mem_data_width}-bit bus: at least {need} bytes, "
                    f"not {getattr(self, name)!r}"
                )

    @classmethod
    def smallest(cls):
        """The smallest configuration: every parameter at the lower bound of its range.

        Its Verilog takes a few seconds and its Verilator build the least time, for tests of
        the toolchain rather than of the design's capacity.
        """
        return cls(**{name: allowed.lo for name, (allowed, _) in PARAMETERS.items()})

    def as_dict(self):
        """Return the parameters as a plain dictionary, in declaration order."""
        return dataclasses.asdict(self)

    @property
    def slug(self):
        """A short, readable name of this configuration, for build directories."""
        return (
            f"n{self.array_size}-w{self.mem_data_width}-as{self.addr_spaces}"
            f"-tlb{self.tlb_entries}-in{self.spad_in_bytes // KiB}k"
            f"-wt{self.spad_wt_bytes // KiB}k-acc{self.spad_acc_bytes // KiB}k-q{self.queue_depth}"
            f"-dq{self.dma_queue_depth}"
        )

    def digest(self):
        """Return a stable hash of the parameters (hex)."""
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()
