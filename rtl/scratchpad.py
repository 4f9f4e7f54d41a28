"""The scratchpads the DMA engine fills and the matrix unit reads.

Both kinds take the DMA engine's local writes: one bus word (``W`` bytes, byte enables) per cycle,
addressed in bus words from the start of their region (``tinynpu.rtl.localmap``).
"""

from amaranth.hdl import Cat, Module, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory, ReadPort, WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import exact_log2

from .localmap import K_SLOT

__all__ = ["InputBuffer", "WideBuffer", "dma_write_port"]


def dma_write_port(size_bytes, bus_bytes):
    """The signature of the write port by which the DMA engine fills a local memory.

    Parameters
    ----------
    size_bytes : int
        The memory's size: a power of two, at least ``bus_bytes``.
    bus_bytes : int
        The bus word the port writes, with one strobe a byte.

    Returns
    -------
    WritePort.Signature
    """
    return WritePort.Signature(
        addr_width=exact_log2(size_bytes // bus_bytes), shape=unsigned(bus_bytes * 8), granularity=8
    )


class InputBuffer(wiring.Component):
    """The input scratchpad: one bank per array row, read in parallel.

    Local byte address ``q * K_SLOT + c`` is byte ``c`` of row slot ``q``; slot ``q`` lives in
    bank ``q % n`` at slot ``q // n`` of that bank. In bus words this is a pure bit swizzle, so the
    banks cost no arithmetic: word bits ``[w-1:0]`` (word within the slot) stay, bits
    ``[w+b-1:w]`` pick the bank, the bits above become the bank's slot.

    Parameters
    ----------
    n : int
        Banks (array rows).
    bus_bytes : int
        Width of a bank word and of a DMA write.
    size_bytes : int
        Total size (both halves).

    Attributes
    ----------
    dma : Out(WritePort.Signature(...))
        The DMA engine's writes, in bus words of the region.
    rd_addr : In(...)
        Bank word to read in every bank: ``slot // n`` above the word within the slot.
    rd_data : Out(data.ArrayLayout(unsigned(8 * bus_bytes), n))
        Each bank's word, one cycle after ``rd_addr``.
    """

    def __init__(self, *, n, bus_bytes, size_bytes):
        self.n, self.bus_bytes, self.size_bytes = n, bus_bytes, size_bytes
        self.bank_words = size_bytes // n // bus_bytes
        super().__init__(
            {
                "dma": Out(dma_write_port(size_bytes, bus_bytes)),
                "rd_addr": In(exact_log2(self.bank_words)),
                "rd_data": Out(data.ArrayLayout(unsigned(bus_bytes * 8), n)),
            }
        )

    def elaborate(self, platform):
        """Build the banks and the write swizzle."""
        m = Module()
        w = exact_log2(K_SLOT // self.bus_bytes)
        b = exact_log2(self.n)
        addr = self.dma.addr
        bank = addr[w : w + b] if b else 0
        bank_word = Cat(addr[:w], addr[w + b :])
        for i in range(self.n):
            mem = Memory(shape=unsigned(self.bus_bytes * 8), depth=self.bank_words, init=[])
            m.submodules[f"bank{i}"] = mem
            wr = mem.write_port(granularity=8)
            rd = mem.read_port()
            m.d.comb += [
                wr.addr.eq(bank_word),
                wr.data.eq(self.dma.data),
                wr.en.eq(self.dma.en & (bank == i).replicate(len(self.dma.en))),
                rd.addr.eq(self.rd_addr),
                self.rd_data[i].eq(rd.data),
            ]
        return m


class WideBuffer(wiring.Component):
    """A scratchpad whose words are wider than a bus word: weights, channel parameters.

    A DMA write of bus word ``a`` goes to word ``a // r``, lane ``a % r`` of the memory (``r`` bus
    words per memory word), with its byte enables; readers take whole words.

    Parameters
    ----------
    word_bytes : int
        Width of a memory word, a multiple of ``bus_bytes``.
    bus_bytes : int
    size_bytes : int

    Attributes
    ----------
    dma : Out(WritePort.Signature(...))
        The DMA engine's writes, in bus words of the region.
    rd : Out(ReadPort.Signature(addr_width=..., shape=unsigned(8 * word_bytes)))
        A synchronous read port (one cycle of latency), in memory words.
    """

    def __init__(self, *, word_bytes, bus_bytes, size_bytes):
        self.word_bytes, self.bus_bytes, self.size_bytes = word_bytes, bus_bytes, size_bytes
        self.words = size_bytes // word_bytes
        super().__init__(
            {
                "dma": Out(dma_write_port(size_bytes, bus_bytes)),
                "rd": Out(
                    ReadPort.Signature(
                        addr_width=exact_log2(self.words), shape=unsigned(word_bytes * 8)
                    )
                ),
            }
        )

    def elaborate(self, platform):
        """Build the memory and the lane steering of DMA writes."""
        m = Module()
        m.submodules.mem = mem = Memory(
            shape=unsigned(self.word_bytes * 8), depth=self.words, init=[]
        )
        wr = mem.write_port(granularity=8)
        rd = mem.read_port()
        lanes = self.word_bytes // self.bus_bytes
        lg = exact_log2(lanes)
        lane = self.dma.addr[:lg]
        en = Signal(self.word_bytes)
        m.d.comb += [
            wr.addr.eq(self.dma.addr[lg:]),
            wr.data.eq(self.dma.data.replicate(lanes)),
            en.eq(self.dma.en << (lane * self.bus_bytes) if lg else self.dma.en),
            wr.en.eq(en),
        ]
        wiring.connect(m, wiring.flipped(self.rd), rd)
        return m
