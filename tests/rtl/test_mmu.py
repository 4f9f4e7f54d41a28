"""Unit tests of the MMU in amaranth.sim: translation, walk cache, faults, TLB, invalidation.

The MMU's walker reads page tables from the AXI4 memory model of ``axi_model.py``. The tables are
written once, by hand, as literal descriptors (:data:`TABLES`); every expected physical address,
fault record, counter value and descriptor read is a literal worked out from them.

Address spaces of every simulation (``addr_spaces=4``):

* 0: the tables of 1 (``ttbr=0x1000``) but not enabled: every access faults ``DISABLED``;
* 1: ``ttbr=0x1000``, enabled;
* 2: ``ttbr=0x8000``, enabled: virtual pages 0x0000_0000 and 0x0000_1000 map to other frames;
* 3: enabled, in bypass.

The bench drives the ports cycle by cycle (:meth:`Env.run`); it counts the cycles of each
request (1: ``done`` in the request's first cycle, a TLB hit), checks that no port sees ``done``
without a request, and logs every ``event`` pulse. The descriptor reads are the memory model's
AR log: ``(address, beats)``, one beat on a 64-bit bus, two on a 32-bit one.

Two tests pin down fixed bugs: a range invalidation running past the top of the address space,
and a TLB hit answered by the sequencer (an ``ack`` racing the request), counted in ``hits``.
"""

from dataclasses import dataclass

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out
from axi_model import AxiMemory, ErrorRange
from rtl_kit import simulate
from tinynpu.rtl.axi import AXI4Signature, Resp, forward
from tinynpu.rtl.layouts import Access, FaultKind, pack
from tinynpu.rtl.mmu import Mmu
from tinynpu.rtl.pte import Descriptor

READ, WRITE, FETCH = Access.READ, Access.WRITE, Access.FETCH
NONE, TRANSLATION, ACCESS_FLAG = FaultKind.NONE, FaultKind.TRANSLATION, FaultKind.ACCESS_FLAG
PERMISSION, BUS_ERROR = FaultKind.PERMISSION, FaultKind.BUS_ERROR
ADDRESS_SIZE, DISABLED = FaultKind.ADDRESS_SIZE, FaultKind.DISABLED

#: Cycles a request may take before it is declared hung.
LIMIT = 400
#: The model's memory: 128 KiB at 0; reads above answer DECERR.
MEM_SIZE = 0x2_0000
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
    (0x1000, desc(0x2000)),  # 0x0_0000_0000: level-2 table L2a
    (0x1008, block(0x0)),  # 0x0_4000_0000: 1 GiB block at 0
    (0x1010, desc(0x2000, valid=0)),  # 0x0_8000_0000: invalid
    (0x1018, desc(0x6000)),  # 0x0_C000_0000: a table whose reads answer SLVERR
    (0x1020, desc(0x2000)),  # 0x1_0000_0000: this descriptor's read answers SLVERR
    (0x1028, desc(0x100_0000_2000)),  # 0x1_4000_0000: a table address of 41 bits
    (0x1030, block(0x4000_0000, af=0)),  # 0x1_8000_0000: 1 GiB block, access flag clear
    (0x1038, desc(0x10_0000)),  # 0x1_C000_0000: a table outside memory (DECERR)
    (0x1040, block(0x0, ap_ro=1, xn=1)),  # 0x2_0000_0000: 1 GiB block, read-only, execute-never
    (0x1048, block(0x23_4000_0000)),  # 0x2_4000_0000: 1 GiB block above 1 GiB
    (0x1050, desc(0xD000)),  # 0x2_8000_0000: level-2 tables of 2 MiB blocks, for the walk cache
    (0x1058, desc(0xE000)),  # 0x2_C000_0000
    (0x1060, desc(0xF000)),  # 0x3_0000_0000
    (0x1068, desc(0x1_0000)),  # 0x3_4000_0000
    (0x1FF8, block(0xFF_C000_0000)),  # 0x7F_C000_0000: the last 1 GiB, to the last 1 GiB
    # L2a at 0x2000 (0x0000_0000 to 0x3FFF_FFFF), indexed by va[29:21].
    (0x2000, desc(0x3000)),  # 0x0000_0000: level-3 table L3a
    (0x2008, desc(0x4000)),  # 0x0020_0000: level-3 table L3b
    (0x2010, block(0x2BC0_0000)),  # 0x0040_0000: 2 MiB block
    (0x2018, block(0x2C20_0000, valid=0)),  # 0x0060_0000: invalid
    (0x2020, desc(0x5000)),  # 0x0080_0000: L3c, its first descriptor answers SLVERR
    (0x2028, block(0x200_0000_0000)),  # 0x00A0_0000: 2 MiB block at bit 41
    (0x2030, block(0x2C60_0000, af=0)),  # 0x00C0_0000: 2 MiB block, access flag clear
    (0x2038, block(0x2C00_0000, ap_ro=1)),  # 0x00E0_0000: 2 MiB block, read-only
    (0x2040, block(0x0A_BCE0_0000)),  # 0x0100_0000: 2 MiB block above 1 GiB
    (0x2048, desc(0x7000)),  # 0x0120_0000: level-3 table L3d
    (0x2050, desc(0xB000)),  # 0x0140_0000: level-3 table L3e
    (0x2058, desc(0xC000)),  # 0x0160_0000: level-3 table L3f
    # L3a at 0x3000 (0x0000_0000 to 0x001F_FFFF), indexed by va[20:12].
    (0x3000, desc(0x1234_5000)),  # 0x0000_0000
    (0x3008, desc(0x0009_8000, ap_ro=1)),  # 0x0000_1000: read-only
    (0x3010, desc(0x0100_2000, xn=1)),  # 0x0000_2000: execute-never
    (0x3018, desc(0x0100_3000, af=0)),  # 0x0000_3000: access flag clear
    (0x3020, desc(0x0100_4000, valid=0)),  # 0x0000_4000: invalid
    (0x3028, block(0x0100_5000)),  # 0x0000_5000: table=0 at level 3, reserved
    (0x3030, desc(0x100_0000_6000)),  # 0x0000_6000: a page at bit 40
    (0x3038, desc(0x3777_7000)),  # 0x0000_7000
    (0x3040, desc(0x0800_8000)),  # 0x0000_8000
    (0x3048, desc(0x0800_9000)),  # 0x0000_9000
    (0x3050, desc(0x0800_A000)),  # 0x0000_A000
    (0x3058, desc(0x0800_B000)),  # 0x0000_B000
    (0x3060, desc(0x0800_C000)),  # 0x0000_C000
    (0x3068, desc(0x0800_D000)),  # 0x0000_D000
    (0x3070, desc(0x12_3456_7000)),  # 0x0000_E000: a page above 1 GiB
    # L3b at 0x4000 (0x0020_0000 to 0x003F_FFFF).
    (0x4000, desc(0x3300_0000)),  # 0x0020_0000
    (0x4008, desc(0x3300_1000)),  # 0x0020_1000
    (0x4010, desc(0x3300_2000)),  # 0x0020_2000
    # L3d, L3e, L3f: pages of 0x0120_0000, 0x0140_0000, 0x0160_0000.
    (0x7000, desc(0x0D00_0000)),
    (0x7008, desc(0x0D00_1000)),
    (0xB000, desc(0x0E00_0000)),
    (0xC000, desc(0x0F00_0000)),
    # The level-2 tables of 0x2_8000_0000 to 0x3_7FFF_FFFF: 2 MiB blocks.
    (0xD000, block(0x1000_0000)),  # 0x2_8000_0000
    (0xD008, block(0x1020_0000)),  # 0x2_8020_0000
    (0xD010, block(0x1040_0000)),  # 0x2_8040_0000
    (0xE000, block(0x1100_0000)),  # 0x2_C000_0000
    (0xE008, block(0x1120_0000)),  # 0x2_C020_0000
    (0xF000, block(0x1200_0000)),  # 0x3_0000_0000
    (0xF008, block(0x1220_0000)),  # 0x3_0020_0000
    (0x1_0000, block(0x1300_0000)),  # 0x3_4000_0000
    # Address space 2: level 1 at 0x8000, level 2 at 0x9000, level 3 at 0xA000.
    (0x8000, desc(0x9000)),
    (0x9000, desc(0xA000)),
    (0xA000, desc(0x2444_4000)),  # 0x0000_0000
    (0xA008, desc(0x2444_5000)),  # 0x0000_1000
]

