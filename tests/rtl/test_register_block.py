"""The generated AXI4-Lite register block's behaviour, field kind by field kind, on every map.

The ABI itself (offsets, fields, resets) is pinned once, by ``test_regmap.py``'s golden listing.
These tests take the registers from the maps (``HOST`` and ``CP``, each at its bus width in the
NPU) and check what the block does with every one of them, against :class:`Expected`: a model of
the documented behaviour of each field kind (``rtl/regmap/block.py``). The block is driven from
its AXI4-Lite port with the kit's manager coroutines and from its hardware-side ports.
"""

import random
from dataclasses import dataclass, field

import pytest
from amaranth.hdl import Fragment
from rtl_kit import (
    OKAY,
    axil_read,
    axil_reads,
    axil_write,
    construction_error,
    offer_write,
    read_ok,
    simulate,
)
from rtl_kit import write_ok as _write_ok
from tinynpu.rtl.regmap import CP, HOST, Field, Kind, Register, RegisterMap
from tinynpu.rtl.regmap.block import RegisterBlock, fields_signature
from tinynpu.rtl.top import CP_ADDR_WIDTH, HOST_ADDR_WIDTH

#: Each map at the address width of its block in the NPU.
MAPS = [
    pytest.param(HOST, HOST_ADDR_WIDTH, id="host"),
    pytest.param(CP, CP_ADDR_WIDTH - 1, id="cp"),
]
#: Write data patterns; "distinct" is a different random word per register.
PATTERNS = [0xFFFFFFFF, 0xA5A5A5A5, 0x5A5A5A5A, 0x12345678, 0x00000000, "distinct"]
STROBES = [0b0000, 0b0001, 0b0010, 0b0100, 0b1000, 0b0101, 0b1010, 0b1100, 0b1111]


def registers(regmap, kind, omit=()):
    """The registers of ``regmap`` with a field of ``kind`` (not ``omit``), in offset order."""
    return [r for r in regmap if r.name not in omit and any(f.kind is kind for f in r.fields)]


def byte_mask(strb):
    return sum(0xFF << (8 * i) for i in range(4) if strb >> i & 1)


@dataclass
class Expected:
    """What each register reads and each hardware-side output holds, by the kinds' rules.

    RW fields store the strobed bytes of a write; RO fields read what the hardware drives (0
    until driven); CONST fields read their reset value; W1C fields latch ``set`` and clear the
    bits written as 1; PULSE fields read 0 and present the strobed written bits for one cycle.
    Omitted registers, and addresses with no register, read 0.
    """

    regmap: RegisterMap
    omit: frozenset = frozenset()
    state: dict = field(default_factory=dict)

    def __post_init__(self):
        for reg in self.regmap:
            for f in reg.fields:
                self.state[reg.name, f.name] = f.reset or 0

    def read(self, reg):
        if reg.name in self.omit:
            return 0
        return sum(f.put(self.state[reg.name, f.name]) for f in reg.fields if f.kind != Kind.PULSE)

    def write(self, reg, data, strb=0xF):
        """Apply a write; return the PULSE fields' pulses ``{(reg, field): value}``."""
        if reg is None or reg.name in self.omit:
            return {}
        data &= byte_mask(strb)
        pulses = {}
        for f in reg.fields:
            key, bits, enable = (reg.name, f.name), f.get(data), f.get(byte_mask(strb))
            if f.kind is Kind.RW:
                self.state[key] = (self.state[key] & ~enable) | bits
            elif f.kind is Kind.W1C:
                self.state[key] &= ~bits
            elif f.kind is Kind.PULSE and bits:
                pulses[key] = bits
        return pulses


