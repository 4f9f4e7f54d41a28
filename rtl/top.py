"""The NPU top level: host and control-processor registers, the job path, the memory master."""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arbiter import ReadArbiter
from .axi import AXI4LiteSignature, AXI4Signature, forward
from .config import MEM_ADDR_WIDTH, NpuConfig
from .cp_commands import dma_command_port, matrix_op_port
from .cpbus import LiteDecoder, SramWindow
from .dma import DmaEngine
from .fifo import StreamFifo
from .lite import connect_lite
from .local_bus import LocalBus
from .localmap import LOCAL_ADDR_WIDTH, Geometry, Region, local_address
from .matrix_unit import MatrixOp, MatrixUnit
from .mmu import Mmu
from .perf import PerfCounters
from .ppu import LATENCY, PostProcessor
from .pte import INPUT_ADDR_WIDTH, PAGE_SHIFT
from .queue import MAX_SIZE_LOG2, MIN_SIZE_LOG2, RingFetcher
from .regmap import CP, HOST
from .regmap.bind import bind, group_value
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
#: Matrix operations the firmware can queue ahead of the matrix unit (the queue's FIFO, and the
#: command stage in front of it).
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

    def elaborate(self, platform):
        """The registers, the engines, and the wiring between them (each part a helper below)."""
        m = Module()
        config = self.config
        width = config.mem_data_width
        host, cp, sram = self._registers(m)
        geometry = Geometry.of(config, CP_SRAM_BYTES)

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
        m.submodules.mmu = mmu = Mmu(
            addr_spaces=config.addr_spaces,
            tlb_entries=config.tlb_entries,
            ports=2,
            data_width=width,
            id_width=MEM_ID_WIDTH,
        )
        m.submodules.local = local = LocalBus(geometry)
        wiring.connect(m, dma.sram_rd, local.dma_rd)
        wiring.connect(m, dma.sram_wr, local.dma_wr)
        wiring.connect(m, local.sram_rd, sram.read_port())
        wiring.connect(m, local.sram_wr, sram.write_port(granularity=8))
        wiring.connect(m, dma.xlate_rd, mmu.t[0])
        wiring.connect(m, dma.xlate_wr, mmu.t[1])
        dma_queue = dma_command_port(
            m, cp, depth=config.dma_queue_depth, busy=dma.busy, done=dma.done, error=dma.error
        )
        wiring.connect(m, dma_queue.o, dma.cmd)
        matrix = _compute(m, geometry, local, cp)

        self._memory_port(m, fetcher, dma, mmu, matrix)
        _ring(m, host, cp, fetcher)
        _connect_mmu(m, mmu, host, cp)
        _counters(m, geometry, local, host, cp, dma, mmu, matrix)
        _raise_interrupts(m, host, cp, fetcher, dma_queue, mmu, matrix)
        m.d.comb += [
            self.irq.eq(_interrupt_line(m, host, "int_", set_by="int_set")),
            self.cp_irq.eq(_interrupt_line(m, cp, "cp_int_")),
        ]
        return m

    def _registers(self, m):
        """The host's register block, and the control processor's window: registers and SRAM.

        Capability fields report their parameters; the firmware's status is mirrored to the host.
        Returns the two register blocks and the SRAM.
        """
        width = self.config.mem_data_width
        # Address-space banks beyond the configured count are not implemented.
        absent = {reg.name for reg in HOST if reg.bank and reg.bank[1] >= self.config.addr_spaces}
        m.submodules.regs = host = RegisterBlock(HOST, addr_width=HOST_ADDR_WIDTH, omit=absent)
        wiring.connect(m, wiring.flipped(self.host), host.bus)

        m.submodules.cp_decoder = decoder = LiteDecoder(addr_width=CP_ADDR_WIDTH)
        m.submodules.cp_regs = cp = RegisterBlock(CP, addr_width=CP_ADDR_WIDTH - 1)
        m.submodules.cp_sram = window = SramWindow(
            addr_width=CP_ADDR_WIDTH, sram_bytes=CP_SRAM_BYTES, data_width=width
        )
        wiring.connect(m, wiring.flipped(self.cp), decoder.bus)
        connect_lite(m, decoder.low, cp.bus)
        wiring.connect(m, decoder.high, window.bus)
        m.submodules.sram = sram = Memory(
            shape=unsigned(width), depth=CP_SRAM_BYTES * 8 // width, init=[]
        )
        wiring.connect(m, window.rd, sram.read_port())
        wiring.connect(m, window.wr, sram.write_port(granularity=8))

        values = self.capability_values()
        for regs in (host, cp):
            for reg in regs.regmap:
                for field in reg.fields:
                    if field.param is not None:
                        m.d.comb += regs.port(reg.name, field.name).value.eq(values[field.param])
        _mirror(m, cp, host, "fw_status", "fw_version")
        cycles = Signal(32)  # free-running, for the firmware's cost accounting
        m.d.sync += cycles.eq(cycles + 1)
        m.d.comb += cp.f.cycles.count.value.eq(cycles)
        return host, cp, sram

    def _memory_port(self, m, fetcher, dma, mmu, matrix):
        """Share ``mem`` between the engines' reads (by ID) and the DMA's writes; the activity."""
        m.submodules.reads = reads = ReadArbiter(
            managers=3,
            data_width=self.config.mem_data_width,
            addr_width=MEM_ADDR_WIDTH,
            id_width=MEM_ID_WIDTH,
        )
        forward(m, reads.m[MemId.DMA], dma.mem, prefixes=("ar", "r"))
        forward(m, reads.m[MemId.FETCHER], fetcher.mem, ("ar", "r"))
        forward(m, reads.m[MemId.WALKER], mmu.mem, ("ar", "r"))
        forward(m, self.mem, reads.mem)
        forward(m, self.mem, dma.mem, prefixes=("aw", "w", "b"))
        m.d.comb += [
            self.activity.fetch.eq(_reading(m, fetcher.mem)),
            self.activity.walk.eq(_reading(m, mmu.mem)),
            self.activity.dma.eq(dma.busy),
            self.activity.array.eq(matrix.busy),
        ]