#: Reads answering SLVERR: the first 4 bytes of one level-1 descriptor, the table at 0x6000, and
#: the last 4 bytes of L3c's first descriptor (on a 32-bit bus, one beat of two errs).
ERRORS = [
    ErrorRange(0x1020, 0x1024, Resp.SLVERR),
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

    async def run(self, requests, hook=None):
        """Issue ``requests[port]`` (lists of ``(va, asid, access)``), all ports at once.

        Each request is held until ``done`` and the next one is raised in the following cycle.
        ``hook(n)``, if given, is called in each cycle ``n`` (from 0) once the requests are set.
        Returns the answers per port, and the order in which requests were answered as
        ``(port, va)`` (ports answered in the same cycle in port order).
        """
        ctx, dut = self.ctx, self.dut
        ports = list(dut.t)
        queues = {p: list(reqs) for p, reqs in requests.items()}
        answers = {p: [] for p in requests}
        order = []
        start = dict.fromkeys(requests, self.cycle)
        for n in range(LIMIT):
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
            if hook is not None:
                hook(n)
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

    async def command(self, *ops, asid=0, first=0, pages=0):
        """Pulse invalidation commands ``ops`` for one cycle, with their operands."""
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.inv_asid, asid)
        ctx.set(dut.inv_first, first)
        ctx.set(dut.inv_pages, pages)
        for op in ops:
            ctx.set(getattr(dut, op), 1)
        await self.step()
        for op in ops:
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

    async def invalidate(self, *ops, **operands):
        await self.command(*ops, **operands)
        assert self.ctx.get(self.dut.inv_busy), "inv_busy low after a command"
        return await self.inv_wait()


def run(bench, *, data_width=64, tlb_entries=8, ports=2, read_latency=1, errors=ERRORS):
    """Run ``bench(env)`` on a fresh MMU (4 address spaces) and memory model."""
    top = Harness(data_width=data_width, addr_spaces=4, tlb_entries=tlb_entries, ports=ports)
    dut = top.mmu
    model = AxiMemory(top.mem, base=0, size=MEM_SIZE, read_latency=read_latency, errors=errors)
    for addr, value in TABLES:
        model.write(addr, value)

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
        await bench(Env(ctx, dut, model))

    simulate(top, testbench, background=[model.run])


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
        assert await env.pa(0x0000_0123) == 0x1234_5123
        assert env.counters() == (0, 1, 3)
        assert env.model.ar_log == [(0x1000, b), (0x2000, b), (0x3000, b)]
        # Then hits, answered in the request's first cycle, whatever the access.
        assert await env.translate(0x0000_0FFF, access=WRITE) == Answer(0, 0x1234_5FFF, 1)
        assert await env.translate(0x0000_0000, access=FETCH) == Answer(0, 0x1234_5000, 1)
        assert env.counters() == (2, 1, 3)
        # A 2 MiB block (the level-2 table is cached: one read).
        assert await env.pa(0x0055_5678) == 0x2BD5_5678
        assert env.counters() == (2, 2, 4)
        assert ar(env, 1) == [(0x2010, b)]
        assert await env.translate(0x005F_FFFF, access=WRITE) == Answer(0, 0x2BDF_FFFF, 1)
        assert await env.translate(0x0040_0000) == Answer(0, 0x2BC0_0000, 1)
        assert env.counters() == (4, 2, 4)
        # A 1 GiB block.
        assert await env.pa(0x7ABC_DEF0) == 0x3ABC_DEF0
        assert env.counters() == (4, 3, 5)
        assert ar(env, 1) == [(0x1008, b)]
        assert await env.translate(0x4ABC_D004, access=WRITE) == Answer(0, 0x0ABC_D004, 1)
        assert await env.translate(0x7FFF_FFFF) == Answer(0, 0x3FFF_FFFF, 1)
        assert env.counters() == (6, 3, 5)
        assert env.stopped() == 0
        await env.step(2)
        assert env.events == []

    run(bench, data_width=data_width)


def test_descriptor_reads_on_a_128_bit_bus():
    """One beat per descriptor, at the 16-byte aligned address; the right half is used."""

    async def bench(env):
        assert await env.pa(0x0000_0123) == 0x1234_5123  # 0x1000, 0x2000, 0x3000: lower halves
        assert await env.pa(0x0000_7000) == 0x3777_7000  # 0x3038: upper half
        assert await env.pa(0x0020_1000) == 0x3300_1000  # 0x2008, 0x4008: upper halves
        assert await env.pa(0x4ABC_D000) == 0x0ABC_D000  # 0x1008: upper half
        assert env.model.ar_log == [
            (0x1000, 1),
            (0x2000, 1),
            (0x3000, 1),
            (0x3030, 1),
            (0x2000, 1),
            (0x4000, 1),
            (0x1000, 1),
        ]
        assert env.counters() == (0, 4, 7)

    run(bench, data_width=128)


