"""The NPU top level: host and control-processor registers, the job path, the memory master."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arbiter import ReadArbiter
from .axi import AXI4LiteSignature, AXI4Signature, forward
from .config import MEM_ADDR_WIDTH, NpuConfig
from .cpbus import LiteDecoder, SramWindow
from .dma import DmaEngine
from .fifo import StreamFifo
from .local_bus import LocalBus
from .localmap import LOCAL_ADDR_WIDTH, Geometry, Region, local_address
from .matrix_unit import MatrixOp, MatrixUnit
from .mmu import Mmu
from .perf import PerfCounters
from .ppu import LATENCY, PostProcessor
from .pte import INPUT_ADDR_WIDTH
from .queue import MAX_SIZE_LOG2, MIN_SIZE_LOG2, RingFetcher
from .regmap import CP, HOST
from .regmap.block import RegisterBlock
from .scratchpad import InputBuffer, WideBuffer

__all__ = [
    "CP_ADDR_WIDTH",
    "CP_SRAM_BYTES",
    "HOST_ADDR_WIDTH",
    "MEM_ID_WIDTH",
    "Activity",
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
#: Matrix operations the firmware can queue ahead of the matrix unit.
MATRIX_QUEUE_DEPTH = 4


class MemId:
    """The AXI ID each engine's reads carry on the ``mem`` port."""

    DMA = 0
    FETCHER = 1
    WALKER = 2


class Activity(data.Struct):
    """What the engines are doing, one bit each: the ``activity`` debug port.

    Silicon brings such lines out to a trace or debug block; here they feed the per-job
    timeline. Nothing in the NPU depends on them.

    Attributes
    ----------
    fetch : 1 bit
        The ring fetcher has a read of a ring entry outstanding.
    walk : 1 bit
        The MMU's table walker has a descriptor read outstanding.
    dma : 1 bit
        The DMA engine is running a command.
    array : 1 bit
        The matrix unit has an operation queued or in the systolic array.
    """

    fetch: 1
    walk: 1
    dma: 1
    array: 1


