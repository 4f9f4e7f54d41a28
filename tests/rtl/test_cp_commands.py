"""The control processor's command registers as streams (``tinynpu.rtl.cp_commands``), and the
binding of register groups to layouts by member name (``tinynpu.rtl.regmap.bind``).

The command tests build the CP register block with the NPU's own wiring of the DMA command queue
and of the matrix operation (the functions the top level calls), program the registers over
AXI4-Lite and play the consumer of each stream: they hold ``ready`` low for many cycles, then
release it, and check every handshake's payload against the command as a :class:`DmaCommand` or
:class:`MatrixOp` constant, with the stream rule checked on every cycle (:class:`StreamLog`). For
the DMA queue the bench plays the engine: it takes a command when idle, stays busy a few cycles
and pulses ``done`` with a scripted result.
"""

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from rtl_kit import StreamLog, construction_error, offer_write, read_ok, simulate, write_ok
from tinynpu.rtl.cp_commands import dma_command_port, matrix_op_port
from tinynpu.rtl.dma import DmaCommand
from tinynpu.rtl.layouts import DmaError, DmaKind
from tinynpu.rtl.matrix_unit import MatrixOp
from tinynpu.rtl.regmap import CP, HOST, Field, Kind, Register, RegisterMap, split_address
from tinynpu.rtl.regmap.bind import bind, group_value
from tinynpu.rtl.regmap.block import RegisterBlock
from tinynpu.rtl.top import CP_ADDR_WIDTH, MATRIX_QUEUE_DEPTH

#: Cycles the consumer holds ``ready`` low.
HOLD = 40
#: Commands the DMA queue holds behind the running one, in these tests.
DMA_DEPTH = 4

DMA_A = {
    "kind": DmaKind.STORE,
    "src": 0xAB_1234_5678,
    "dst": 0x5A_8765_4321,
    "row_bytes": 0xABCDEF,
    "rows": 0x1234,
    "src_pitch": 0x1111_2222,
    "dst_pitch": 0x3333_4444,
    "pattern": 0xDEAD_BEEF,
    "translate": 1,
    "fetch": 1,
    "asid": 0xA,
    "notify": 1,
    "planes": 0xFEDC,
    "src_plane_pitch": 0x5555_6666,
    "dst_plane_pitch": 0x7777_8888,
    "volumes": 0x0BA9,
    "src_volume_pitch": 0x9999_AAAA,
    "dst_volume_pitch": 0xBBBB_CCCC,
}
DMA_B = {
    "kind": DmaKind.FILL_LOCAL,
    "src": 0x01_0203_0405,
    "dst": 0xFE_DCBA_9876,
    "row_bytes": 0x000101,
    "rows": 0x00FF,
    "src_pitch": 0x0000_0300,
    "dst_pitch": 0x8000_0001,
    "pattern": 0x0102_0304,
    "translate": 0,
    "fetch": 0,
    "asid": 0x5,
    "notify": 0,
    "planes": 0x0001,
    "src_plane_pitch": 0x0000_0040,
    "dst_plane_pitch": 0x0000_0100,
    "volumes": 0x0002,
    "src_volume_pitch": 0x0000_1000,
    "dst_volume_pitch": 0x0000_2000,
}
OP_A = {
    "a_slot": 0x0120,
    "b_addr": 0xABCD8,
    "b_pitch": 0x0400,
    "acc_addr": 0x12340,
    "acc_row_log2": 0x13,
    "accumulate": 1,
    "k": 0x100,
    "m": 0xBEEF,
    "n": 0x1234,
}
OP_B = {**OP_A, "a_slot": 0x0008, "k": 0x011, "accumulate": 0}
OP_C = {
    "a_slot": 0xFFF8,
    "b_addr": 0x00010,
    "b_pitch": 0xFFF0,
    "acc_addr": 0x00008,
    "acc_row_log2": 0x03,
    "accumulate": 0,
    "k": 0x001,
    "m": 0x0001,
    "n": 0xFFFF,
}