@WIDTHS
def test_address_spaces_map_the_same_va_to_different_frames(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x0000_0ABC, asid=1) == 0x1234_5ABC
        assert await env.pa(0x0000_0ABC, asid=2) == 0x2444_4ABC
        assert env.counters() == (0, 2, 6)
        assert ar(env, 3) == [(0x8000, b), (0x9000, b), (0xA000, b)]
        assert await env.translate(0x0000_0DEF, asid=1) == Answer(0, 0x1234_5DEF, 1)
        assert await env.translate(0x0000_0DEF, asid=2) == Answer(0, 0x2444_4DEF, 1)
        assert env.counters() == (2, 2, 6)
        # Each address space's tables are cached, tagged with it: one read for a neighbour page.
        assert await env.pa(0x0000_1000, asid=2) == 0x2444_5000
        assert env.counters() == (2, 3, 7)
        assert ar(env, 1) == [(0xA008, b)]
        assert await env.pa(0x0000_7000, asid=1) == 0x3777_7000
        assert env.counters() == (2, 4, 8)
        assert ar(env, 1) == [(0x3038, b)]

    run(bench, data_width=data_width)


@WIDTHS
def test_walk_cache(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x0000_0000) == 0x1234_5000
        assert env.counters() == (0, 1, 3)
        # Same 2 MiB region: only the level-3 descriptor.
        assert await env.pa(0x0000_7000) == 0x3777_7000
        assert env.counters() == (0, 2, 4)
        assert ar(env, 1) == [(0x3038, b)]
        # Same 1 GiB region, another 2 MiB region: levels 2 and 3.
        assert await env.pa(0x0020_0000) == 0x3300_0000
        assert env.counters() == (0, 3, 6)
        assert ar(env, 2) == [(0x2008, b), (0x4000, b)]
        assert await env.pa(0x0020_1000) == 0x3300_1000
        assert env.counters() == (0, 4, 7)
        assert ar(env, 1) == [(0x4008, b)]
        # Back to the first 2 MiB region: its level-3 table is still cached.
        assert await env.pa(0x0000_8000) == 0x0800_8000
        assert env.counters() == (0, 5, 8)
        assert ar(env, 1) == [(0x3040, b)]
        # Invalidations flush the cache: a full walk again.
        await env.invalidate("everything")
        assert await env.pa(0x0000_9000) == 0x0800_9000
        assert env.counters() == (0, 6, 11)
        assert ar(env, 3) == [(0x1000, b), (0x2000, b), (0x3048, b)]
        assert await env.pa(0x0000_A000) == 0x0800_A000
        assert env.counters() == (0, 7, 12)
        # Even one of another address space (the TLB entries of 1 stay).
        await env.invalidate("by_asid", asid=2)
        assert await env.translate(0x0000_A000) == Answer(0, 0x0800_A000, 1)
        assert await env.pa(0x0000_B000) == 0x0800_B000
        assert env.counters() == (1, 8, 15)
        await env.invalidate("by_range", asid=1, first=0xC, pages=1)
        assert await env.pa(0x0000_C000) == 0x0800_C000
        assert env.counters() == (1, 9, 18)
        assert ar(env, 3) == [(0x1000, b), (0x2000, b), (0x3060, b)]

    run(bench, data_width=data_width)


@WIDTHS
def test_walk_cache_keeps_four_level_3_tables(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x0000_0000) == 0x1234_5000  # L3a
        assert await env.pa(0x0020_0000) == 0x3300_0000  # L3b
        assert await env.pa(0x0120_0000) == 0x0D00_0000  # L3d
        assert await env.pa(0x0140_0000) == 0x0E00_0000  # L3e
        assert env.counters() == (0, 4, 9)
        assert await env.pa(0x0000_7000) == 0x3777_7000  # L3a: cached
        assert env.counters() == (0, 5, 10)
        assert await env.pa(0x0160_0000) == 0x0F00_0000  # L3f replaces L3a
        assert env.counters() == (0, 6, 12)
        assert await env.pa(0x0020_1000) == 0x3300_1000  # L3b: cached
        assert env.counters() == (0, 7, 13)
        assert ar(env, 1) == [(0x4008, b)]
        assert await env.pa(0x0000_8000) == 0x0800_8000  # L3a again, replaces L3b
        assert env.counters() == (0, 8, 15)
        assert ar(env, 2) == [(0x2000, b), (0x3040, b)]
        assert await env.pa(0x0000_9000) == 0x0800_9000
        assert await env.pa(0x0120_1000) == 0x0D00_1000  # L3d: cached
        assert env.counters() == (0, 10, 17)
        assert await env.pa(0x0020_2000) == 0x3300_2000  # L3b: replaced
        assert env.counters() == (0, 11, 19)
        assert ar(env, 2) == [(0x2008, b), (0x4010, b)]

    run(bench, data_width=data_width)


@WIDTHS
def test_walk_cache_keeps_four_level_2_tables(data_width):
    b = BEATS[data_width]

    async def bench(env):
        assert await env.pa(0x0000_0000) == 0x1234_5000  # L2a (and L3a)
        assert await env.pa(0x2_8000_0000) == 0x1000_0000  # 0xD000
        assert await env.pa(0x2_C000_0000) == 0x1100_0000  # 0xE000
        assert await env.pa(0x3_0000_0000) == 0x1200_0000  # 0xF000
        assert env.counters() == (0, 4, 9)
        assert await env.pa(0x2_8020_0000) == 0x1020_0000  # 0xD000: cached
        assert env.counters() == (0, 5, 10)
        assert ar(env, 1) == [(0xD008, b)]
        assert await env.pa(0x3_4000_0000) == 0x1300_0000  # 0x1_0000 replaces L2a
        assert env.counters() == (0, 6, 12)
        assert await env.pa(0x0000_7000) == 0x3777_7000  # L3a is still cached
        assert env.counters() == (0, 7, 13)
        assert await env.pa(0x0020_0000) == 0x3300_0000  # L2a replaced: three reads
        assert env.counters() == (0, 8, 16)
        assert ar(env, 3) == [(0x1000, b), (0x2008, b), (0x4000, b)]
        assert await env.pa(0x2_C020_0000) == 0x1120_0000  # 0xE000: cached
        assert await env.pa(0x3_0020_0000) == 0x1220_0000  # 0xF000: cached
        assert env.counters() == (0, 10, 18)
        assert await env.pa(0x2_8040_0000) == 0x1040_0000  # 0xD000: replaced by L2a
        assert env.counters() == (0, 11, 20)
        assert ar(env, 2) == [(0x1050, b), (0xD010, b)]

    run(bench, data_width=data_width)


