"""Unit tests of the MMU in amaranth.sim: translations, the walk cache, faults, the TLB, invalidation.

The MMU's walker reads page tables from the AXI4 memory model of ``axi_model.py``. The tables are
written once, by hand, as literal descriptors (:data:`TABLES`); every expected physical address,
fault record, counter value and descriptor read is a literal worked out from them.

Address spaces of every simulation (``addr_spaces=4``):

* 0: the tables of 1 (``ttbr=0x1000``) but not enabled: every access faults ``DISABLED``;
* 1: ``ttbr=0x1000``, enabled;
* 2: ``ttbr=0x8000``, enabled: the same virtual address 0x4000_0000 maps to another frame;
* 3: enabled, in bypass.

The bench drives the ports cycle by cycle (:meth:`Env.run`); it counts the cycles of each
request, checks that no port sees ``done`` without a request, and logs every ``event`` pulse.
"""

from dataclasses import dataclass

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator
from axi_model import AxiMemory, ErrorRange

from rtl.axi import AXI4Signature, Resp, forward
from rtl.layouts import pack
from rtl.mmu import Mmu
from rtl.pte import Descriptor
from rtl.translate import Access, FaultKind

READ, WRITE, FETCH = Access.READ, Access.WRITE, Access.FETCH
NONE, TRANSLATION, ACCESS_FLAG = FaultKind.NONE, FaultKind.TRANSLATION, FaultKind.ACCESS_FLAG
PERMISSION, BUS_ERROR = FaultKind.PERMISSION, FaultKind.BUS_ERROR
ADDRESS_SIZE, DISABLED = FaultKind.ADDRESS_SIZE, FaultKind.DISABLED

#: Cycles a request may take before it is declared hung.
LIMIT = 400
#: The model's memory: 64 KiB at 0; reads above answer DECERR.
MEM_SIZE = 0x1_0000
#: Beats of one descriptor read, per data width.
BEATS = {32: 2, 64: 1}


def desc(address, *, valid=1, table=1, af=1, **bits):
    return pack(
        Descriptor, {"valid": valid, "table": table, "af": af, "address": address >> 12, **bits}
    )


def block(address, **bits):
    return desc(address, table=0, **bits)