class Bench:
    """One block and its expected state; the testbench's helpers."""

    def __init__(self, ctx, dut, expected):
        self.ctx, self.dut, self.bus, self.expected = ctx, dut, dut.bus, expected
        self.regmap = expected.regmap

    def port(self, reg, f):
        return self.dut.port(reg.name, f.name)

    async def write(self, reg_or_addr, data, strb=0xF, *, offset=0):
        reg, addr = self._at(reg_or_addr)
        await _write_ok(self.ctx, self.bus, addr + offset, data, strb)
        return self.expected.write(reg, data, strb)

    async def check(self, regs=None):
        """Every register (or ``regs``) reads as expected, and every output holds its state."""
        regs = [r for r in (regs or self.regmap) if r.name not in self.expected.omit]
        got = await axil_reads(self.ctx, self.bus, [r.offset for r in regs])
        for reg, (data, resp) in zip(regs, got, strict=True):
            assert (data, resp) == (self.expected.read(reg), OKAY), reg.name
        self.check_outputs()

    def check_outputs(self):
        for reg in self.regmap:
            if reg.name in self.expected.omit:
                continue
            for f in reg.fields:
                if f.kind in (Kind.RW, Kind.W1C):
                    value = self.ctx.get(self.port(reg, f).value)
                    assert value == self.expected.state[reg.name, f.name], f"{reg.name}.{f.name}"
        assert self.pulses() == {}

    def drive(self, reg, values):
        """Drive RO fields: ``{field name: value}``."""
        for name, value in values.items():
            self.ctx.set(self.dut.port(reg.name, name).value, value)
            self.expected.state[reg.name, name] = value

    async def raise_bits(self, reg, names):
        """Pulse the ``set`` inputs of the W1C fields ``names`` of ``reg`` for one cycle."""
        for name in names:
            self.ctx.set(self.dut.port(reg.name, name).set, 1)
            self.expected.state[reg.name, name] = 1
        await self.ctx.tick()
        for name in names:
            self.ctx.set(self.dut.port(reg.name, name).set, 0)

    def pulses(self):
        """The PULSE outputs that are high now: ``{(register, field): value}``."""
        high = {}
        for reg in registers(self.regmap, Kind.PULSE, self.expected.omit):
            for f in reg.fields:
                value = self.ctx.get(self.port(reg, f).value)
                if value:
                    high[reg.name, f.name] = value
        return high

    def _at(self, reg_or_addr):
        if isinstance(reg_or_addr, Register):
            return reg_or_addr, reg_or_addr.offset
        return self.regmap.at(reg_or_addr & ~3 & (1 << len(self.bus.awaddr)) - 1), reg_or_addr


def run(regmap, width, bench, *, omit=frozenset()):
    """Run ``bench(Bench)`` on a fresh block of ``regmap`` without the ``omit`` registers."""
    dut = RegisterBlock(regmap, addr_width=width, omit=omit)

    async def testbench(ctx):
        await bench(Bench(ctx, dut, Expected(regmap, frozenset(omit))))

    simulate(dut, testbench)


def random_words(regs, seed):
    rng = random.Random(seed)
    return {reg.name: rng.getrandbits(32) for reg in regs}


def unmapped(regmap, width):
    """Addresses with no register: every gap word, the words past the map, the window's last
    word, and each register's aliases with one address bit above the map's span set."""
    span_bits = (regmap.span - 1).bit_length()
    gaps = [a for a in range(0, 1 << span_bits, 4) if regmap.at(a) is None]
    aliases = [r.offset | 1 << bit for r in regmap for bit in range(span_bits, width)]
    return sorted({*gaps, (1 << width) - 4, *aliases})


# --- reset ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_reset_reads_and_outputs(regmap, width):
    """After reset every register reads its fields' reset values (RO fields undriven: 0), at
    any of its four byte addresses, and every output holds its field's reset value."""

    async def bench(b):
        b.check_outputs()
        await b.check()
        for offset in (1, 2, 3):
            got = await axil_reads(b.ctx, b.bus, [r.offset + offset for r in regmap])
            assert got == [(b.expected.read(r), OKAY) for r in regmap], offset
        await b.ctx.tick().repeat(3)
        b.check_outputs()

    run(regmap, width, bench)


# --- RW ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p if isinstance(p, str) else hex(p))
@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_rw_storage(regmap, width, pattern):
    """Each RW register keeps its own fields' bits of a write, on its ports too; the two low
    address bits of the write are ignored."""
    regs = registers(regmap, Kind.RW)
    words = random_words(regs, 1) if pattern == "distinct" else dict.fromkeys(regs, pattern)

    async def bench(b):
        for i, reg in enumerate(regs):
            await b.write(reg, words.get(reg.name, pattern), offset=i % 4)
        await b.check()

    run(regmap, width, bench)