def _mirror(m, source, target, *names):
    """Drive the fields of ``target``'s registers ``names`` from the same fields of ``source``."""
    for name in names:
        for field in getattr(target.regmap, name).fields:
            port = target.port(name, field.name).value
            m.d.comb += port.eq(source.port(name, field.name).value)


def _reading(m, port):
    """High from a read's address until its last beat, on one manager's ``ar``/``r``."""
    outstanding = Signal()
    with m.If(port.arvalid & port.arready):
        m.d.sync += outstanding.eq(1)
    with m.Elif(port.rvalid & port.rready & port.rlast):
        m.d.sync += outstanding.eq(0)
    return port.arvalid | outstanding


def _ring(m, host, cp, fetcher):
    """The command ring: its registers, the jobs-done count, the entry presented to the CP."""
    members = ("base", "size_log2", "tail", "doorbell", "clear", "head", "error", "level")
    bind(
        m, host, "ring_", fetcher, members=(*members, "empty_doorbells"), aliases={"level": "fifo"}
    )
    done = Signal(32)  # jobs ended, as the firmware reports them
    with m.If(host.f.ring_control.clear.value):
        m.d.sync += done.eq(0)
    with m.Elif(cp.f.job_end.job_done.value | cp.f.job_end.job_error.value):
        m.d.sync += done.eq(done + 1)
    m.d.comb += [
        fetcher.done.eq(done),
        host.f.ring_done.index.value.eq(done),
        cp.f.ring_done.index.value.eq(done),
    ]
    _mirror(m, host, cp, "ring_size", "cq_base_lo", "cq_base_hi")

    # The entry at the head of the FIFO, presented to the firmware; zero while it is empty.
    head = fetcher.entries
    bits = head.payload.entry.as_value() & head.valid.replicate(len(head.payload.entry.as_value()))
    words = [cp.port(reg.name, "data").value for reg in CP if reg.name.startswith("entry_w")]
    assert 32 * len(words) == len(bits), "the entry_w registers hold one ring entry"
    m.d.comb += [word.eq(bits.word_select(i, 32)) for i, word in enumerate(words)]
    m.d.comb += [
        cp.f.entry_count.count.value.eq(fetcher.level),
        cp.f.entry_index.index.value.eq(head.payload.index & head.valid.replicate(32)),
        head.ready.eq(cp.f.entry_pop.pop.value),
    ]


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
    m.submodules.acc = acc = Memory(shape=unsigned(g.acc_lanes * 32), depth=g.acc_words, init=[])
    wiring.connect(m, local.input_wr, inputs.dma)
    wiring.connect(m, local.weight_wr, weights.dma)
    wiring.connect(m, local.params_wr, params.dma)

    # The command stage in front of the FIFO is the queue's last entry.
    m.submodules.matrix_ops = ops = StreamFifo(MatrixOp, depth=MATRIX_QUEUE_DEPTH - 1)
    m.submodules.matrix = matrix = MatrixUnit(g)
    push = matrix_op_port(m, cp, level=ops.level, busy=matrix.busy, done=matrix.done)
    wiring.connect(m, push, ops.w)
    wiring.connect(m, ops.r, matrix.ops)
    wiring.connect(m, matrix.wt, weights.rd)
    wiring.connect(m, matrix.acc_rd, acc.read_port())
    wiring.connect(m, matrix.acc_wr, acc.write_port(granularity=32))
    m.d.comb += [inputs.rd_addr.eq(matrix.in_addr), matrix.in_data.eq(inputs.rd_data)]

    m.submodules.ppu = ppu = PostProcessor(g)
    wiring.connect(m, ppu.acc, acc.read_port())
    wiring.connect(m, ppu.params, params.rd)
    settings = ("zero_point", "act_min", "act_max", "row_log2", "param_base")
    bind(m, cp, "ppu_", ppu, members=settings)
    m.d.comb += [
        ppu.rd_addr.eq(local.ppu_addr),
        ppu.rd_wide.eq(local.ppu_wide),
        ppu.rd_en.eq(local.ppu_en),
        local.ppu_data.eq(ppu.rd_data),
    ]
    info = cp.f.compute_info
    m.d.comb += [
        info.array_log2.value.eq(g.log2(g.array_size)),
        info.bus_log2.value.eq(g.log2(g.bus_bytes)),
        info.input_log2.value.eq(g.log2(g.input_bytes)),
        info.weight_log2.value.eq(g.log2(g.weight_bytes)),
        info.acc_log2.value.eq(g.log2(g.acc_bytes)),
    ]
    return matrix


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
    bind(m, host, "perf_", perf.totals)
    m.d.comb += [
        perf.job_start.eq(cp.f.perf_control.job_start.value),
        perf.rd_addr.eq(local.perf_addr),
        perf.rd_en.eq(local.perf_en),
        local.perf_data.eq(perf.rd_data),
    ]