@WIDTHS
def test_addresses_above_1_gib(data_width):
    """Physical addresses up to bit 39; TLB entries compare and invalidate every page-number bit."""

    async def bench(env):
        assert await env.pa(0x0000_E123) == 0x12_3456_7123
        assert await env.translate(0x0000_EFFF, access=WRITE) == Answer(0, 0x12_3456_7FFF, 1)
        assert await env.pa(0x0112_3456) == 0x0A_BCF2_3456
        assert await env.translate(0x011F_FFFF) == Answer(0, 0x0A_BCFF_FFFF, 1)
        assert await env.pa(0x2_5234_5678) == 0x23_5234_5678
        assert await env.translate(0x2_7FFF_FFFF) == Answer(0, 0x23_7FFF_FFFF, 1)
        assert await env.pa(0x7F_FFFF_FFFF) == 0xFF_FFFF_FFFF
        assert await env.translate(0x7F_C000_0000) == Answer(0, 0xFF_C000_0000, 1)
        assert env.counters() == (4, 4, 6)

    run(bench, data_width=data_width)


@WIDTHS
def test_tlb_entries_do_not_alias_across_1_gib_regions(data_width):
    async def bench(env):
        assert await env.pa(0x0000_0000) == 0x1234_5000  # a page at 0
        answer = await env.translate(0x4000_0000)  # a 1 GiB block: same bits 29:12
        assert (answer.fault, answer.pa) == (0, 0x0000_0000)
        assert env.counters() == (0, 2, 4)
        answer = await env.translate(0x0000_7000)  # not in the 1 GiB block's range
        assert (answer.fault, answer.pa) == (0, 0x3777_7000)
        assert env.counters() == (0, 3, 5)
        assert await env.translate(0x0000_0008) == Answer(0, 0x1234_5008, 1)
        assert await env.translate(0x4000_7000) == Answer(0, 0x0000_7000, 1)
        assert env.counters() == (2, 3, 5)
        # A 2 MiB block at 0x2_8000_0000 is not in a range of the first 1 GiB.
        assert await env.pa(0x2_8000_0000) == 0x1000_0000
        await env.invalidate("by_range", asid=1, first=0x10, pages=1)
        assert await env.translate(0x2_8000_1000) == Answer(0, 0x1000_1000, 1)
        assert await env.translate(0x0000_0000) == Answer(0, 0x1234_5000, 1)

    run(bench, data_width=data_width)


# --- faults ---------------------------------------------------------------------------------------

#: (id, address space, va, access, kind, level, descriptors read, walks)
FAULTS = [
    ("translation-l1", 1, 0x8000_0010, READ, TRANSLATION, 1, 1, 1),
    ("translation-l2", 1, 0x0060_0008, WRITE, TRANSLATION, 2, 2, 1),
    ("translation-l3", 1, 0x0000_4FF8, FETCH, TRANSLATION, 3, 3, 1),
    ("reserved-l3", 1, 0x0000_5004, READ, TRANSLATION, 3, 3, 1),
    ("input-40-bits", 1, 0x80_0000_0000, READ, TRANSLATION, 0, 0, 0),
    ("input-top", 1, 0xFF_FFFF_FFFF, WRITE, TRANSLATION, 0, 0, 0),
    ("access-flag-l1", 1, 0x1_8000_0123, READ, ACCESS_FLAG, 1, 1, 1),
    ("access-flag-l2", 1, 0x00C1_2345, WRITE, ACCESS_FLAG, 2, 2, 1),
    ("access-flag-l3", 1, 0x0000_3008, FETCH, ACCESS_FLAG, 3, 3, 1),
    ("write-read-only-page", 1, 0x0000_1ABC, WRITE, PERMISSION, 3, 3, 1),
    ("fetch-xn-page", 1, 0x0000_2000, FETCH, PERMISSION, 3, 3, 1),
    ("write-read-only-2m", 1, 0x00E0_0010, WRITE, PERMISSION, 2, 2, 1),
    ("fetch-xn-1g", 1, 0x2_0000_0040, FETCH, PERMISSION, 1, 1, 1),
    ("write-read-only-1g", 1, 0x2_3FFF_FFF8, WRITE, PERMISSION, 1, 1, 1),
    ("slverr-l1", 1, 0x1_0000_0000, READ, BUS_ERROR, 1, 1, 1),
    ("slverr-l2", 1, 0xC000_0000, WRITE, BUS_ERROR, 2, 2, 1),
    ("decerr-l2", 1, 0x1_C000_0000, READ, BUS_ERROR, 2, 2, 1),
    ("slverr-l3", 1, 0x0080_0000, FETCH, BUS_ERROR, 3, 3, 1),
    ("address-size-l1", 1, 0x1_4000_0000, READ, ADDRESS_SIZE, 1, 1, 1),
    ("address-size-l2", 1, 0x00A0_0000, READ, ADDRESS_SIZE, 2, 2, 1),
    ("address-size-l3", 1, 0x0000_6000, WRITE, ADDRESS_SIZE, 3, 3, 1),
    ("disabled", 0, 0x0000_0000, READ, DISABLED, 0, 0, 0),
]


@WIDTHS
def test_fault_records(data_width):
    """Every case of :data:`FAULTS` in turn, from an empty TLB and walk cache.

    (One simulation for all: each case is acknowledged, then the TLB invalidated.)
    """

    async def bench(env):
        for name, asid, va, access, kind, level, reads, walks in FAULTS:
            before = env.counters()
            answer = await env.translate(va, asid, access)
            assert answer.fault == 1, name
            assert env.record(asid) == (kind, level, access, 0, va), name
            assert env.stopped() == 1 << asid, name
            delta = tuple(a - b for a, b in zip(env.counters(), before, strict=True))
            assert delta == (0, walks, reads), name
            for other in {0, 1, 2, 3} - {asid}:
                assert env.record(other) == idle(), name
            await env.step(3)
            assert len(env.events) == 1, name
            assert env.record(asid) == (kind, level, access, 0, va), name
            await env.ack(asid)
            assert env.record(asid) == idle(), name
            assert env.stopped() == 0, name
            await env.invalidate("everything")
            env.events.clear()

    run(bench, data_width=data_width)