#: (descriptor address, descriptor): every descriptor of the tables.
TABLES = [
    # Address space 1 (and 0): level 1 at 0x1000, indexed by va[38:30].
    (0x1008, desc(0x2000)),  # 0x0_4000_0000: level-2 table L2a
    (0x1010, block(0x23_4000_0000)),  # 0x0_8000_0000: 1 GiB block
    (0x1018, desc(0x2000, valid=0)),  # 0x0_C000_0000: invalid
    (0x1020, desc(0x6000)),  # 0x1_0000_0000: a table whose reads answer SLVERR
    (0x1028, desc(0x2000)),  # 0x1_4000_0000: this descriptor's read answers SLVERR
    (0x1030, desc(0x100_0000_2000)),  # 0x1_8000_0000: a table address of 41 bits
    (0x1038, block(0x24_0000_0000, af=0)),  # 0x1_C000_0000: 1 GiB block, access flag clear
    (0x1040, desc(0x10_0000)),  # 0x2_0000_0000: a table outside memory (DECERR)
    (0x1800, block(0x25_4000_0000, ap_ro=1, xn=1)),  # 0x40_0000_0000: read-only, execute-never
    (0x1FF8, block(0xFF_C000_0000)),  # 0x7F_C000_0000: the last 1 GiB
    # L2a at 0x2000 (0x4000_0000 to 0x7FFF_FFFF), indexed by va[29:21].
    (0x2000, desc(0x3000)),  # 0x4000_0000: level-3 table L3a
    (0x2008, desc(0x4000)),  # 0x4020_0000: level-3 table L3b
    (0x2010, block(0x0A_BCE0_0000)),  # 0x4040_0000: 2 MiB block
    (0x2018, block(0x0A_C000_0000, valid=0)),  # 0x4060_0000: invalid
    (0x2020, desc(0x5000)),  # 0x4080_0000: L3c, its first descriptor answers SLVERR
    (0x2028, block(0x200_0000_0000)),  # 0x40A0_0000: 2 MiB block at bit 41
    (0x2030, block(0x0B_0000_0000, af=0)),  # 0x40C0_0000: 2 MiB block, access flag clear
    (0x2038, block(0x0B_0020_0000, ap_ro=1)),  # 0x40E0_0000: 2 MiB block, read-only
    # L3a at 0x3000 (0x4000_0000 to 0x401F_FFFF), indexed by va[20:12].
    (0x3000, desc(0x12_3456_7000)),  # 0x4000_0000
    (0x3008, desc(0x00_0009_8000, ap_ro=1)),  # 0x4000_1000: read-only
    (0x3010, desc(0x01_0000_2000, xn=1)),  # 0x4000_2000: execute-never
    (0x3018, desc(0x01_0000_3000, af=0)),  # 0x4000_3000: access flag clear
    (0x3020, desc(0x01_0000_4000, valid=0)),  # 0x4000_4000: invalid
    (0x3028, block(0x01_0000_5000)),  # 0x4000_5000: table=0 at level 3, reserved
    (0x3030, desc(0x100_0000_6000)),  # 0x4000_6000: a page at bit 40
    (0x3038, desc(0x77_7777_7000)),  # 0x4000_7000
    (0x3040, desc(0x80_0000_8000)),  # 0x4000_8000
    (0x3048, desc(0x80_0000_9000)),  # 0x4000_9000
    (0x3050, desc(0x80_0000_A000)),  # 0x4000_A000
    (0x3058, desc(0x80_0000_B000)),  # 0x4000_B000
    (0x3060, desc(0x80_0000_C000)),  # 0x4000_C000
    (0x3068, desc(0x80_0000_D000)),  # 0x4000_D000
    # L3b at 0x4000 (0x4020_0000 to 0x403F_FFFF).
    (0x4000, desc(0x33_0000_0000)),  # 0x4020_0000
    (0x4008, desc(0x33_0000_1000)),  # 0x4020_1000
    # Address space 2: level 1 at 0x8000, level 2 at 0x9000, level 3 at 0xA000.
    (0x8008, desc(0x9000)),
    (0x9000, desc(0xA000)),
    (0xA000, desc(0x44_4444_4000)),  # 0x4000_0000
    (0xA008, desc(0x44_4444_5000)),  # 0x4000_1000
]

#: Reads answering SLVERR: the first 4 bytes of one level-1 descriptor, the table at 0x6000, and
#: the last 4 bytes of L3c's first descriptor (on a 32-bit bus, one beat of two errs).
ERRORS = [
    ErrorRange(0x1028, 0x102C, Resp.SLVERR),
    ErrorRange(0x6000, 0x7000, Resp.SLVERR),
    ErrorRange(0x5004, 0x5008, Resp.SLVERR),
]


class Harness(wiring.Component):
    """The MMU with its walker's read channels on a full AXI4 port, for the memory model."""

    def __init__(self, *, data_width, **params):
        self.mmu = Mmu(data_width=data_width, id_width=4, **params)
        super().__init__(
            {"mem": Out(AXI4Signature(addr_width=40, data_width=data_width, id_width=4))}
        )

    def elaborate(self, platform):
        m = Module()
        m.submodules.mmu = self.mmu
        forward(m, self.mem, self.mmu.mem)
        return m


@dataclass
class Answer:
    fault: int
    pa: int
    cycles: int  # from the request's first cycle to its done cycle, inclusive