def _connect_mmu(m, mmu, host, cp):
    """Wire the address-space banks, invalidation and counters to the MMU."""
    for i, aspace in enumerate(mmu.aspace):
        prefix = HOST.bank("aspace", i).prefix
        bind(m, host, prefix, aspace, members=("ttbr", "enable", "bypass", "ack"))
        bind(m, host, f"{prefix}fault_", aspace.fault, aliases={"level": "table_level"})
    invalidation = ("everything", "by_asid", "by_range", "inv_asid", "inv_pages")
    bind(
        m,
        host,
        "tlb_",
        mmu,
        members=(*invalidation, "inv_busy", "inv_count"),
        aliases={"inv_busy": "inv_status_busy", "inv_count": "inv_status_count"},
    )
    m.d.comb += [
        mmu.inv_first.eq(group_value(host, "tlb_inv_", "addr")[PAGE_SHIFT:]),
        host.f.mmu_fault_pending.aspaces.value.eq(mmu.stopped),
        cp.f.mmu_stopped.aspaces.value.eq(mmu.stopped),
        host.f.mmu_tlb_hits.count.value.eq(mmu.hits),
        host.f.mmu_tlb_misses.count.value.eq(mmu.misses),
        host.f.mmu_walk_reads.count.value.eq(mmu.reads),
    ]


def _raise_interrupts(m, host, cp, fetcher, dma_queue, mmu, matrix):
    """Raise the raw interrupt status bits on their events."""
    raw, cp_raw = host.f.int_raw_status, cp.f.cp_int_raw_status
    m.d.comb += [
        raw.job_done.set.eq(cp.f.job_end.job_done.value),
        raw.job_error.set.eq(cp.f.job_end.job_error.value),
        raw.bus_error.set.eq(cp.f.job_end.record_lost.value),
        raw.queue_error.set.eq(fetcher.error_event),
        raw.mmu_fault.set.eq(mmu.event),
        raw.tlb_inv_done.set.eq(mmu.inv_done),
        # Level-like: re-raised while entries wait, even right after the firmware clears it.
        cp_raw.entry.set.eq(fetcher.entries.valid),
        cp_raw.dma_done.set.eq(dma_queue.notify),
        cp_raw.matrix_done.set.eq(matrix.done),
    ]


def _interrupt_line(m, regs, prefix, set_by=None):
    """Drive ``<prefix>status = <prefix>raw_status & <prefix>mask``; return its OR, the line.

    The raw bits are raised by their events (and by the PULSE register ``set_by``, the host's
    int_set); the masks select which drive the line. The line comes straight from the status
    flops, so it falls in the cycle a clearing write is accepted, before the write's response:
    a handler that returns after its acknowledge never sees a stale level and re-enters.
    """
    raw, mask, status = (f"{prefix}{name}" for name in ("raw_status", "mask", "status"))
    pending = []
    for name in getattr(regs.regmap, raw).field_names():
        enabled = regs.port(raw, name).value & regs.port(mask, name).value
        m.d.comb += regs.port(status, name).value.eq(enabled)
        if set_by is not None:
            with m.If(regs.port(set_by, name).value):
                m.d.comb += regs.port(raw, name).set.eq(1)
        pending.append(enabled)
    return Cat(pending).any()