@WIDTHS
def test_faults_are_never_cached(data_width):
    """A page mapped (or fixed) after its fault translates without an invalidation."""

    async def bench(env):
        for va, where, fixed, pa, access in [
            (0x0000_4000, 0x3020, desc(0x0100_4000), 0x0100_4000, READ),  # was invalid
            (0x0000_3000, 0x3018, desc(0x0100_3000), 0x0100_3000, READ),  # was af=0
            (0x0000_1000, 0x3008, desc(0x0009_8000), 0x0009_8000, WRITE),  # was read-only
        ]:
            assert (await env.translate(va, access=access)).fault == 1, f"{va:#x}"
            env.model.write(where, fixed)
            await env.ack(1)
            answer = await env.translate(va + 0x10, access=access)
            assert (answer.fault, answer.pa) == (0, pa + 0x10), f"{va:#x}"
            assert env.stopped() == 0
        assert env.counters() == (0, 6, 8)

    run(bench, data_width=data_width)


@WIDTHS
def test_reads_allowed_through_read_only_and_execute_never(data_width):
    async def bench(env):
        assert await env.pa(0x0000_1000) == 0x0009_8000
        assert await env.pa(0x0000_2FFF) == 0x0100_2FFF
        assert await env.translate(0x0000_2000, access=WRITE) == Answer(0, 0x0100_2000, 1)
        assert await env.translate(0x0000_1008, access=FETCH) == Answer(0, 0x0009_8008, 1)
        assert await env.pa(0x00E0_0010) == 0x2C00_0010
        assert await env.pa(0x00E1_0000, access=FETCH) == 0x2C01_0000
        assert await env.pa(0x2_0000_0040) == 0x0000_0040
        assert env.counters() == (3, 4, 6)
        assert env.stopped() == 0
        await env.step(2)
        assert env.events == []

    run(bench, data_width=data_width)


@WIDTHS
def test_permission_fault_on_a_tlb_hit(data_width):
    """A cached entry the access may not use faults at the entry's level, without a walk."""

    async def bench(env):
        # (va whose walk caches the entry, its pa, a va of the entry the access may not use,
        # that access, the entry's level, descriptor reads so far): each walk is one more miss.
        cases = [
            (0x0000_1000, 0x0009_8000, 0x0000_1234, WRITE, 3, 3),
            (0x00E0_0000, 0x2C00_0000, 0x00FF_FFF0, WRITE, 2, 4),
            (0x2_0000_0000, 0x0000_0000, 0x2_1234_5678, FETCH, 1, 5),
        ]
        for misses, (cached, pa, va, access, level, reads) in enumerate(cases, start=1):
            if misses > 1:
                await env.ack(1)  # the previous fault's record
            assert await env.pa(cached) == pa
            assert env.counters() == (0, misses, reads)
            assert (await env.translate(va, access=access)).fault == 1
            assert env.record(1) == (PERMISSION, level, access, 0, va)
            assert env.counters() == (0, misses, reads)
        assert len(env.model.ar_log) == 5
        await env.step(2)
        assert len(env.events) == 3

    run(bench, data_width=data_width)


@WIDTHS
def test_stopped_address_space(data_width):
    async def bench(env):
        assert await env.pa(0x0000_0000) == 0x1234_5000
        assert (await env.translate(0x0000_4000, access=WRITE)).fault == 1
        fault = (TRANSLATION, 3, WRITE, 0, 0x0000_4000)
        assert env.record(1) == fault
        assert env.stopped() == 0b0010
        assert env.counters() == (0, 2, 4)
        # Further requests fault, even a TLB hit, without a walk: only the count changes.
        for count, (va, access) in enumerate(
            [(0x0000_0000, READ), (0x0000_7000, FETCH), (0x80_0000_0000, WRITE)], start=1
        ):
            assert (await env.translate(va, access=access)).fault == 1
            assert env.record(1) == (TRANSLATION, 3, WRITE, count, 0x0000_4000)
        assert env.counters() == (0, 2, 4)
        # Another address space translates meanwhile.
        assert await env.pa(0x0000_0000, asid=2) == 0x2444_4000
        assert await env.translate(0x0000_0FFF, asid=2) == Answer(0, 0x2444_4FFF, 1)
        assert env.counters() == (1, 3, 7)
        await env.step(5)
        assert env.record(1) == (TRANSLATION, 3, WRITE, 3, 0x0000_4000)
        assert len(env.events) == 1
        # ack clears the record and restarts the address space.
        await env.ack(1)
        assert env.record(1) == idle()
        assert env.stopped() == 0
        assert await env.translate(0x0000_0000) == Answer(0, 0x1234_5000, 1)
        assert env.counters() == (2, 3, 7)
        # The next fault is recorded afresh.
        assert (await env.translate(0x0000_3000)).fault == 1
        assert env.record(1) == (ACCESS_FLAG, 3, READ, 0, 0x0000_3000)
        assert env.counters() == (2, 4, 8)
        # Two address spaces stopped, acknowledged one at a time.
        assert (await env.translate(0x0000_2000, asid=2)).fault == 1
        assert env.record(2) == (TRANSLATION, 3, READ, 0, 0x0000_2000)
        assert env.stopped() == 0b0110
        await env.step(2)
        assert len(env.events) == 3
        await env.ack(1)
        assert env.stopped() == 0b0100
        assert env.record(1) == idle()
        assert env.record(2) == (TRANSLATION, 3, READ, 0, 0x0000_2000)
        await env.ack(2)
        assert env.stopped() == 0
        assert env.record(2) == idle()
        await env.step(2)
        assert len(env.events) == 3

    run(bench, data_width=data_width)


def test_fault_count_saturates():
    """The count saturates at 0xFFFF. Counting there takes 65535 faults: too slow to simulate, so
    the bench sets the count register to 0xFFFB after the first fault."""

    async def bench(env):
        assert (await env.translate(0x0000_4000)).fault == 1
        env.ctx.set(env.dut.aspace[1].fault.count, 0xFFFB)
        await env.step()
        counts = []
        for _ in range(7):
            assert (await env.translate(0x0000_0000, access=WRITE)).fault == 1
            counts.append(env.record(1)[3])
        assert counts == [0xFFFC, 0xFFFD, 0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF]
        assert env.record(1) == (TRANSLATION, 3, READ, 0xFFFF, 0x0000_4000)
        await env.ack(1)
        assert env.record(1) == idle()

    run(bench)


