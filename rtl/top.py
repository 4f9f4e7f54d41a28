"""The NPU top level: host and control-processor registers, the job path, the memory master."""

from amaranth.hdl import Cat, Const, Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arbiter import ReadArbiter
from .axi import AXI4LiteSignature, AXI4Signature, forward
from .config import MEM_ADDR_WIDTH, NpuConfig
from .cpbus import LiteDecoder, SramWindow
from .dma import DmaEngine
from .mmu import Mmu
from .queue import RingFetcher
from .regmap import CP, HOST
from .regmap.block import RegisterBlock

__all__ = [
    "CP_ADDR_WIDTH",
    "CP_SRAM_BYTES",
    "HOST_ADDR_WIDTH",
    "MEM_ID_WIDTH",
    "MemId",
    "NpuTop",
    "npu_signature",
]

#: The host MMIO window is 64 KiB.
HOST_ADDR_WIDTH = 16
#: So is the control processor's: registers in the low half, the SRAM in the high half.
CP_ADDR_WIDTH = 16
#: The CP-local SRAM, as the control processor's cp_info register reports it.
CP_SRAM_BYTES = 1 << CP.cp_info.sram_log2.reset
#: AXI ID width of the mem master: enough to tell the fetcher, DMA and walker apart.
MEM_ID_WIDTH = 4


class MemId:
    """The AXI ID each engine's reads carry on the ``mem`` port."""

    DMA = 0
    FETCHER = 1
    WALKER = 2


def npu_signature(config: NpuConfig):
    """The NPU's ports for ``config``: ``host``, ``mem`` and ``irq`` (see :class:`NpuTop`)."""
    return wiring.Signature(
        {
            "host": In(AXI4LiteSignature(addr_width=HOST_ADDR_WIDTH, data_width=32)),
            "mem": Out(
                AXI4Signature(
                    addr_width=MEM_ADDR_WIDTH,
                    data_width=config.mem_data_width,
                    id_width=MEM_ID_WIDTH,
                )
            ),
            "irq": Out(1),
            "cp": In(AXI4LiteSignature(addr_width=CP_ADDR_WIDTH, data_width=32)),
            "cp_irq": Out(1),
        }
    )