def bits(layout, fields):
    """The raw bits of a command, as the stream carries them."""
    return data.Layout.cast(layout).const(fields).as_bits()


class Commands(wiring.Component):
    """The CP registers and the NPU's command stages; the bench plays the engines behind them."""

    def __init__(self):
        self.regs = RegisterBlock(CP, addr_width=CP_ADDR_WIDTH - 1)
        super().__init__(
            {
                "dma": Out(stream.Signature(DmaCommand)),
                "dma_busy": In(1),
                "dma_done": In(1),
                "dma_error": In(DmaError),
                "dma_notify": Out(1),
                "ops": Out(stream.Signature(MatrixOp)),
                "level": In(range(MATRIX_QUEUE_DEPTH)),
                "matrix_busy": In(1),
                "done": In(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = regs = self.regs
        queue = dma_command_port(
            m, regs, depth=DMA_DEPTH, busy=self.dma_busy, done=self.dma_done, error=self.dma_error
        )
        ops = matrix_op_port(m, regs, level=self.level, busy=self.matrix_busy, done=self.done)
        wiring.connect(m, queue.o, wiring.flipped(self.dma))
        m.d.comb += self.dma_notify.eq(queue.notify)
        wiring.connect(m, ops, wiring.flipped(self.ops))
        return m


async def write(ctx, dut, name, **fields):
    await write_ok(ctx, dut.regs.bus, getattr(CP, name).offset, getattr(CP, name).encode(**fields))


async def fields(ctx, dut, name):
    reg = getattr(CP, name)
    return reg.decode(await read_ok(ctx, dut.regs.bus, reg.offset))


async def program_dma(ctx, dut, c):
    """Program the DMA command registers with command ``c``, register by register."""
    for side in ("src", "dst"):
        lo, hi = getattr(CP, f"dma_{side}_lo"), getattr(CP, f"dma_{side}_hi")
        for reg, value in zip((lo, hi), split_address(lo, hi, c[side]), strict=True):
            await write_ok(ctx, dut.regs.bus, reg.offset, value)
    await write(ctx, dut, "dma_row_bytes", count=c["row_bytes"])
    await write(ctx, dut, "dma_rows", count=c["rows"])
    await write(ctx, dut, "dma_src_pitch", bytes=c["src_pitch"])
    await write(ctx, dut, "dma_dst_pitch", bytes=c["dst_pitch"])
    await write(ctx, dut, "dma_pattern", value=c["pattern"])
    for name in ("planes", "volumes"):
        await write(ctx, dut, f"dma_{name}", count=c[name])
    for name in ("src_plane_pitch", "dst_plane_pitch", "src_volume_pitch", "dst_volume_pitch"):
        await write(ctx, dut, f"dma_{name}", bytes=c[name])
    control = {name: c[name] for name in ("translate", "fetch", "asid", "notify")}
    await write(ctx, dut, "dma_control", kind=c["kind"].value, **control)


async def program_op(ctx, dut, op):
    """Program the matrix operation registers with ``op``, register by register."""
    await write(ctx, dut, "mx_a", slot=op["a_slot"])
    await write(ctx, dut, "mx_b", addr=op["b_addr"])
    await write(ctx, dut, "mx_b_pitch", bytes=op["b_pitch"])
    acc = {"addr": op["acc_addr"], "row_log2": op["acc_row_log2"], "accumulate": op["accumulate"]}
    await write(ctx, dut, "mx_acc", **acc)
    await write(ctx, dut, "mx_k", count=op["k"])
    await write(ctx, dut, "mx_m", count=op["m"])
    await write(ctx, dut, "mx_n", count=op["n"])


class Engine:
    """The DMA engine, as the queue sees it: ``results`` scripts the result of each command.

    Idle, it raises ``ready``; a command taken keeps it busy ``cycles`` cycles, then ``done``
    pulses for one cycle with the next result (NONE once the script is used up). While
    ``paused`` it takes nothing.
    """

    def __init__(self, dut, results=(), cycles=3):
        self.dut, self.results, self.cycles = dut, list(results), cycles
        self.paused = False
        self.notified = []  # cycles of the notify pulses, from the start of the run

    async def run(self, ctx):
        dut, cycle = self.dut, 0
        while True:
            ctx.set(dut.dma.ready, not self.paused)
            *_, valid, ready, notify = await ctx.tick().sample(
                dut.dma.valid, dut.dma.ready, dut.dma_notify
            )
            cycle += 1
            if notify:
                self.notified.append(cycle)
            if not (valid and ready):
                continue
            ctx.set(dut.dma.ready, 0)
            ctx.set(dut.dma_busy, 1)
            await ctx.tick().repeat(self.cycles)
            ctx.set(dut.dma_busy, 0)
            ctx.set(dut.dma_done, 1)
            ctx.set(dut.dma_error, self.results.pop(0) if self.results else DmaError.NONE)
            await ctx.tick()
            ctx.set(dut.dma_done, 0)
            cycle += self.cycles + 1


def numbered(index, **extra):
    """DMA_B with ``rows`` = ``index``: commands told apart by their rows."""
    return {**DMA_B, "rows": index, **extra}


async def push(ctx, dut, c):
    await program_dma(ctx, dut, c)
    await write(ctx, dut, "dma_push", push=1)


def test_dma_queue_holds_depth_commands_and_runs_them_in_order():
    """With the engine stopped, DMA_DEPTH pushes wait (the last in the stage: full), the next is
    dropped; released, the engine gets each once, in order, and completed counts them."""
    dut = Commands()
    log = StreamLog(dut.dma)
    engine = Engine(dut)
    engine.paused = True

    async def bench(ctx):
        idle = {"busy": 0, "full": 0, "error": 0, "completed": 0}
        assert await fields(ctx, dut, "dma_status") == idle
        assert await fields(ctx, dut, "dma_queue") == {"queued": 0, "failed": 0}
        for index in range(1, DMA_DEPTH + 2):  # the last one is dropped
            await push(ctx, dut, numbered(index))
            waiting = min(index, DMA_DEPTH)
            assert await fields(ctx, dut, "dma_queue") == {"queued": waiting, "failed": 0}
        full = {**idle, "busy": 1, "full": 1}
        assert await fields(ctx, dut, "dma_status") == full
        await ctx.tick().repeat(HOLD)
        assert log.taken == []
        engine.paused = False
        await ctx.tick().repeat(DMA_DEPTH * 8)
        assert log.taken == [bits(DmaCommand, numbered(i)) for i in range(1, DMA_DEPTH + 1)]
        assert await fields(ctx, dut, "dma_status") == {**idle, "completed": DMA_DEPTH}
        assert await fields(ctx, dut, "dma_queue") == {"queued": 0, "failed": 0}
        assert engine.notified == []  # DMA_B does not ask for it

    simulate(dut, bench, background=[log.watch, engine.run])


def test_dma_queue_notifies_for_marked_commands_only():
    """notify pulses once after the done of each command pushed with notify, and never for the
    others; the stage's payload goes through the queue unchanged (DMA_A sets every field)."""
    dut = Commands()
    log = StreamLog(dut.dma)
    engine = Engine(dut, cycles=5)

    async def bench(ctx):
        marked = [numbered(1), {**DMA_A, "rows": 2}, numbered(3), numbered(4, notify=1)]
        for c in marked:
            await push(ctx, dut, c)
        await ctx.tick().repeat(60)
        assert log.taken == [bits(DmaCommand, c) for c in marked]
        assert len(engine.notified) == 2
        assert (await fields(ctx, dut, "dma_status"))["completed"] == 4

    simulate(dut, bench, background=[log.watch, engine.run])


def test_dma_error_in_the_middle_of_a_batch_halts_the_queue():
    """The second of five commands fails: it notifies (without notify), dma_status reads the
    error with both counted, dma_queue.failed names it, the three behind it are discarded and a
    push while halted is dropped; dma_clear resumes, and the next push runs."""
    dut = Commands()
    log = StreamLog(dut.dma)
    engine = Engine(dut, results=[DmaError.NONE, DmaError.MMU_FAULT], cycles=6)

    async def bench(ctx):
        for index in range(1, 6):
            await push(ctx, dut, numbered(index))
        await ctx.tick().repeat(HOLD)
        assert log.taken == [bits(DmaCommand, numbered(i)) for i in (1, 2)]
        assert len(engine.notified) == 1
        halted = {"busy": 0, "full": 0, "error": DmaError.MMU_FAULT.value, "completed": 2}
        assert await fields(ctx, dut, "dma_status") == halted
        assert await fields(ctx, dut, "dma_queue") == {"queued": 0, "failed": 1}
        await push(ctx, dut, numbered(6))  # halted: dropped
        await ctx.tick().repeat(HOLD)
        assert len(log.taken) == 2
        assert await fields(ctx, dut, "dma_status") == halted
        await write(ctx, dut, "dma_clear", clear=1)
        assert await fields(ctx, dut, "dma_status") == {**halted, "error": 0}
        await push(ctx, dut, numbered(7))
        await ctx.tick().repeat(HOLD)
        assert log.taken[2:] == [bits(DmaCommand, numbered(7))]
        assert await fields(ctx, dut, "dma_status") == {**halted, "error": 0, "completed": 3}
        assert await fields(ctx, dut, "dma_queue") == {"queued": 0, "failed": 1}

    simulate(dut, bench, background=[log.watch, engine.run])


def test_dma_push_around_a_failing_done_never_runs():
    """A failure with nothing behind it halts the same way. A push whose pulse reaches the queue
    at any cycle around the failing command's done (before: queued, then discarded; in the done
    cycle: discarded with the flush; after: dropped) never reaches the engine and leaves nothing
    queued. The sweep is checked to land a push one cycle before, in and one cycle after."""
    offsets = set()
    for delay in range(12, 17):
        offsets.add(_push_at_a_failing_done(delay))
    assert {-1, 0, 1} <= offsets, sorted(offsets)


def _push_at_a_failing_done(delay):
    """One run of the sweep; returns the push's cycle less the failing done's."""
    dut = Commands()
    log = StreamLog(dut.dma)
    engine = Engine(dut, results=[DmaError.READ_SLVERR], cycles=45)
    pulses = {"push": [], "done": []}
    pulse = dut.regs.port("dma_push", "push").value

    async def watch(ctx):
        cycle = 0
        async for *_, pushed, done in ctx.tick().sample(pulse, dut.dma_done):
            for name, high in (("push", pushed), ("done", done)):
                if high:
                    pulses[name].append(cycle)
            cycle += 1

    async def bench(ctx):
        await push(ctx, dut, numbered(1))  # taken by the engine as the write completes
        await program_dma(ctx, dut, numbered(2))
        await ctx.tick().repeat(delay)
        await write(ctx, dut, "dma_push", push=1)
        await ctx.tick().repeat(HOLD)
        assert log.taken == [bits(DmaCommand, numbered(1))]
        assert await fields(ctx, dut, "dma_status") == {
            "busy": 0,
            "full": 0,
            "error": DmaError.READ_SLVERR.value,
            "completed": 1,
        }
        assert await fields(ctx, dut, "dma_queue") == {"queued": 0, "failed": 0}

    simulate(dut, bench, background=[log.watch, engine.run, watch])
    (done,) = pulses["done"]
    return pulses["push"][1] - done


def test_matrix_push_held_until_the_queue_takes_it():
    """A push while the queue refuses is held and taken once later; the stage is the queue's
    last entry: mx_status counts it, reads full while it is taken, and a push then is dropped."""
    dut = Commands()
    log = StreamLog(dut.ops)
    depth = MATRIX_QUEUE_DEPTH

    async def bench(ctx):
        ctx.set(dut.level, depth - 1)
        await program_op(ctx, dut, OP_A)
        status = {"queued": depth - 1, "full": 0, "busy": 0, "completed": 0}
        assert await fields(ctx, dut, "mx_status") == status
        await write(ctx, dut, "mx_push", push=1)
        await program_op(ctx, dut, OP_B)
        assert await fields(ctx, dut, "mx_status") == {**status, "queued": depth, "full": 1}
        await write(ctx, dut, "mx_push", push=1)  # the queue is full: dropped
        await ctx.tick().repeat(HOLD)
        assert log.taken == []
        ctx.set(dut.ops.ready, 1)
        await ctx.tick().repeat(4)
        assert log.taken == [bits(MatrixOp, OP_A)]
        assert await fields(ctx, dut, "mx_status") == status
        await program_op(ctx, dut, OP_C)
        await write(ctx, dut, "mx_push", push=1)
        assert log.taken == [bits(MatrixOp, OP_A), bits(MatrixOp, OP_C)]
        ctx.set(dut.matrix_busy, 1)
        for _ in range(3):
            ctx.set(dut.done, 1)
            await ctx.tick()
            ctx.set(dut.done, 0)
        assert await fields(ctx, dut, "mx_status") == {**status, "busy": 1, "completed": 3}

    simulate(dut, bench, background=[log.watch])


def test_back_to_back_starts_each_taken_once():
    """Pushes on consecutive edges, the queue ready every other cycle: each push is taken exactly
    once, or dropped while the previous one is held."""
    dut = Commands()
    log = StreamLog(dut.ops)

    async def bench(ctx):
        await program_op(ctx, dut, OP_A)
        for cycle in range(3 * HOLD):
            ctx.set(dut.ops.ready, cycle % 2)
            if cycle == 2:
                offer_write(
                    ctx, dut.regs.bus, CP.mx_push.offset, CP.mx_push.encode(push=1), bready=1
                )
            if cycle == 6:
                ctx.set(dut.regs.bus.awvalid, 0)
                ctx.set(dut.regs.bus.wvalid, 0)
            await ctx.tick()
        # Four writes on four edges pulse push in loop cycles 3 to 6. The pushes of cycles 3 (ready)
        # and 4 (not ready: held, taken in 5) go through; 5's is dropped, the stage being full;
        # 6's is held and taken in 7.
        assert log.taken == [bits(MatrixOp, OP_A)] * 3
        assert [cycle - log.cycles[0] for cycle in log.cycles] == [0, 2, 4]

    simulate(dut, bench, background=[log.watch])


# --- bind -------------------------------------------------------------------------------------


def _field(name, lsb, width, kind=Kind.RW):
    return Field(name, lsb, width, kind, None if kind is Kind.RO else 0)


#: A group of command registers of every shape bind reads.
GROUP = RegisterMap(
    "group",
    (
        Register("c_base_lo", 0x00, (_field("addr", 4, 28),)),
        Register("c_base_hi", 0x04, (_field("addr", 0, 8),)),
        Register("c_ctl", 0x08, (_field("kind", 0, 3), _field("flag", 4, 1))),
        Register("c_len", 0x0C, (_field("count", 0, 16),)),
        Register("c_acc", 0x10, (_field("addr", 0, 20), _field("row_log2", 24, 5))),
        Register("c_stat", 0x14, (_field("busy", 0, 1, Kind.RO), _field("level", 8, 8, Kind.RO))),
        Register("c_go", 0x18, (_field("go", 0, 1, Kind.PULSE),)),
        Register("other", 0x1C, (_field("kind", 0, 3),)),
    ),
)
COMMAND = data.StructLayout(
    {"base": 40, "kind": 3, "flag": 1, "len": 16, "acc_addr": 20, "acc_row_log2": 5, "go": 1}
)
STATUS = data.StructLayout({"busy": 1, "level": 5})


class Bound(wiring.Component):
    """The group's registers bound to a command and a status."""

    def __init__(self):
        self.regs = RegisterBlock(GROUP, addr_width=5)
        super().__init__({"command": Out(COMMAND), "status": In(STATUS), "size": Out(16)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.regs = self.regs
        bind(m, self.regs, "c_", self.command)
        bind(m, self.regs, "c_", self.status)
        bind(m, self.regs, "c_", self, members=["size"], aliases={"size": "len"})
        m.d.comb += self.size.eq(group_value(self.regs, "c_", "len"))
        return m


def test_bind_reads_each_member_from_its_field():
    """A pair holds its value in place (zeros below the low field); a field matches by its name,
    by ``<register>_<field>``, or as the sole field of ``<prefix><member>``; RO fields read the
    members (zero-extended), PULSE fields drive them for one cycle."""
    dut = Bound()
    regs = dut.regs

    async def bench(ctx):
        bus = regs.bus
        for reg, value in [
            (GROUP.c_base_lo, 0xFEDC_BA90),
            (GROUP.c_base_hi, 0xA5),
            (GROUP.c_ctl, GROUP.c_ctl.encode(kind=5, flag=1)),
            (GROUP.c_len, 0xBEEF),
            (GROUP.c_acc, GROUP.c_acc.encode(addr=0x12345, row_log2=0x1B)),
        ]:
            await write_ok(ctx, bus, reg.offset, value)
        command = ctx.get(dut.command)
        assert {name: int(getattr(command, name)) for name, _ in COMMAND} == {
            "base": 0xA5_FEDC_BA90,
            "kind": 5,
            "flag": 1,
            "len": 0xBEEF,
            "acc_addr": 0x12345,
            "acc_row_log2": 0x1B,
            "go": 0,
        }
        assert ctx.get(dut.size) == 0xBEEF
        ctx.set(dut.status, {"busy": 1, "level": 0x1F})
        assert await read_ok(ctx, bus, GROUP.c_stat.offset) == 0x1F01
        offer_write(ctx, bus, GROUP.c_go.offset, 1, bready=1)
        await ctx.tick()
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        trace = [ctx.get(dut.command.go)]
        await ctx.tick()
        assert [*trace, ctx.get(dut.command.go)] == [1, 0]

    simulate(dut, bench)


def bind_error(layout, prefix="c_", **kwargs):
    """The message of the ValueError binding the group to ``layout`` raises."""

    def build():
        bind(Module(), RegisterBlock(GROUP, addr_width=5), prefix, Signal(layout), **kwargs)

    return construction_error(build)


@pytest.mark.parametrize(
    ("layout", "kwargs", "message"),
    [
        (
            {"missing": 1},
            {},
            "Member 'missing' is held by 0 fields of the c_* registers, not one: []",
        ),
        (
            {"kind": 3},
            {"prefix": ""},
            "Member 'kind' is held by 2 fields of the * registers, not one: "
            "['c_ctl.kind', 'other.kind']",
        ),
        ({"len": 8}, {}, "Member 'len' is 8 bits, its fields 16"),
        ({"base": 39}, {}, "Member 'base' is 39 bits, its fields 40"),
        ({"level": 9}, {}, "Member 'level' is 9 bits, its fields 8"),
        (
            {"size": 16},
            {"aliases": {"size": "length"}},
            "Member 'size' is held by 0 fields of the c_* registers, not one: []",
        ),
    ],
    ids=["missing", "ambiguous", "narrower", "pair-narrower", "ro-wider", "bad-alias"],
)
def test_bind_refuses_what_does_not_match(layout, kwargs, message):
    prefix = kwargs.pop("prefix", "c_")
    assert bind_error(data.StructLayout(layout), prefix, **kwargs) == message


def test_bank_prefix_names_its_registers():
    bank = HOST.bank("aspace", 2)
    assert bank.prefix == "aspace2_"
    assert all(reg.name == bank.prefix + reg.local for reg in bank)