@WIDTHS
def test_bypass(data_width):
    async def bench(env):
        dut = env.dut
        assert await env.translate(0x12_3456_789A, asid=3, access=WRITE) == Answer(
            0, 0x12_3456_789A, 1
        )
        assert await env.translate(0xFF_FFFF_FFFF, asid=3, access=FETCH) == Answer(
            0, 0xFF_FFFF_FFFF, 1
        )
        assert env.counters() == (0, 0, 0)
        assert env.model.ar_log == []
        # Bypass wins over a cached entry, and over what would fault.
        assert await env.pa(0x0000_0000) == 0x1234_5000
        env.ctx.set(dut.aspace[1].bypass, 1)
        assert await env.translate(0x0000_0000) == Answer(0, 0x0000_0000, 1)
        assert await env.translate(0x0000_4000, access=WRITE) == Answer(0, 0x0000_4000, 1)
        assert env.counters() == (0, 1, 3)
        env.ctx.set(dut.aspace[1].bypass, 0)
        assert await env.translate(0x0000_0000) == Answer(0, 0x1234_5000, 1)
        assert env.counters() == (1, 1, 3)
        # Bypass without enable: DISABLED.
        env.ctx.set(dut.aspace[0].bypass, 1)
        assert (await env.translate(0x0000_1234, asid=0)).fault == 1
        assert env.record(0) == (DISABLED, 0, READ, 0, 0x0000_1234)
        assert env.counters() == (1, 1, 3)
        await env.step(2)
        assert len(env.events) == 1

    run(bench, data_width=data_width)


@WIDTHS
def test_address_space_without_a_bank(data_width):
    async def bench(env):
        assert (await env.translate(0x0000_0000, asid=4)).fault == 1
        assert (await env.translate(0x0000_1000, asid=15, access=WRITE)).fault == 1
        for asid in range(4):
            assert env.record(asid) == idle()
        assert env.stopped() == 0
        assert env.counters() == (0, 0, 0)
        await env.step(3)
        assert env.events == []
        assert await env.pa(0x0000_0000, asid=1) == 0x1234_5000

    run(bench, data_width=data_width)


# --- the TLB --------------------------------------------------------------------------------------

#: Pages 0x8000 to 0xD000 of address space 1, and their frames.
P = [0x0000_8000, 0x0000_9000, 0x0000_A000, 0x0000_B000, 0x0000_C000, 0x0000_D000]
FRAME = {
    0x0000_8000: 0x0800_8000,
    0x0000_9000: 0x0800_9000,
    0x0000_A000: 0x0800_A000,
    0x0000_B000: 0x0800_B000,
    0x0000_C000: 0x0800_C000,
    0x0000_D000: 0x0800_D000,
}


async def touch(env, pages, *, hit):
    """Translate each of ``pages``: all must be TLB hits (one cycle), or all walks."""
    for va in pages:
        answer = await env.translate(va)
        assert (answer.fault, answer.pa) == (0, FRAME[va]), f"{va:#x}"
        assert (answer.cycles == 1) == hit, f"{va:#x}: {answer.cycles} cycles"


@WIDTHS
def test_tlb_replacement_is_fifo_and_reuses_invalid_entries(data_width):
    async def bench(env):
        await touch(env, P[0:4], hit=False)
        assert env.counters() == (0, 4, 6)
        await touch(env, P[0:4], hit=True)
        assert env.counters() == (4, 4, 6)
        await touch(env, [P[4]], hit=False)  # replaces entry 0 (P0)
        await touch(env, [P[1], P[2], P[3], P[4]], hit=True)
        assert env.counters() == (8, 5, 7)
        await touch(env, [P[0]], hit=False)  # entry 1 (P1)
        await touch(env, [P[2], P[3], P[4], P[0]], hit=True)
        assert env.counters() == (12, 6, 8)
        await touch(env, [P[1]], hit=False)  # entry 2 (P2)
        await touch(env, [P[3], P[4], P[0], P[1]], hit=True)
        assert env.counters() == (16, 7, 9)
        await touch(env, [P[2]], hit=False)  # entry 3 (P3): entries P4 P0 P1 P2
        # Invalidating P0 frees entry 1: the next fill takes it, not entry 0.
        await env.invalidate("by_range", asid=1, first=0x8, pages=1)
        await touch(env, [P[5]], hit=False)
        assert env.counters() == (16, 9, 13)
        await touch(env, [P[4], P[1], P[2], P[5]], hit=True)
        assert env.counters() == (20, 9, 13)
        # Full again: replacement resumes after entry 3, at entry 0 (P4).
        await touch(env, [P[0]], hit=False)
        await touch(env, [P[1], P[2], P[5], P[0]], hit=True)
        assert env.counters() == (24, 10, 14)
        await touch(env, [P[4], P[5], P[1]], hit=False)  # entries 1, 2, 3
        await touch(env, [P[0], P[4], P[5], P[1]], hit=True)
        assert env.counters() == (28, 13, 17)

    run(bench, data_width=data_width, tlb_entries=4)


# --- invalidation ---------------------------------------------------------------------------------


@WIDTHS
def test_invalidate_by_asid_and_everything(data_width):
    async def bench(env):
        assert await env.pa(0x0000_0000, asid=1) == 0x1234_5000
        assert await env.pa(0x0000_7000, asid=1) == 0x3777_7000
        assert await env.pa(0x0000_0000, asid=2) == 0x2444_4000
        assert await env.pa(0x0000_1000, asid=2) == 0x2444_5000
        assert env.counters() == (0, 4, 8)
        assert env.ctx.get(env.dut.inv_count) == 0
        await env.invalidate("by_asid", asid=2)
        assert env.ctx.get(env.dut.inv_count) == 1
        # Address space 1 keeps its entries; 2 walks again (the walk cache was flushed too).
        assert await env.translate(0x0000_0000, asid=1) == Answer(0, 0x1234_5000, 1)
        assert await env.translate(0x0000_7000, asid=1) == Answer(0, 0x3777_7000, 1)
        assert env.counters() == (2, 4, 8)
        assert await env.pa(0x0000_0000, asid=2) == 0x2444_4000
        assert await env.pa(0x0000_1000, asid=2) == 0x2444_5000
        assert env.counters() == (2, 6, 12)
        await env.invalidate("everything")
        assert env.ctx.get(env.dut.inv_count) == 2
        assert await env.pa(0x0000_7000, asid=1) == 0x3777_7000
        assert await env.pa(0x0000_1000, asid=2) == 0x2444_5000
        assert env.counters() == (2, 8, 18)
        assert await env.translate(0x0000_1000, asid=2) == Answer(0, 0x2444_5000, 1)

    run(bench, data_width=data_width)