@pytest.mark.parametrize("strb", STROBES, ids=lambda s: f"{s:#06b}")
@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_rw_byte_strobes(regmap, width, strb):
    """A write changes only its strobed bytes (a field outside them is untouched)."""
    regs = registers(regmap, Kind.RW)
    first, second = random_words(regs, 2), random_words(regs, 3)

    async def bench(b):
        for reg in regs:
            await b.write(reg, first[reg.name])
        for reg in regs:
            await b.write(reg, second[reg.name], strb)
        await b.check()

    run(regmap, width, bench)


# --- RO and CONST -----------------------------------------------------------------------------


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_ro_reads_the_hardware_and_ignores_writes(regmap, width):
    """RO fields read what their ports are driven with at the time of the read, each register
    its own; writes change neither them nor CONST fields."""
    ro = registers(regmap, Kind.RO)
    fixed = registers(regmap, Kind.RO) + registers(regmap, Kind.CONST)
    rng = random.Random(4)

    async def bench(b):
        for data in (0xFFFFFFFF, None, 0x00000000, 0x5A5A5A5A):
            for reg in ro:
                word = rng.getrandbits(32) if data is None else data
                b.drive(reg, {f.name: f.get(word) for f in reg.fields})
            await b.check()
            for reg in fixed:
                await b.write(reg, ~(data or 0) & 0xFFFFFFFF)
            await b.check()

    run(regmap, width, bench)