class NpuTop(wiring.Component):
    """The NPU, as the SoC sees it.

    Parameters
    ----------
    config : NpuConfig
        Elaboration parameters; the capability registers report them.

    Attributes
    ----------
    host : In(AXI4LiteSignature(addr_width=16, data_width=32))
        The host CPU's MMIO window, laid out by ``rtl/regmap/host.rdl``.
    mem : Out(AXI4Signature(addr_width=40, data_width=config.mem_data_width, id_width=4))
        Master port to host memory, shared by the ring fetcher, the DMA engine and the MMU's
        table walker (reads carry the IDs of :class:`MemId`; writes come from the DMA engine
        alone).
    irq : Out(1)
        Level interrupt to the host: high while ``int_status`` is non-zero.
    cp : In(AXI4LiteSignature(addr_width=16, data_width=32))
        The control processor's window: ``rtl/regmap/cp.rdl`` below ``0x8000``, the CP-local
        SRAM from ``0x8000``.
    cp_irq : Out(1)
        Level interrupt to the control processor: high while ``cp_int_status`` is non-zero.
    """

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            raise TypeError(f"Configuration must be an NpuConfig, not {config!r}")
        self.config = config
        super().__init__(npu_signature(config))

    def capability_values(self):
        """Map each capability parameter name to the value the hardware reports."""
        return self.config.as_dict() | {"mem_addr_width": MEM_ADDR_WIDTH}

    def elaborate(self, platform):
        """Wire the registers to the ring fetcher, the DMA engine, the MMU and the CP SRAM."""
        m = Module()
        config = self.config
        width = config.mem_data_width
        # Address-space banks beyond the configured count are not implemented.
        absent = {reg.name for reg in HOST if reg.bank and reg.bank[1] >= config.addr_spaces}
        m.submodules.regs = regs = RegisterBlock(HOST, addr_width=HOST_ADDR_WIDTH, omit=absent)
        wiring.connect(m, wiring.flipped(self.host), regs.bus)
        host = regs.f

        # Capability fields name the parameter they report (the RDL `param` property).
        values = self.capability_values()
        for reg in HOST:
            for field in reg.fields:
                if field.param is not None:
                    port = getattr(getattr(host, reg.name), field.name)
                    m.d.comb += port.value.eq(values[field.param])

        # The control processor's window.
        m.submodules.cp_decoder = decoder = LiteDecoder(addr_width=CP_ADDR_WIDTH)
        m.submodules.cp_regs = cp_regs = RegisterBlock(CP, addr_width=CP_ADDR_WIDTH - 1)
        m.submodules.cp_sram = window = SramWindow(
            addr_width=CP_ADDR_WIDTH, sram_bytes=CP_SRAM_BYTES, data_width=width
        )
        wiring.connect(m, wiring.flipped(self.cp), decoder.bus)
        self._connect_lite(m, decoder.low, cp_regs.bus)
        wiring.connect(m, decoder.high, window.bus)
        cp = cp_regs.f

        m.submodules.sram = sram = Memory(
            shape=unsigned(width), depth=CP_SRAM_BYTES * 8 // width, init=[]
        )
        wiring.connect(m, window.rd, sram.read_port())
        wiring.connect(m, window.wr, sram.write_port(granularity=8))

        # The engines, and the memory port they share.
        m.submodules.fetcher = fetcher = RingFetcher(
            data_width=width,
            depth=config.queue_depth,
            id_width=MEM_ID_WIDTH,
            addr_width=MEM_ADDR_WIDTH,
        )
        m.submodules.dma = dma = DmaEngine(
            data_width=width,
            addr_width=MEM_ADDR_WIDTH,
            id_width=MEM_ID_WIDTH,
            sram_bytes=CP_SRAM_BYTES,
        )
        wiring.connect(m, dma.sram_rd, sram.read_port())
        wiring.connect(m, dma.sram_wr, sram.write_port(granularity=8))
        m.submodules.mmu = mmu = Mmu(
            addr_spaces=config.addr_spaces,
            tlb_entries=config.tlb_entries,
            ports=2,
            data_width=width,
            id_width=MEM_ID_WIDTH,
        )
        wiring.connect(m, dma.xlate_rd, mmu.t0)
        wiring.connect(m, dma.xlate_wr, mmu.t1)
        m.submodules.reads = reads = ReadArbiter(
            managers=3, data_width=width, addr_width=MEM_ADDR_WIDTH, id_width=MEM_ID_WIDTH
        )
        forward(m, getattr(reads, f"m{MemId.DMA}"), dma.mem, prefixes=("ar", "r"))
        forward(m, getattr(reads, f"m{MemId.FETCHER}"), fetcher.mem, ("ar", "r"))
        forward(m, getattr(reads, f"m{MemId.WALKER}"), mmu.mem, ("ar", "r"))
        self._connect_mmu(m, mmu, host, cp)
        forward(m, self.mem, reads.mem)
        forward(m, self.mem, dma.mem, prefixes=("aw", "w", "b"))

        # The command ring.
        done = Signal(32)
        job_end = cp.job_end.job_done.value | cp.job_end.job_error.value
        with m.If(host.ring_control.clear.value):
            m.d.sync += done.eq(0)
        with m.Elif(job_end):
            m.d.sync += done.eq(done + 1)
        cq_base = (host.cq_base_lo.addr.value, host.cq_base_hi.addr.value)
        m.d.comb += [
            fetcher.base.eq(
                Cat(Const(0, 5), host.ring_base_lo.addr.value, host.ring_base_hi.addr.value)
            ),
            fetcher.size_log2.eq(host.ring_size.log2.value),
            fetcher.tail.eq(host.ring_tail.index.value),
            fetcher.doorbell.eq(host.ring_doorbell.ring.value),
            fetcher.clear.eq(host.ring_control.clear.value),
            fetcher.done.eq(done),
            host.ring_head.index.value.eq(fetcher.head),
            host.ring_done.index.value.eq(done),
            host.ring_status.error.value.eq(fetcher.error),
            host.ring_status.fifo.value.eq(fetcher.level),
            host.ring_status.empty_doorbells.value.eq(fetcher.empty_doorbells),
            cp.ring_done.index.value.eq(done),
            cp.ring_size.log2.value.eq(host.ring_size.log2.value),
            cp.cq_base_lo.addr.value.eq(cq_base[0]),
            cp.cq_base_hi.addr.value.eq(cq_base[1]),
        ]

        # The entry at the head of the FIFO, presented to the firmware; zero while it is empty.
        head = fetcher.entries
        bits = head.payload.entry.as_value() & head.valid.replicate(
            len(head.payload.entry.as_value())
        )
        m.d.comb += [
            cp.entry_count.count.value.eq(fetcher.level),
            cp.entry_index.index.value.eq(head.payload.index & head.valid.replicate(32)),
            head.ready.eq(cp.entry_pop.pop.value),
        ]
        for i in range(len(bits) // 32):
            m.d.comb += getattr(cp, f"entry_w{i}").data.value.eq(bits.word_select(i, 32))

        # The DMA engine, programmed by the firmware; a start while busy is dropped.
        m.d.comb += [
            dma.cmd.valid.eq(cp.dma_start.start.value),
            dma.cmd.payload.kind.eq(cp.dma_control.kind.value),
            dma.cmd.payload.src.eq(Cat(cp.dma_src_lo.addr.value, cp.dma_src_hi.addr.value)),
            dma.cmd.payload.dst.eq(Cat(cp.dma_dst_lo.addr.value, cp.dma_dst_hi.addr.value)),
            dma.cmd.payload.row_bytes.eq(cp.dma_row_bytes.count.value),
            dma.cmd.payload.rows.eq(cp.dma_rows.count.value),
            dma.cmd.payload.src_pitch.eq(cp.dma_src_pitch.bytes.value),
            dma.cmd.payload.dst_pitch.eq(cp.dma_dst_pitch.bytes.value),
            dma.cmd.payload.pattern.eq(cp.dma_pattern.value.value),
            dma.cmd.payload.translate.eq(cp.dma_control.translate.value),
            dma.cmd.payload.fetch.eq(cp.dma_control.fetch.value),
            dma.cmd.payload.asid.eq(cp.dma_control.asid.value),
            cp.dma_status.busy.value.eq(dma.busy),
            cp.dma_status.error.value.eq(dma.error),
        ]

        # The firmware's status and a free-running cycle counter.
        cycles = Signal(32)
        m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += [
            cp.cycles.count.value.eq(cycles),
            host.fw_status.ready.value.eq(cp.fw_status.ready.value),
            host.fw_version.major.value.eq(cp.fw_version.major.value),
            host.fw_version.minor.value.eq(cp.fw_version.minor.value),
            host.fw_version.patch.value.eq(cp.fw_version.patch.value),
        ]

        # Interrupts: the events raise raw status bits (as does int_set on the host); the masks
        # select which of them drive the lines. Each line comes straight from the status flops,
        # so it falls in the cycle a clearing write is accepted, before the write's response: a
        # handler that returns after its acknowledge never sees a stale level and re-enters.
        m.d.comb += [
            host.int_raw_status.job_done.set.eq(cp.job_end.job_done.value),
            host.int_raw_status.job_error.set.eq(cp.job_end.job_error.value),
            host.int_raw_status.queue_error.set.eq(fetcher.error_event),
            host.int_raw_status.mmu_fault.set.eq(mmu.event),
            host.int_raw_status.tlb_inv_done.set.eq(mmu.inv_done),
            # Level-like: re-raised while entries wait, even right after the firmware clears it.
            cp.cp_int_raw_status.entry.set.eq(head.valid),
            cp.cp_int_raw_status.dma_done.set.eq(dma.done),
        ]
        m.d.comb += self.irq.eq(self._mask(m, host, HOST, "int", test_set=True))
        m.d.comb += self.cp_irq.eq(self._mask(m, cp, CP, "cp_int"))
        return m

    def _connect_mmu(self, m, mmu, host, cp):
        """Wire the address-space banks, invalidation and counters to the MMU."""
        for i, aspace in enumerate(mmu.aspace):
            bank = HOST.bank("aspace", i)
            regs = {reg.local: getattr(host, reg.name) for reg in bank}
            record = aspace.fault
            m.d.comb += [
                aspace.ttbr.eq(
                    Cat(Const(0, 12), regs["ttbr_lo"].addr.value, regs["ttbr_hi"].addr.value)
                ),
                aspace.enable.eq(regs["control"].enable.value),
                aspace.bypass.eq(regs["control"].bypass.value),
                aspace.ack.eq(regs["fault_ack"].ack.value),
                regs["fault_status"].kind.value.eq(record.kind),
                regs["fault_status"].table_level.value.eq(record.level),
                regs["fault_status"].access.value.eq(record.access),
                regs["fault_status"].count.value.eq(record.count),
                regs["fault_addr_lo"].addr.value.eq(record.addr[:32]),
                regs["fault_addr_hi"].addr.value.eq(record.addr[32:]),
            ]
        m.d.comb += [
            host.mmu_fault_pending.aspaces.value.eq(mmu.stopped),
            cp.mmu_stopped.aspaces.value.eq(mmu.stopped),
            cp.mmu_info.addr_spaces.value.eq(self.config.addr_spaces),
            mmu.everything.eq(host.tlb_inv_command.everything.value),
            mmu.by_asid.eq(host.tlb_inv_command.by_asid.value),
            mmu.by_range.eq(host.tlb_inv_command.by_range.value),
            mmu.inv_asid.eq(host.tlb_inv_asid.asid.value),
            mmu.inv_first.eq(Cat(host.tlb_inv_addr_lo.addr.value, host.tlb_inv_addr_hi.addr.value)),
            mmu.inv_pages.eq(host.tlb_inv_pages.count.value),
            host.tlb_inv_status.busy.value.eq(mmu.inv_busy),
            host.tlb_inv_status.count.value.eq(mmu.inv_count),
            host.mmu_tlb_hits.count.value.eq(mmu.hits),
            host.mmu_tlb_misses.count.value.eq(mmu.misses),
            host.mmu_walk_reads.count.value.eq(mmu.reads),
        ]

    @staticmethod
    def _mask(m, ports, regmap, prefix, test_set=False):
        """Drive ``<prefix>_status = <prefix>_raw_status & <prefix>_mask``; return its OR."""
        pending = []
        raw_reg = getattr(ports, f"{prefix}_raw_status")
        for name in getattr(regmap, f"{prefix}_raw_status").field_names():
            raw = getattr(raw_reg, name)
            enabled = raw.value & getattr(getattr(ports, f"{prefix}_mask"), name).value
            m.d.comb += getattr(getattr(ports, f"{prefix}_status"), name).value.eq(enabled)
            if test_set:
                with m.If(getattr(ports.int_set, name).value):
                    m.d.comb += raw.set.eq(1)
            pending.append(enabled)
        return Cat(pending).any()

    @staticmethod
    def _connect_lite(m, manager, subordinate):
        """Connect an AXI4-Lite manager port to a subordinate with fewer address bits."""
        for name, member in manager.signature.members.items():
            o, i = getattr(manager, name), getattr(subordinate, name)
            if member.flow == Out:
                m.d.comb += i.eq(o[: len(i)] if name.endswith("addr") else o)
            else:
                m.d.comb += o.eq(i)