@WIDTHS
def test_invalidate_by_range(data_width):
    async def bench(env):
        async def hit(va, pa, asid=1):
            assert await env.translate(va, asid) == Answer(0, pa, 1), f"{va:#x}"

        async def miss(va, pa):
            answer = await env.translate(va)
            assert (answer.fault, answer.pa) == (0, pa), f"{va:#x}"
            assert answer.cycles > 1, f"{va:#x}: a hit"

        assert await env.pa(0x0000_0000) == 0x1234_5000  # page 0
        assert await env.pa(0x0000_7000) == 0x3777_7000  # page 7
        assert await env.pa(0x0041_2000) == 0x2BC1_2000  # 2 MiB block: pages 0x400 to 0x5FF
        assert await env.pa(0x0000_0000, asid=2) == 0x2444_4000
        assert env.counters() == (0, 4, 8)
        # Pages 1 to 6: neither page 0 nor page 7.
        await env.invalidate("by_range", asid=1, first=0x1, pages=6)
        await hit(0x0000_0000, 0x1234_5000)
        await hit(0x0000_7FFF, 0x3777_7FFF)
        await hit(0x0040_0000, 0x2BC0_0000)
        await hit(0x0000_0000, 0x2444_4000, asid=2)
        # No pages: nothing.
        await env.invalidate("by_range", asid=1, first=0x0, pages=0)
        await hit(0x0000_0000, 0x1234_5000)
        # Another address space's range.
        await env.invalidate("by_range", asid=2, first=0x7, pages=1)
        await hit(0x0000_7000, 0x3777_7000)
        assert env.counters() == (6, 4, 8)
        # Page 7 exactly.
        await env.invalidate("by_range", asid=1, first=0x7, pages=1)
        await miss(0x0000_7000, 0x3777_7000)
        await hit(0x0000_0000, 0x1234_5000)
        assert env.counters() == (7, 5, 11)
        # The page just below the block, then a range overlapping its first page only.
        await env.invalidate("by_range", asid=1, first=0x3FF, pages=1)
        await hit(0x0040_0000, 0x2BC0_0000)
        await env.invalidate("by_range", asid=1, first=0x3FF, pages=2)
        await miss(0x005F_F000, 0x2BDF_F000)
        # Its last page only.
        await env.invalidate("by_range", asid=1, first=0x5FF, pages=0x10)
        await miss(0x0040_0000, 0x2BC0_0000)
        # A range inside the block.
        await env.invalidate("by_range", asid=1, first=0x480, pages=3)
        await miss(0x0050_0000, 0x2BD0_0000)
        assert env.counters() == (8, 8, 17)
        # A range inside a 1 GiB block.
        await miss(0x4123_4000, 0x0123_4000)
        await env.invalidate("by_range", asid=1, first=0x5_0000, pages=1)
        await miss(0x4123_4000, 0x0123_4000)
        # A range to the last page of the address space.
        await miss(0x7F_FFFF_F000, 0xFF_FFFF_F000)
        await env.invalidate("by_range", asid=1, first=0x7FF_FFFF, pages=1)
        await miss(0x7F_C000_0000, 0xFF_C000_0000)
        await env.invalidate("by_range", asid=1, first=0x100_0000, pages=0x700_0000)
        await miss(0x7F_C000_0000, 0xFF_C000_0000)
        # Address space 2 and page 0 of 1 were never in a range.
        await hit(0x0000_0000, 0x2444_4000, asid=2)
        await hit(0x0000_0000, 0x1234_5000)
        assert env.counters() == (10, 13, 22)
        assert env.ctx.get(env.dut.inv_count) == 11

    run(bench, data_width=data_width)


def test_invalidate_a_range_running_past_the_address_space():
    """inv_pages is 28 bits: from a first page above 2^27 - ..., the sum needs 29 bits."""

    async def bench(env):
        assert await env.pa(0x7F_C000_1000) == 0xFF_C000_1000
        await env.invalidate("by_range", asid=1, first=0x7FC_0000, pages=0xFFF_FFFF)
        answer = await env.translate(0x7F_C000_1000)
        assert (answer.fault, answer.pa) == (0, 0xFF_C000_1000)
        assert env.counters() == (0, 2, 2)

    run(bench)


def test_simultaneous_commands_the_widest_wins():
    async def bench(env):
        dut, ctx = env.dut, env.ctx
        assert await env.pa(0x0000_0000, asid=1) == 0x1234_5000
        assert await env.pa(0x0000_0000, asid=2) == 0x2444_4000
        # by_asid and by_range (of a page not mapped): by_asid.
        await env.invalidate("by_asid", "by_range", asid=1, first=0x100, pages=1)
        assert ctx.get(dut.inv_count) == 1
        assert (await env.translate(0x0000_0000, asid=1)).cycles > 1
        assert await env.translate(0x0000_0000, asid=2) == Answer(0, 0x2444_4000, 1)
        # All three, address space 1: everything.
        await env.invalidate("everything", "by_asid", "by_range", asid=1, first=0x100, pages=1)
        assert ctx.get(dut.inv_count) == 2
        assert (await env.translate(0x0000_0000, asid=2)).cycles > 1
        assert env.counters() == (1, 4, 12)

    run(bench)


#: (command, operands, whether the walked page is removed)
DURING_WALK = [
    ("everything", {}, True),
    ("by_asid", {"asid": 1}, True),
    ("by_asid", {"asid": 2}, False),
    ("by_range", {"asid": 1, "first": 0x0, "pages": 1}, True),
    ("by_range", {"asid": 1, "first": 0x1, "pages": 1}, False),
]


@pytest.mark.parametrize(
    ("op", "operands", "removed"),
    DURING_WALK,
    ids=[f"{c[0]}-{'-'.join(f'{v}' for v in c[1].values())}" for c in DURING_WALK],
)
def test_invalidation_waits_for_the_walk_in_progress(op, operands, removed):
    async def bench(env):
        dut, ctx = env.dut, env.ctx
        log = []

        def hook(n):
            if n == 2:
                ctx.set(dut.inv_asid, operands.get("asid", 0))
                ctx.set(dut.inv_first, operands.get("first", 0))
                ctx.set(dut.inv_pages, operands.get("pages", 0))
            ctx.set(getattr(dut, op), n == 2)
            log.append((ctx.get(dut.inv_busy), ctx.get(dut.inv_done)))

        answers, _ = await env.run({0: [(0x0000_0000, 1, READ)]}, hook=hook)
        (answer,) = answers[0]
        assert (answer.fault, answer.pa) == (0, 0x1234_5000)
        ctx.set(getattr(dut, op), 0)
        assert answer.cycles > 20  # three reads of 6 cycles' latency
        # Pending from the cycle after the command to the walk's answer, at least.
        assert log == [(0, 0)] * 3 + [(1, 0)] * (answer.cycles - 3)
        await env.inv_wait()
        assert ctx.get(dut.inv_count) == 1
        answer = await env.translate(0x0000_0000)
        assert (answer.fault, answer.pa) == (0, 0x1234_5000)
        assert (answer.cycles > 1) == removed
        assert env.counters() == ((0, 2, 6) if removed else (1, 1, 3))
        # The walk cache is flushed either way: a neighbour page takes three reads unless the
        # walk again above refilled it.
        assert await env.pa(0x0000_7000) == 0x3777_7000
        assert env.counters()[2] == (7 if removed else 6)

    run(bench, read_latency=6)


