"""The DMA engine's local address space, and the scratchpad geometry an elaboration implies.

The DMA engine moves data between host memory and *local* memories: the CP SRAM, the job
counters, and the compute engine's scratchpads. Local addresses are 24 bits wide; bits 23:20
select a :class:`Region`, the rest are a byte offset into it::

    0x00_0000  SRAM     CP-local SRAM (read, write)
    0x10_0000  PERF     the running job's counters, a JobCounters record (read)
    0x20_0000  INPUT    input scratchpad: operand A, in row slots of K_SLOT bytes (write)
    0x30_0000  WEIGHT   weight scratchpad: operand B, rows of any multiple of N bytes (write)
    0x40_0000  PARAMS   per-output-channel ChannelParams records (write)
    0x50_0000  ACC8     accumulators through the post-processor, one int8 per element (read)
    0x60_0000  ACC32    accumulators through the post-processor, one int32 per element (read)

Both the RTL and the firmware take the layout from :class:`Geometry`; nothing else knows it.
"""

from dataclasses import dataclass

from amaranth.lib import enum

from .config import K_SLOT
from .layouts import ChannelParams, JobCounters, nbytes

__all__ = [
    "K_SLOT",
    "LOCAL_ADDR_WIDTH",
    "PARAM_BYTES",
    "PERF_BYTES",
    "REGION_SHIFT",
    "Geometry",
    "Region",
    "local_address",
]

#: Width of a local address.
LOCAL_ADDR_WIDTH = 24
#: Bits 23:20 select the region.
REGION_SHIFT = 20
#: Bytes of one output channel's post-processing parameters.
PARAM_BYTES = nbytes(ChannelParams)
#: Bytes of the job counters' record.
PERF_BYTES = nbytes(JobCounters)
#: Output channels the parameter memory holds (two halves, for double buffering).
PARAM_CHANNELS = 512


class Region(enum.Enum, shape=4):
    """The regions of the local address space (bits 23:20 of a local address)."""

    SRAM = 0
    PERF = 1
    INPUT = 2
    WEIGHT = 3
    PARAMS = 4
    ACC8 = 5
    ACC32 = 6


def local_address(region: Region, offset: int = 0) -> int:
    """The local address of byte ``offset`` of ``region``."""
    return region.value << REGION_SHIFT | offset


def _log2(n):
    return n.bit_length() - 1


@dataclass(frozen=True)
class Geometry:
    """How the scratchpads are organised for an array size, a bus width and their sizes.

    Parameters
    ----------
    array_size : int
        N: the array is N x N.
    bus_bytes : int
        Bytes of one ``mem`` data beat (W), the DMA engine's local word.
    input_bytes, weight_bytes, acc_bytes : int
        Scratchpad sizes (the ``spad_*_bytes`` parameters).
    sram_bytes : int
        Size of the CP SRAM.

    Notes
    -----
    * The input scratchpad is ``N`` banks, one per array row, each ``W`` bytes wide. Its local
      addresses are row slots of :data:`K_SLOT` bytes; slot ``q`` lives in bank ``q % N``, so a
      2-D DMA with a destination pitch of ``K_SLOT`` puts ``N`` consecutive rows of A in the
      ``N`` banks the array rows read in parallel.
    * The weight and parameter scratchpads are single memories whose words are wider than a bus
      beat; the DMA engine writes one beat-sized lane of a word at a time.
    * An accumulator word holds :attr:`acc_lanes` int32 elements (at least ``N``, for one array
      row, and at least ``W``, for one int8 output beat).
    """

    array_size: int
    bus_bytes: int
    input_bytes: int
    weight_bytes: int
    acc_bytes: int
    sram_bytes: int = 16384

    @classmethod
    def of(cls, config, sram_bytes=16384):
        """The geometry of an :class:`~tinynpu.rtl.config.NpuConfig`."""
        return cls(
            array_size=config.array_size,
            bus_bytes=config.mem_data_width // 8,
            input_bytes=config.spad_in_bytes,
            weight_bytes=config.spad_wt_bytes,
            acc_bytes=config.spad_acc_bytes,
            sram_bytes=sram_bytes,
        )

    # --- input scratchpad -----------------------------------------------------------------------

    @property
    def input_slots(self):
        """Row slots of the input scratchpad (both halves)."""
        return self.input_bytes // K_SLOT

    @property
    def input_bank_words(self):
        """Words of one input bank (``W`` bytes each)."""
        return self.input_bytes // self.array_size // self.bus_bytes

    # --- weight and parameter scratchpads -------------------------------------------------------

    @property
    def weight_word_bytes(self):
        """Bytes of a weight-scratchpad word: one array step's N weights, at least a beat."""
        return max(self.array_size, self.bus_bytes)

    @property
    def params_word_bytes(self):
        """Bytes of a parameter-memory word: the ``W`` channels one int8 output beat needs."""
        return self.bus_bytes * PARAM_BYTES

    @property
    def params_bytes(self):
        """Size of the parameter memory."""
        return PARAM_CHANNELS * PARAM_BYTES

    @property
    def param_channels(self):
        """Output channels the parameter memory holds."""
        return PARAM_CHANNELS

    # --- accumulators ---------------------------------------------------------------------------

    @property
    def acc_lanes(self):
        """int32 elements per accumulator word."""
        return max(self.array_size, self.bus_bytes)

    @property
    def acc_elements(self):
        """int32 elements of the accumulator scratchpad."""
        return self.acc_bytes // 4

    @property
    def acc_words(self):
        """Words of the accumulator memory."""
        return self.acc_elements // self.acc_lanes

    # --- the local address space ----------------------------------------------------------------

    def region_bytes(self, region: Region):
        """Size of ``region`` in bytes."""
        return {
            Region.SRAM: self.sram_bytes,
            Region.PERF: PERF_BYTES,
            Region.INPUT: self.input_bytes,
            Region.WEIGHT: self.weight_bytes,
            Region.PARAMS: self.params_bytes,
            Region.ACC8: self.acc_elements,
            Region.ACC32: self.acc_bytes,
        }[region]

    @staticmethod
    def readable(region: Region):
        """Whether a DMA STORE may read ``region``."""
        return region in (Region.SRAM, Region.PERF, Region.ACC8, Region.ACC32)

    @staticmethod
    def writable(region: Region):
        """Whether a DMA LOAD (or local FILL) may write ``region``."""
        return region in (Region.SRAM, Region.INPUT, Region.WEIGHT, Region.PARAMS)

    def log2(self, n):
        """log2 of a power of two."""
        return _log2(n)