class Env:
    """The bench's view of one simulation: request, acknowledge, invalidate, read counters."""

    def __init__(self, ctx, dut, model):
        self.ctx, self.dut, self.model = ctx, dut, model
        self.cycle = 0
        self.events = []  # cycles of event pulses

    async def step(self, n=1):
        for _ in range(n):
            if self.ctx.get(self.dut.event):
                self.events.append(self.cycle)
            await self.ctx.tick()
            self.cycle += 1

    async def run(self, requests):
        """Issue ``requests[port]`` (lists of ``(va, asid, access)``) back to back, all ports at once.

        Each request is held until ``done`` and the next one is raised in the following cycle.
        Returns the answers per port, and the order in which requests were answered as
        ``(port, va)`` (ports answered in the same cycle in port order).
        """
        ctx, dut = self.ctx, self.dut
        ports = [getattr(dut, f"t{i}") for i in range(dut.ports)]
        queues = {p: list(reqs) for p, reqs in requests.items()}
        answers = {p: [] for p in requests}
        order = []
        start = dict.fromkeys(requests, self.cycle)
        for _ in range(LIMIT):
            if not any(queues.values()):
                break
            for i, port in enumerate(ports):
                if queues.get(i):
                    va, asid, access = queues[i][0]
                    ctx.set(port.valid, 1)
                    ctx.set(port.va, va)
                    ctx.set(port.asid, asid)
                    ctx.set(port.access, access)
                else:
                    ctx.set(port.valid, 0)
            done = []
            for i, port in enumerate(ports):
                if not queues.get(i):
                    assert not ctx.get(port.done), f"t{i}: done without a request"
                elif ctx.get(port.done):
                    fault, pa = ctx.get(port.fault), ctx.get(port.pa)
                    answers[i].append(Answer(fault, pa, self.cycle - start[i] + 1))
                    order.append((i, queues[i][0][0]))
                    done.append(i)
            await self.step()
            for i in done:
                queues[i].pop(0)
                start[i] = self.cycle
        else:
            pytest.fail(f"requests not answered after {LIMIT} cycles: {queues}")
        for port in ports:
            ctx.set(port.valid, 0)
        return answers, order

    async def translate(self, va, asid=1, access=READ, port=0):
        answers, _ = await self.run({port: [(va, asid, access)]})
        return answers[port][0]

    async def pa(self, va, asid=1, access=READ, port=0):
        """The physical address of an access that must not fault."""
        answer = await self.translate(va, asid, access, port)
        assert not answer.fault, f"{va:#x} in address space {asid} faulted"
        return answer.pa

    def record(self, asid):
        r = self.ctx.get(self.dut.aspace[asid].fault)
        return (FaultKind(r.kind), int(r.level), Access(r.access), int(r.count), int(r.addr))

    def counters(self):
        """(hits, misses, reads)."""
        return tuple(self.ctx.get(s) for s in (self.dut.hits, self.dut.misses, self.dut.reads))

    def stopped(self):
        return self.ctx.get(self.dut.stopped)

    async def ack(self, asid):
        self.ctx.set(self.dut.aspace[asid].ack, 1)
        await self.step()
        self.ctx.set(self.dut.aspace[asid].ack, 0)

    async def command(self, op, *, asid=0, first=0, pages=0):
        """Pulse invalidation command ``op`` for one cycle, with its operands."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.inv_asid, asid)
        ctx.set(dut.inv_first, first)
        ctx.set(dut.inv_pages, pages)
        ctx.set(getattr(dut, op), 1)
        await self.step()
        ctx.set(getattr(dut, op), 0)

    async def inv_wait(self):
        """Wait for ``inv_done``: ``inv_busy`` high until then, ``inv_count`` one more after.

        Returns the cycle of the ``inv_done`` pulse.
        """
        ctx, dut = self.ctx, self.dut
        count = ctx.get(dut.inv_count)
        for _ in range(LIMIT):
            if ctx.get(dut.inv_done):
                break
            assert ctx.get(dut.inv_busy), "inv_busy low before inv_done"
            await self.step()
        else:
            pytest.fail("invalidation never done")
        done_cycle = self.cycle
        assert not ctx.get(dut.inv_busy)
        assert ctx.get(dut.inv_count) == (count + 1) & 0xFFFF
        await self.step()
        assert not ctx.get(dut.inv_done), "inv_done longer than one cycle"
        return done_cycle

    async def invalidate(self, op, **operands):
        await self.command(op, **operands)
        assert self.ctx.get(self.dut.inv_busy), "inv_busy low after a command"
        return await self.inv_wait()


def simulate(bench, *, data_width=64, tlb_entries=8, ports=2, read_latency=1, errors=ERRORS):
    """Run ``bench(env)`` on a fresh MMU (4 address spaces) and memory model."""
    top = Harness(data_width=data_width, addr_spaces=4, tlb_entries=tlb_entries, ports=ports)
    dut = top.mmu
    model = AxiMemory(top.mem, base=0, size=MEM_SIZE, read_latency=read_latency, errors=errors)
    for addr, value in TABLES:
        model.write(addr, value)
    finished = []

    async def testbench(ctx):
        for asid, ttbr, enable, bypass in [
            (0, 0x1000, 0, 0),
            (1, 0x1000, 1, 0),
            (2, 0x8000, 1, 0),
            (3, 0, 1, 1),
        ]:
            ctx.set(dut.aspace[asid].ttbr, ttbr)
            ctx.set(dut.aspace[asid].enable, enable)
            ctx.set(dut.aspace[asid].bypass, bypass)
        env = Env(ctx, dut, model)
        await bench(env)
        finished.append(True)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    model.add_to(sim)
    sim.add_testbench(testbench)
    sim.run()
    assert finished, "testbench did not finish"


def idle():
    """The record of an address space without a fault."""
    return (NONE, 0, READ, 0, 0)


def ar(env, n):
    """The last ``n`` descriptor reads, as ``(araddr, beats)``."""
    return env.model.ar_log[len(env.model.ar_log) - n :]


WIDTHS = pytest.mark.parametrize("data_width", [32, 64])


# --- translation ----------------------------------------------------------------------------------


@WIDTHS
def test_page_and_block_translations(data_width):
    b = BEATS[data_width]

    async def bench(env):
        # A page: three descriptors read, one per level.
        assert await env.pa(0x4000_0123) == 0x12_3456_7123
        assert env.counters() == (0, 1, 3)
        assert env.model.ar_log == [(0x1008, b), (0x2000, b), (0x3000, b)]
        # Then hits, answered in the request's first cycle, whatever the access.
        assert await env.translate(0x4000_0FFF, access=WRITE) == Answer(0, 0x12_3456_7FFF, 1)
        assert await env.translate(0x4000_0000, access=FETCH) == Answer(0, 0x12_3456_7000, 1)
        assert env.counters() == (2, 1, 3)
        # A 2 MiB block (the level-2 table is cached: one read).
        assert await env.pa(0x4055_5678) == 0x0A_BCF5_5678
        assert env.counters() == (2, 2, 4)
        assert ar(env, 1) == [(0x2010, b)]
        assert await env.translate(0x405F_FFFF, access=WRITE) == Answer(0, 0x0A_BCFF_FFFF, 1)
        assert await env.translate(0x4040_0000) == Answer(0, 0x0A_BCE0_0000, 1)
        assert env.counters() == (4, 2, 4)
        # A 1 GiB block.
        assert await env.pa(0xBABC_DEF0) == 0x23_7ABC_DEF0
        assert env.counters() == (4, 3, 5)
        assert ar(env, 1) == [(0x1010, b)]
        assert await env.translate(0x8000_0004, access=WRITE) == Answer(0, 0x23_4000_0004, 1)
        assert await env.translate(0xBFFF_FFFF) == Answer(0, 0x23_7FFF_FFFF, 1)
        # The last byte of the input address space, to the last byte of the output one.
        assert await env.pa(0x7F_FFFF_FFFF) == 0xFF_FFFF_FFFF
        assert ar(env, 1) == [(0x1FF8, b)]
        assert await env.translate(0x7F_C000_0000) == Answer(0, 0xFF_C000_0000, 1)
        assert env.counters() == (7, 4, 6)
        assert env.stopped() == 0
        await env.step(2)
        assert env.events == []

    simulate(bench, data_width=data_width)


def test_descriptor_reads_on_a_128_bit_bus():
    """One beat per descriptor, at the 16-byte aligned address; the right half is used."""

    async def bench(env):
        assert await env.pa(0x4000_0123) == 0x12_3456_7123  # 0x1008: upper half
        assert env.model.ar_log == [(0x1000, 1), (0x2000, 1), (0x3000, 1)]
        assert await env.pa(0x4000_7000) == 0x77_7777_7000  # 0x3038: upper half
        assert await env.pa(0x4020_1000) == 0x33_0000_1000  # 0x2008 upper, 0x4008 upper
        assert await env.pa(0x4000_8000) == 0x80_0000_8000  # 0x2000 lower, 0x3040 lower
        assert env.model.ar_log[3:] == [(0x3030, 1), (0x2000, 1), (0x4000, 1)] + [
            (0x2000, 1),
            (0x3040, 1),
        ]
        assert env.counters() == (0, 4, 8)

    simulate(bench, data_width=128)


@WIDTHS
def test_address_spaces_map_the_same_va_to_different_frames(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x4000_0ABC, asid=1) == 0x12_3456_7ABC
        assert await env.pa(0x4000_0ABC, asid=2) == 0x44_4444_4ABC
        assert env.counters() == (0, 2, 6)
        assert ar(env, 3) == [(0x8008, b), (0x9000, b), (0xA000, b)]
        assert await env.translate(0x4000_0DEF, asid=1) == Answer(0, 0x12_3456_7DEF, 1)
        assert await env.translate(0x4000_0DEF, asid=2) == Answer(0, 0x44_4444_4DEF, 1)
        assert env.counters() == (2, 2, 6)
        # The walk cache is address space 2's now: one read for its neighbour page...
        assert await env.pa(0x4000_1000, asid=2) == 0x44_4444_5000
        assert env.counters() == (2, 3, 7)
        assert ar(env, 1) == [(0xA008, b)]
        # ... and a full walk for address space 1.
        assert await env.pa(0x4000_7000, asid=1) == 0x77_7777_7000
        assert env.counters() == (2, 4, 10)
        assert ar(env, 3) == [(0x1008, b), (0x2000, b), (0x3038, b)]

    simulate(bench, data_width=data_width)


@WIDTHS
def test_walk_cache(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x4000_0000) == 0x12_3456_7000
        assert env.counters() == (0, 1, 3)
        # Same 2 MiB region: only the level-3 descriptor.
        assert await env.pa(0x4000_7000) == 0x77_7777_7000
        assert env.counters() == (0, 2, 4)
        assert ar(env, 1) == [(0x3038, b)]
        # Same 1 GiB region, another 2 MiB region: levels 2 and 3.
        assert await env.pa(0x4020_0000) == 0x33_0000_0000
        assert env.counters() == (0, 3, 6)
        assert ar(env, 2) == [(0x2008, b), (0x4000, b)]
        assert await env.pa(0x4020_1000) == 0x33_0000_1000
        assert env.counters() == (0, 4, 7)
        assert ar(env, 1) == [(0x4008, b)]
        # Back to the first 2 MiB region: its level-3 table was replaced in the cache.
        assert await env.pa(0x4000_8000) == 0x80_0000_8000
        assert env.counters() == (0, 5, 9)
        assert ar(env, 2) == [(0x2000, b), (0x3040, b)]
        # Invalidations flush the cache: a full walk again.
        await env.invalidate("everything")
        assert await env.pa(0x4000_9000) == 0x80_0000_9000
        assert env.counters() == (0, 6, 12)
        assert ar(env, 3) == [(0x1008, b), (0x2000, b), (0x3048, b)]
        assert await env.pa(0x4000_A000) == 0x80_0000_A000
        assert env.counters() == (0, 7, 13)
        # Even one of another address space (the TLB entries of 1 stay).
        await env.invalidate("by_asid", asid=2)
        assert await env.translate(0x4000_A000) == Answer(0, 0x80_0000_A000, 1)
        assert await env.pa(0x4000_B000) == 0x80_0000_B000
        assert env.counters() == (1, 8, 16)
        await env.invalidate("by_range", asid=1, first=0x4_000C, pages=1)
        assert await env.pa(0x4000_C000) == 0x80_0000_C000
        assert env.counters() == (1, 9, 19)
        assert ar(env, 3) == [(0x1008, b), (0x2000, b), (0x3060, b)]

    simulate(bench, data_width=data_width)