def test_a_command_while_one_is_pending_is_ignored():
    async def bench(env):
        dut, ctx = env.dut, env.ctx

        def hook(n):
            ctx.set(dut.inv_asid, 2)
            ctx.set(dut.by_asid, n == 2)
            ctx.set(dut.everything, n == 5)

        answers, _ = await env.run({0: [(0x0000_0000, 1, READ)]}, hook=hook)
        ctx.set(dut.everything, 0)
        assert answers[0][0].pa == 0x1234_5000
        await env.inv_wait()
        await env.step(3)
        assert ctx.get(dut.inv_count) == 1
        assert not ctx.get(dut.inv_busy)
        assert await env.translate(0x0000_0000) == Answer(0, 0x1234_5000, 1)

    run(bench, read_latency=6)


# --- ports ----------------------------------------------------------------------------------------


@WIDTHS
def test_two_ports(data_width):
    async def bench(env):
        assert await env.pa(0x0000_0000, asid=1, port=0) == 0x1234_5000
        # Both ports, back to back, every request a walk: served in turn, port 1 first.
        answers, order = await env.run(
            {
                0: [(0x0000_7000, 1, READ), (0x0020_0000, 1, READ), (0x0000_8000, 1, WRITE)],
                1: [(0x0000_0000, 2, READ), (0x0000_1000, 2, WRITE), (0x0020_1000, 1, READ)],
            }
        )
        assert [(a.fault, a.pa) for a in answers[0]] == [
            (0, 0x3777_7000),
            (0, 0x3300_0000),
            (0, 0x0800_8000),
        ]
        assert [(a.fault, a.pa) for a in answers[1]] == [
            (0, 0x2444_4000),
            (0, 0x2444_5000),
            (0, 0x3300_1000),
        ]
        assert order == [
            (1, 0x0000_0000),
            (0, 0x0000_7000),
            (1, 0x0000_1000),
            (0, 0x0020_0000),
            (1, 0x0020_1000),
            (0, 0x0000_8000),
        ]
        assert env.counters() == (0, 7, 12)
        # The same page on both: one walk, the other port answered by the TLB.
        answers, _ = await env.run({0: [(0x0000_9000, 1, READ)], 1: [(0x0000_9ABC, 1, WRITE)]})
        assert (answers[0][0].fault, answers[0][0].pa) == (0, 0x0800_9000)
        assert (answers[1][0].fault, answers[1][0].pa) == (0, 0x0800_9ABC)
        assert env.counters() == (1, 8, 13)
        # Two hits in the same cycle.
        answers, _ = await env.run({0: [(0x0000_0010, 1, READ)], 1: [(0x0000_7FF0, 1, WRITE)]})
        assert answers == {0: [Answer(0, 0x1234_5010, 1)], 1: [Answer(0, 0x3777_7FF0, 1)]}
        assert env.counters() == (3, 8, 13)
        # Hits and walks mixed, back to back: every answer belongs to its own request.
        answers, _ = await env.run(
            {
                0: [
                    (0x0000_0000, 1, READ),
                    (0x0000_A000, 1, READ),
                    (0x0000_0000, 2, READ),
                    (0x0000_A004, 1, WRITE),
                ],
                1: [
                    (0x0000_7000, 1, FETCH),
                    (0x0000_B000, 1, READ),
                    (0x0000_1000, 2, WRITE),
                    (0x0000_9000, 1, READ),
                ],
            }
        )
        assert [(a.fault, a.pa) for a in answers[0]] == [
            (0, 0x1234_5000),
            (0, 0x0800_A000),
            (0, 0x2444_4000),
            (0, 0x0800_A004),
        ]
        assert [(a.fault, a.pa) for a in answers[1]] == [
            (0, 0x3777_7000),
            (0, 0x0800_B000),
            (0, 0x2444_5000),
            (0, 0x0800_9000),
        ]
        assert env.counters() == (9, 10, 15)

    run(bench, data_width=data_width, tlb_entries=16)


def test_two_ports_fault_and_translate_at_once():
    """A fault on one port and a walk on the other, at once: each gets its own answer."""

    async def bench(env):
        answers, _ = await env.run(
            {0: [(0x0000_4000, 1, WRITE), (0x0000_0000, 1, READ)], 1: [(0x0000_0000, 2, READ)]}
        )
        assert [a.fault for a in answers[0]] == [1, 1]
        assert (answers[1][0].fault, answers[1][0].pa) == (0, 0x2444_4000)
        assert env.record(1) == (TRANSLATION, 3, WRITE, 1, 0x0000_4000)
        assert env.record(2) == idle()
        await env.step(2)
        assert len(env.events) == 1

    run(bench)


def test_a_hit_answered_after_ack_races_the_request_is_counted():
    """A request in a stopped address space, with ack in its first cycle, is answered by the TLB.

    It reaches the sequencer (the address space was stopped), which finds it running and the page
    in the TLB: a translation answered by the TLB, so ``hits`` should count it.
    """

    async def bench(env):
        ctx, dut = env.ctx, env.dut
        assert await env.pa(0x0000_0000) == 0x1234_5000
        assert (await env.translate(0x0000_4000)).fault == 1
        assert env.counters() == (0, 2, 4)

        def hook(n):
            ctx.set(dut.aspace[1].ack, n == 0)

        answers, _ = await env.run({0: [(0x0000_0000, 1, READ)]}, hook=hook)
        ctx.set(dut.aspace[1].ack, 0)
        assert (answers[0][0].fault, answers[0][0].pa) == (0, 0x1234_5000)
        assert env.record(1) == idle()
        assert env.counters() == (1, 2, 4)

    run(bench)