# --- W1C --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_w1c_sticky_and_cleared_by_ones(regmap, width):
    """A ``set`` bit stays until a write of 1 to it: to it alone, not to its neighbours; a write
    without ones, with ones only outside the fields or outside the strobes, clears nothing."""

    async def bench(b):
        for reg in registers(regmap, Kind.W1C):
            names = reg.field_names()
            others = ~reg.mask & 0xFFFFFFFF
            used = {byte for f in reg.fields for byte in range(f.lsb // 8, f.msb // 8 + 1)}
            unstrobed = 0xF & ~sum(1 << byte for byte in used)
            for name in names:
                await b.raise_bits(reg, [name])
                await b.ctx.tick().repeat(5)
                await b.check([reg])
                await b.raise_bits(reg, names)
                await b.write(reg, reg.field(name).mask)
                await b.check([reg])
            for data, strb in [(0, 0xF), (others, 0xF), (0xFFFFFFFF, 0), (0xFFFFFFFF, unstrobed)]:
                await b.write(reg, data, strb)
                await b.check([reg])
            await b.write(reg, reg.mask)
            await b.check()

    run(regmap, width, bench)


@pytest.mark.parametrize(
    ("other", "set_bit", "survives"),
    [(False, False, False), (False, True, True), (True, True, False)],
    ids=["clear-only", "set-wins", "set-other-bit"],
)
@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_w1c_set_in_the_clearing_cycle(regmap, width, other, set_bit, survives):
    """A ``set`` at the clock edge that accepts a write clearing the bit wins over the clear.

    With no set at that edge the clear must happen, so the construction is shown to hit the
    edge; a set of another bit at that edge does not protect it.
    """
    reg = registers(regmap, Kind.W1C)[0]
    target, neighbour = reg.fields[0], reg.fields[1]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        await b.raise_bits(reg, [target.name])
        offer_write(ctx, bus, reg.offset, target.mask)
        raised = b.port(reg, neighbour if other else target).set
        ctx.set(raised, set_bit)
        *_, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        assert awready and wready, "the idle block must accept the write at the first edge"
        for sig in (bus.awvalid, bus.wvalid, raised):
            ctx.set(sig, 0)
        expected = {target.name: int(survives), neighbour.name: int(other and set_bit)}
        for name, value in expected.items():
            assert ctx.get(b.dut.port(reg.name, name).value) == value, name
        ctx.set(bus.bready, 1)
        *_, bvalid = await ctx.tick().sample(bus.bvalid)
        assert bvalid
        ctx.set(bus.bready, 0)
        assert await read_ok(ctx, bus, reg.offset) == sum(
            reg.field(name).put(value) for name, value in expected.items()
        )

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_w1c_waiting_write_clears_only_when_accepted(regmap, width):
    """A write held off by a pending response does not clear until it is accepted."""
    reg = registers(regmap, Kind.W1C)[0]
    target = reg.fields[0]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        # The first write (of zero) leaves BVALID pending (BREADY low), so the second one waits.
        offer_write(ctx, bus, reg.offset, 0)
        await ctx.tick()
        ctx.set(bus.wdata, target.mask)
        await b.raise_bits(reg, [target.name])
        assert not ctx.get(bus.awready)
        await ctx.tick().repeat(2)
        assert ctx.get(b.port(reg, target).value) == 1
        ctx.set(bus.bready, 1)
        *_, awready = await ctx.tick().sample(bus.awready)
        assert awready
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        assert ctx.get(b.port(reg, target).value) == 0

    run(regmap, width, bench)


# --- PULSE ------------------------------------------------------------------------------------


async def traced_write(b, addr, data, strb=0xF, *, w_delay=2, cycles=6):
    """A write whose W comes ``w_delay`` cycles after AW; the PULSE outputs after each edge.

    Returns the cycle (from AWVALID) of the accepting edge and the trace.
    """
    bus, ctx = b.bus, b.ctx
    offer_write(ctx, bus, addr, data, strb, w=w_delay == 0, bready=1)
    accepted, trace = [], []
    for cycle in range(cycles):
        if cycle == w_delay:
            ctx.set(bus.wvalid, 1)
        *_, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        if awready and wready:
            accepted.append(cycle)
            ctx.set(bus.awvalid, 0)
            ctx.set(bus.wvalid, 0)
        trace.append(b.pulses())
    ctx.set(bus.bready, 0)
    assert len(accepted) == 1, accepted
    return accepted[0], trace


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_pulse_lasts_one_cycle_on_its_own_fields(regmap, width):
    """A write to a PULSE register pulses its strobed written bits, and nothing else, in the one
    cycle after the write is accepted (not before its W arrives); the register reads 0."""

    async def bench(b):
        for reg in registers(regmap, Kind.PULSE):
            cases = [(f.mask, 0xF) for f in reg.fields]
            cases += [(0xFFFFFFFF, 0xF), (0xFFFFFFFF, 0), (0, 0xF)]
            for data, strb in cases:
                pulses = b.expected.write(reg, data, strb)
                accepted, trace = await traced_write(b, reg.offset, data, strb)
                assert accepted == 2
                assert trace == [{}, {}, pulses, {}, {}, {}], (reg.name, hex(data), strb)
            await b.check()

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_pulse_back_to_back(regmap, width):
    """Writes to a PULSE register on consecutive edges give consecutive pulses of their bits."""
    reg = max(registers(regmap, Kind.PULSE), key=lambda r: len(r.fields))
    data = [f.mask for f in reg.fields] + [reg.mask, 0]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        offer_write(ctx, bus, reg.offset, 0, bready=1)
        trace = []
        for word in [*data, None, None]:
            if word is None:
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            else:
                ctx.set(bus.wdata, word)
            await ctx.tick()
            trace.append(b.pulses())
        expected = [b.expected.write(reg, word) for word in data] + [{}, {}]
        assert trace == expected

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_pulse_reads_zero_while_high(regmap, width):
    reg = registers(regmap, Kind.PULSE)[0]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        ctx.set(bus.araddr, reg.offset)
        ctx.set(bus.rready, 1)
        _, trace = await traced_write(b, reg.offset, reg.mask, w_delay=0, cycles=1)
        assert trace == [b.expected.write(reg, reg.mask)]
        ctx.set(bus.arvalid, 1)
        await ctx.tick()
        ctx.set(bus.arvalid, 0)
        *_, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
        assert (rvalid, rdata) == (1, 0)

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_pulse_changes_no_register(regmap, width):
    """PULSE registers only drive their outputs: every register reads as before after them."""

    async def bench(b):
        for reg in registers(regmap, Kind.RW):
            await b.write(reg, 0xFFFFFFFF)
        for reg in registers(regmap, Kind.PULSE):
            await b.write(reg, 0xFFFFFFFF)
        await b.check()

    run(regmap, width, bench)


# --- unmapped addresses and bus behaviour -----------------------------------------------------


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_unmapped_reads_zero_ignores_writes_and_pulses_nothing(regmap, width):
    """Addresses with no register read 0 before and after a write of ones, which changes no
    register and pulses no output; every access gets OKAY."""
    addrs = unmapped(regmap, width)
    rw = registers(regmap, Kind.RW)
    words = random_words(rw, 5)

    async def bench(b):
        for reg in rw:
            await b.write(reg, words[reg.name])
        for reg in registers(regmap, Kind.W1C):
            await b.raise_bits(reg, reg.field_names()[::2])
        assert await axil_reads(b.ctx, b.bus, addrs) == [(0, OKAY)] * len(addrs)
        for addr in addrs:
            _, trace = await traced_write(b, addr, 0xFFFFFFFF, w_delay=0, cycles=2)
            assert trace == [{}, {}], hex(addr)
        assert await axil_reads(b.ctx, b.bus, addrs) == [(0, OKAY)] * len(addrs)
        await b.check()

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_mixed_traffic_never_hangs(regmap, width):
    """Every access in a long mix of mapped and unmapped addresses completes with OKAY."""
    addrs = [r.offset for r in regmap] + unmapped(regmap, width)[::7]

    async def bench(b):
        for i, addr in enumerate(addrs):
            assert await axil_write(b.ctx, b.bus, addr, 0x01010101 * i, strb=i & 0xF) == OKAY
            _, resp = await axil_read(b.ctx, b.bus, addr)
            assert resp == OKAY

    run(regmap, width, bench)


def first(regmap, kind):
    """The first register whose fields are all of ``kind``."""
    return next(r for r in regmap if {f.kind for f in r.fields} == {kind})


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_back_to_back_reads(regmap, width):
    """With ARVALID and RREADY held high, one read completes per cycle after the first."""
    const, rw, ro = first(regmap, Kind.CONST), first(regmap, Kind.RW), first(regmap, Kind.RO)
    gap = unmapped(regmap, width)[0]
    order = [const.offset, rw.offset, gap, ro.offset, const.offset, ro.offset]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        await b.write(rw, 0xFEEDC0DE)
        b.drive(ro, {f.name: f.get(0xFFFFFFFF) for f in ro.fields})
        ctx.set(bus.rready, 1)
        ctx.set(bus.arvalid, 1)
        data = []
        for i in range(len(order) + 1):
            if i < len(order):
                ctx.set(bus.araddr, order[i])
            else:
                ctx.set(bus.arvalid, 0)
            *_, arready, rvalid, rdata = await ctx.tick().sample(bus.arready, bus.rvalid, bus.rdata)
            if i < len(order):
                assert arready, f"read {i} not accepted at once"
            assert rvalid == (i > 0), f"cycle {i}"
            if rvalid:
                data.append(rdata)
        reads = {a: b.expected.read(regmap.at(a)) if regmap.at(a) else 0 for a in order}
        assert data == [reads[a] for a in order]
        *_, rvalid = await ctx.tick().sample(bus.rvalid)
        assert not rvalid

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_back_to_back_writes(regmap, width):
    """With AWVALID, WVALID and BREADY held high, one write completes per cycle after the first."""
    one, two = registers(regmap, Kind.RW)[:2]
    gap = unmapped(regmap, width)[0]
    writes = [(one, 0x11111111), (two, 0x3), (one, 0x22222222), (gap, 0xFFFFFFFF)]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        for sig in (bus.bready, bus.awvalid, bus.wvalid):
            ctx.set(sig, 1)
        ctx.set(bus.wstrb, 0xF)
        for i in range(len(writes) + 1):
            if i < len(writes):
                target, data = writes[i]
                ctx.set(bus.awaddr, target if isinstance(target, int) else target.offset)
                ctx.set(bus.wdata, data)
            else:
                ctx.set(bus.awvalid, 0)
                ctx.set(bus.wvalid, 0)
            *_, awready, wready, bvalid = await ctx.tick().sample(
                bus.awready, bus.wready, bus.bvalid
            )
            if i < len(writes):
                assert awready and wready, f"write {i} not accepted at once"
                b.expected.write(b.regmap.at(target) if isinstance(target, int) else target, data)
            assert bvalid == (i > 0), f"cycle {i}"
            b.check_outputs()
        await b.check([one, two])

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_rvalid_held_until_rready(regmap, width):
    ro, const = first(regmap, Kind.RO), first(regmap, Kind.CONST)
    f = ro.fields[0]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        b.drive(ro, {f.name: 1})
        ctx.set(bus.araddr, ro.offset)
        ctx.set(bus.arvalid, 1)
        *_, arready = await ctx.tick().sample(bus.arready)
        assert arready
        # A second read is presented at once; it must wait behind the untaken data.
        ctx.set(bus.araddr, const.offset)
        b.drive(ro, {f.name: 0})
        for cycle in range(6):
            *_, rvalid, rdata, arready = await ctx.tick().sample(bus.rvalid, bus.rdata, bus.arready)
            assert (rvalid, rdata, arready) == (1, f.put(1), 0), f"cycle {cycle}"
        ctx.set(bus.rready, 1)
        *_, rvalid, rdata, arready = await ctx.tick().sample(bus.rvalid, bus.rdata, bus.arready)
        assert (rvalid, rdata, arready) == (1, f.put(1), 1)
        ctx.set(bus.arvalid, 0)
        *_, rvalid, rdata = await ctx.tick().sample(bus.rvalid, bus.rdata)
        assert (rvalid, rdata) == (1, const.reset)
        *_, rvalid = await ctx.tick().sample(bus.rvalid)
        assert not rvalid

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_bvalid_held_until_bready(regmap, width):
    reg = first(regmap, Kind.RW)
    f = reg.fields[0]

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        offer_write(ctx, bus, reg.offset, f.mask)
        *_, awready, wready = await ctx.tick().sample(bus.awready, bus.wready)
        assert awready and wready
        # A second write is presented at once; it must wait behind the untaken response.
        ctx.set(bus.wdata, 0)
        for cycle in range(6):
            *_, bvalid, bresp, awready, wready = await ctx.tick().sample(
                bus.bvalid, bus.bresp.as_value(), bus.awready, bus.wready
            )
            assert (bvalid, bresp, awready, wready) == (1, OKAY, 0, 0), f"cycle {cycle}"
            assert ctx.get(b.port(reg, f).value) == f.get(f.mask)
        ctx.set(bus.bready, 1)
        *_, bvalid, awready, wready = await ctx.tick().sample(bus.bvalid, bus.awready, bus.wready)
        assert (bvalid, awready, wready) == (1, 1, 1)
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        assert ctx.get(b.port(reg, f).value) == 0
        *_, bvalid = await ctx.tick().sample(bus.bvalid)
        assert bvalid
        *_, bvalid = await ctx.tick().sample(bus.bvalid)
        assert not bvalid

    run(regmap, width, bench)


@pytest.mark.parametrize(("aw_delay", "w_delay"), [(0, 3), (3, 0), (2, 2)])
@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_write_with_late_channel(regmap, width, aw_delay, w_delay):
    """AW and W may arrive in different cycles; the write lands once both are there."""
    reg = first(regmap, Kind.RW)

    async def bench(b):
        resp = await axil_write(
            b.ctx, b.bus, reg.offset, 0x76543210, aw_delay=aw_delay, w_delay=w_delay
        )
        assert resp == OKAY
        b.expected.write(reg, 0x76543210)
        await b.check([reg])

    run(regmap, width, bench)


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_read_and_write_together(regmap, width):
    """A read and a write presented in the same cycle both complete; the read sees old data."""
    reg = first(regmap, Kind.RW)
    old, new = reg.fields[0].mask & 0xAAAAAAAA, reg.fields[0].mask & 0x55555555

    async def bench(b):
        bus, ctx = b.bus, b.ctx
        await b.write(reg, old)
        offer_write(ctx, bus, reg.offset, new, bready=1)
        for sig, value in [(bus.araddr, reg.offset), (bus.arvalid, 1), (bus.rready, 1)]:
            ctx.set(sig, value)
        *_, awready, arready = await ctx.tick().sample(bus.awready, bus.arready)
        assert awready and arready
        for sig in (bus.awvalid, bus.wvalid, bus.arvalid):
            ctx.set(sig, 0)
        *_, bvalid, rvalid, rdata = await ctx.tick().sample(bus.bvalid, bus.rvalid, bus.rdata)
        assert (bvalid, rvalid, rdata) == (1, 1, old)
        b.expected.write(reg, new)
        await b.check([reg])

    run(regmap, width, bench)


# --- construction -----------------------------------------------------------------------------


@pytest.mark.parametrize(("regmap", "width"), MAPS)
def test_window_must_hold_the_map(regmap, width):
    """The smallest window that holds the map is enough; one address bit less is refused."""
    fits = (regmap.span - 1).bit_length()
    block = RegisterBlock(regmap, addr_width=fits)
    assert len(block.bus.awaddr) == fits
    Fragment.get(block, None)  # elaborates, and marks the block as used
    for bits in (fits - 1, 4):
        assert construction_error(RegisterBlock, regmap, addr_width=bits) == (
            f"Register map {regmap.name} spans {regmap.span} bytes, more than the "
            f"{1 << bits}-byte window of a {bits}-bit address"
        )


def test_exact_fit_and_one_byte_short():
    reg = Register("last", 0xC, (Field("value", 0, 32, Kind.RW, 0),))
    tiny = RegisterMap("tiny_map", (reg,))
    Fragment.get(RegisterBlock(tiny, addr_width=4), None)
    assert "tiny_map" in construction_error(RegisterBlock, tiny, addr_width=3)


# --- omitted registers --------------------------------------------------------------------------

#: The host's banks of a four-address-space configuration: banks 4 and up are not implemented.
PRESENT = 4
ABSENT = frozenset(r.name for r in HOST if r.bank and r.bank[1] >= PRESENT)


def test_omitted_registers_have_no_ports():
    block = RegisterBlock(HOST, addr_width=HOST_ADDR_WIDTH, omit=ABSENT)
    assert block.omit == ABSENT
    members = block.signature.members["f"].signature.members
    banked = {r.name for r in HOST if r.bank}
    assert {n for n in members if n in banked} == {
        r.name for r in HOST if r.bank and r.bank[1] < PRESENT
    }
    assert not any(hasattr(block.f, name) for name in ABSENT)
    assert "scratch" in members
    Fragment.get(block, None)  # elaborates, and marks the block as used


def test_fields_signature_omit():
    full = fields_signature(HOST).members
    assert set(full) == {r.name for r in HOST if any(f.kind is not Kind.CONST for f in r.fields)}
    members = fields_signature(HOST, {"scratch", "int_set"}).members
    assert set(members) == set(full) - {"scratch", "int_set"}
    assert set(fields_signature(HOST, ABSENT).members) == set(full) - ABSENT


def test_omitted_registers_read_zero_and_ignore_writes():
    """Every omitted register reads zero, before and after a write of all ones; the present
    banks keep their storage, ports and pulses beside them."""
    present = [r for r in HOST if r.bank and r.bank[1] < PRESENT]

    async def bench(b):
        absent = [r for r in HOST if r.name in ABSENT]
        assert await axil_reads(b.ctx, b.bus, [r.offset for r in absent]) == [(0, OKAY)] * len(
            absent
        )
        for reg in absent:
            _, trace = await traced_write(b, reg.offset, 0xFFFFFFFF, w_delay=0, cycles=2)
            assert trace == [{}, {}], reg.name
        assert await axil_reads(b.ctx, b.bus, [r.offset for r in absent]) == [(0, OKAY)] * len(
            absent
        )
        words = random_words(present, 6)
        for reg in present:
            if {f.kind for f in reg.fields} == {Kind.RO}:
                b.drive(reg, {f.name: f.get(words[reg.name]) for f in reg.fields})
            else:
                await b.write(reg, words[reg.name])
        await b.check()

    run(HOST, HOST_ADDR_WIDTH, bench, omit=ABSENT)


def test_omitted_plain_register():
    """A register outside the banks can be left out too: it reads zero, the others work."""
    reg = first(HOST, Kind.RW)

    async def bench(b):
        assert not hasattr(b.dut.f, reg.name)
        for other in registers(HOST, Kind.RW):
            await b.write(other, 0xDEADBEEF)
        await b.check()
        assert await read_ok(b.ctx, b.bus, reg.offset) == 0

    run(HOST, HOST_ADDR_WIDTH, bench, omit={reg.name})


@pytest.mark.parametrize(
    ("omit", "message"),
    [
        ({"bogus"}, "Register map npu_host has no registers ['bogus']"),
        (
            {"aspace16_ttbr_lo", "scratch", "bogus"},
            "Register map npu_host has no registers ['aspace16_ttbr_lo', 'bogus']",
        ),
        ({"ttbr_lo"}, "Register map npu_host has no registers ['ttbr_lo']"),
        ({"aspace"}, "Register map npu_host has no registers ['aspace']"),
    ],
    ids=["bogus", "sorted", "local-name", "bank-name"],
)
def test_omit_unknown_register(omit, message):
    assert construction_error(RegisterBlock, HOST, addr_width=16, omit=omit) == message