def npu_signature(config: NpuConfig):
    """The NPU's ports for ``config`` (see :class:`NpuTop`)."""
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
            "activity": Out(Activity),
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
    activity : Out(Activity)
        Debug lines: which engines are busy, for timelines.
    """

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            raise TypeError(f"Configuration must be an NpuConfig, not {config!r}")
        self.config = config
        super().__init__(npu_signature(config))

    def capability_values(self):
        """Map each capability parameter name to the value the hardware reports.

        The elaboration parameters, and the design constants software must know: the physical
        and virtual address widths, the ring sizes the fetcher accepts, the matrix queue's depth.
        """
        return self.config.as_dict() | {
            "mem_addr_width": MEM_ADDR_WIDTH,
            "va_width": INPUT_ADDR_WIDTH,
            "ring_log2_min": MIN_SIZE_LOG2,
            "ring_log2_max": MAX_SIZE_LOG2,
            "matrix_queue_depth": MATRIX_QUEUE_DEPTH,
        }

    @staticmethod
    def _report_capabilities(m, regmap, regs, values):
        """Drive every field that names a parameter (the RDL ``param`` property) with its value."""
        for reg in regmap:
            for field in reg.fields:
                if field.param is not None:
                    port = getattr(getattr(regs, reg.name), field.name)
                    m.d.comb += port.value.eq(values[field.param])

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

        values = self.capability_values()
        self._report_capabilities(m, HOST, host, values)

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
        self._report_capabilities(m, CP, cp, values)

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
        geometry = Geometry.of(config, CP_SRAM_BYTES)
        m.submodules.dma = dma = DmaEngine(
            data_width=width,
            addr_width=MEM_ADDR_WIDTH,
            id_width=MEM_ID_WIDTH,
            sram_bytes=CP_SRAM_BYTES,
            local_regions=[
                (
                    local_address(region),
                    geometry.region_bytes(region),
                    geometry.readable(region),
                    geometry.writable(region),
                )
                for region in Region
            ],
            local_latency=LATENCY,
            local_addr_width=LOCAL_ADDR_WIDTH,
        )
        m.submodules.local = local = LocalBus(geometry)
        wiring.connect(m, dma.sram_rd, local.dma_rd)
        wiring.connect(m, dma.sram_wr, local.dma_wr)
        wiring.connect(m, local.sram_rd, sram.read_port())
        wiring.connect(m, local.sram_wr, sram.write_port(granularity=8))
        matrix = self._compute(m, geometry, local, cp)
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
        m.d.comb += [
            self.activity.fetch.eq(self._reading(m, fetcher.mem)),
            self.activity.walk.eq(self._reading(m, mmu.mem)),
            self.activity.dma.eq(dma.busy),
            self.activity.array.eq(matrix.busy),
        ]
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
            cp.cp_int_raw_status.matrix_done.set.eq(matrix.done),
        ]
        self._counters(m, geometry, local, host, cp, dma, mmu, matrix)
        m.d.comb += self.irq.eq(self._mask(m, host, HOST, "int", test_set=True))
        m.d.comb += self.cp_irq.eq(self._mask(m, cp, CP, "cp_int"))
        return m

    @staticmethod
    def _compute(m, geometry, local, cp):
        """The scratchpads, the matrix unit and its queue, the post-processor; the matrix unit."""
        g = geometry
        m.submodules.input_buffer = inputs = InputBuffer(
            n=g.array_size, bus_bytes=g.bus_bytes, size_bytes=g.input_bytes
        )
        m.submodules.weight_buffer = weights = WideBuffer(
            word_bytes=g.weight_word_bytes, bus_bytes=g.bus_bytes, size_bytes=g.weight_bytes
        )
        m.submodules.param_buffer = params = WideBuffer(
            word_bytes=g.params_word_bytes, bus_bytes=g.bus_bytes, size_bytes=g.params_bytes
        )
        m.submodules.acc = acc = Memory(
            shape=unsigned(g.acc_lanes * 32), depth=g.acc_words, init=[]
        )
        wiring.connect(m, local.input_wr, inputs.dma)
        wiring.connect(m, local.weight_wr, weights.dma)
        wiring.connect(m, local.params_wr, params.dma)

        m.submodules.matrix_ops = ops = StreamFifo(MatrixOp, depth=MATRIX_QUEUE_DEPTH)
        m.submodules.matrix = matrix = MatrixUnit(g)
        wiring.connect(m, ops.r, matrix.ops)
        wiring.connect(m, matrix.wt, weights.rd)
        wiring.connect(m, matrix.acc_rd, acc.read_port())
        wiring.connect(m, matrix.acc_wr, acc.write_port(granularity=32))
        m.d.comb += [
            inputs.rd_addr.eq(matrix.in_addr),
            matrix.in_data.eq(inputs.rd_data),
            ops.w.valid.eq(cp.mx_push.push.value),
            ops.w.payload.a_slot.eq(cp.mx_a.slot.value),
            ops.w.payload.b_addr.eq(cp.mx_b.addr.value),
            ops.w.payload.b_pitch.eq(cp.mx_b_pitch.bytes.value),
            ops.w.payload.acc_addr.eq(cp.mx_acc.addr.value),
            ops.w.payload.acc_row_log2.eq(cp.mx_acc.row_log2.value),
            ops.w.payload.accumulate.eq(cp.mx_acc.accumulate.value),
            ops.w.payload.k.eq(cp.mx_k.count.value),
            ops.w.payload.m.eq(cp.mx_m.count.value),
            ops.w.payload.n.eq(cp.mx_n.count.value),
            cp.mx_status.queued.value.eq(ops.level),
            cp.mx_status.full.value.eq(~ops.w.ready),
            cp.mx_status.busy.value.eq(matrix.busy),
        ]
        completed = Signal(16)
        m.d.sync += completed.eq(completed + matrix.done)
        m.d.comb += cp.mx_status.completed.value.eq(completed)

        m.submodules.ppu = ppu = PostProcessor(g)
        wiring.connect(m, ppu.acc, acc.read_port())
        wiring.connect(m, ppu.params, params.rd)
        m.d.comb += [
            ppu.rd_addr.eq(local.ppu_addr),
            ppu.rd_wide.eq(local.ppu_wide),
            ppu.rd_en.eq(local.ppu_en),
            local.ppu_data.eq(ppu.rd_data),
            ppu.zero_point.eq(cp.ppu_zero_point.value.value),
            ppu.act_min.eq(cp.ppu_act_min.value.value),
            ppu.act_max.eq(cp.ppu_act_max.value.value),
            ppu.row_log2.eq(cp.ppu_layout.row_log2.value),
            ppu.param_base.eq(cp.ppu_layout.param_base.value),
        ]
        lg = g.log2
        info = cp.compute_info
        m.d.comb += [
            info.array_log2.value.eq(lg(g.array_size)),
            info.bus_log2.value.eq(lg(g.bus_bytes)),
            info.input_log2.value.eq(lg(g.input_bytes)),
            info.weight_log2.value.eq(lg(g.weight_bytes)),
            info.acc_log2.value.eq(lg(g.acc_bytes)),
        ]
        return matrix

    @staticmethod
    def _reading(m, port):
        """High from a read's address until its last beat, on one manager's ``ar``/``r``."""
        outstanding = Signal()
        with m.If(port.arvalid & port.arready):
            m.d.sync += outstanding.eq(1)
        with m.Elif(port.rvalid & port.rready & port.rlast):
            m.d.sync += outstanding.eq(0)
        return port.arvalid | outstanding

    @staticmethod
    def _counters(m, geometry, local, host, cp, dma, mmu, matrix):
        """The performance counters: their events, the host's totals, the job's record."""
        external = {"tlb_hits": mmu.hits, "tlb_misses": mmu.misses, "walker_reads": mmu.reads}
        m.submodules.perf = perf = PerfCounters(bus_bytes=geometry.bus_bytes, external=external)
        mem = dma.mem
        r_beat = mem.rvalid & mem.rready
        w_beat = mem.wvalid & mem.wready
        local_beat = dma.sram_rd.en | dma.sram_wr.en.any()
        waiting = [port.valid & ~port.done for port in (dma.xlate_rd, dma.xlate_wr)]
        events = {
            "cycles": 1,
            "array_busy": matrix.step,
            "array_macs": matrix.macs,
            "array_bubbles": matrix.bubble,
            "array_idle": ~matrix.step & ~matrix.bubble,
            "dma_busy": dma.busy,
            "dma_read_bytes": Mux(r_beat, geometry.bus_bytes, 0),
            "dma_write_bytes": Mux(w_beat, sum(mem.wstrb), 0),
            "dma_mmu_wait": waiting[0] | waiting[1],
            "dma_stall": dma.busy & ~(r_beat | w_beat | local_beat),
            "matrix_ops": matrix.done,
            "dma_commands": dma.done,
        }
        for name, value in events.items():
            m.d.comb += getattr(perf.inc, name).eq(value)
        for name, value in external.items():
            m.d.comb += getattr(perf.totals_in, name).eq(value)
        for name in [*perf.inc.shape().members, *external]:
            m.d.comb += getattr(host, f"perf_{name}").count.value.eq(getattr(perf.totals, name))
        m.d.comb += [
            perf.job_start.eq(cp.perf_control.job_start.value),
            perf.rd_addr.eq(local.perf_addr),
            perf.rd_en.eq(local.perf_en),
            local.perf_data.eq(perf.rd_data),
        ]

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
