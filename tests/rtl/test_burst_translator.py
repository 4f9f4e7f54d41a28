"""Unit tests of the burst translator against a scripted MMU responder.

The bench plays the burst source, the burst sink and the MMU, cycle by cycle. The MMU answers each
request a given number of cycles after it was raised (0: in the same cycle, as on a TLB hit),
from a literal table of physical addresses, or refuses it; it checks that a raised request is
held, unchanged, until answered. Expected cycles, requests and bursts are literals.
"""

from dataclasses import dataclass, field

import pytest
from amaranth.lib import data
from rtl_kit import simulate
from tinynpu.rtl.burst_translator import BurstTranslator
from tinynpu.rtl.layouts import Access

LAYOUT = data.StructLayout({"addr": 40, "beats": 9, "tag": 3})

#: The bursts the tests offer: (virtual address, beats, tag).
B0 = (0x12_3456_7040, 4, 1)
B1 = (0x00_0000_1FC0, 1, 2)
B2 = (0x7F_FFFF_F000, 256, 7)
B3 = (0x00_0040_0800, 32, 0)
B4 = (0x55_5555_5000, 3, 5)
B5 = (0x00_0000_0000, 8, 3)
B6 = (0x01_0000_0010, 2, 6)
B7 = (0xFF_FFFF_FFF8, 1, 4)
#: The MMU's translations.
PA = {
    0x12_3456_7040: 0xAB_CDEF_0040,
    0x00_0000_1FC0: 0x55_0000_0FC0,
    0x7F_FFFF_F000: 0x00_0000_3000,
    0x00_0040_0800: 0x00_0123_4800,
    0x55_5555_5000: 0xFF_FFFF_F000,
    0x00_0000_0000: 0x80_0000_0000,
    0x01_0000_0010: 0x02_0000_0010,
    0xFF_FFFF_FFF8: 0x00_0000_0FF8,
}
ASID, ACCESS = 5, Access.WRITE


def translated(burst):
    """A burst as the MMU's table translates it (the expected output: addr replaced)."""
    addr, beats, tag = burst
    return (PA[addr], beats, tag)


@dataclass
class Trace:
    requests: list = field(default_factory=list)  # (first cycle, va, asid, access)
    answers: list = field(default_factory=list)  # (cycle, va, fault)
    taken: list = field(default_factory=list)  # (cycle, va): i handshakes
    outputs: list = field(default_factory=list)  # (cycle, (addr, beats, tag)): o handshakes
    faults: list = field(default_factory=list)  # cycles of the fault pulse
    busy: list = field(default_factory=list)  # per cycle
    valid: list = field(default_factory=list)  # mmu.valid per cycle
    o_valid: list = field(default_factory=list)  # per cycle
    left: list = field(default_factory=list)  # bursts not taken at the end


def run(
    bursts,
    *,
    cycles,
    latency=0,
    refuse=lambda va, cycle: False,
    enable=1,
    stop=lambda cycle: 0,
    start=lambda cycle: 0,
    o_ready=lambda cycle: 1,
):
    """Offer ``bursts`` back to back on ``i`` for ``cycles`` cycles; return the :class:`Trace`.

    The MMU answers a request ``latency`` cycles after its first (a number, or a function of the
    virtual address) and refuses it if ``refuse(va, first cycle)``. ``stop``, ``start`` and
    ``o_ready`` are functions of the cycle.
    """
    dut = BurstTranslator(LAYOUT)
    trace = Trace()
    delay = latency if callable(latency) else (lambda va: latency)

    async def bench(ctx):
        queue = list(bursts)
        pending = None  # (request, first cycle)
        ctx.set(dut.enable, enable)
        ctx.set(dut.asid, ASID)
        ctx.set(dut.access, ACCESS)
        for cycle in range(cycles):
            ctx.set(dut.stop, stop(cycle))
            ctx.set(dut.start, start(cycle))
            ctx.set(dut.o.ready, o_ready(cycle))
            ctx.set(dut.i.valid, bool(queue))
            if queue:
                addr, beats, tag = queue[0]
                ctx.set(dut.i.payload, {"addr": addr, "beats": beats, "tag": tag})
            # The MMU.
            done = fault = pa = 0
            if ctx.get(dut.mmu.valid):
                mmu = dut.mmu
                request = (ctx.get(mmu.va), ctx.get(mmu.asid), Access(ctx.get(mmu.access)))
                if pending is None:
                    pending = (request, cycle)
                    trace.requests.append((cycle, *request))
                assert request == pending[0], f"cycle {cycle}: request changed before done"
                va, first = request[0], pending[1]
                if cycle - first >= delay(va):
                    done, fault = 1, int(refuse(va, first))
                    pa = 0 if fault else PA[va]
                    trace.answers.append((cycle, va, fault))
            else:
                assert pending is None, f"cycle {cycle}: request withdrawn before done"
            ctx.set(dut.mmu.done, done)
            ctx.set(dut.mmu.fault, fault)
            ctx.set(dut.mmu.pa, pa)
            # What the translator does this cycle.
            trace.busy.append(ctx.get(dut.busy))
            trace.valid.append(ctx.get(dut.mmu.valid))
            trace.o_valid.append(ctx.get(dut.o.valid))
            if ctx.get(dut.fault):
                trace.faults.append(cycle)
            if ctx.get(dut.o.valid) and o_ready(cycle):
                out = ctx.get(dut.o.payload)
                trace.outputs.append((cycle, (int(out.addr), int(out.beats), int(out.tag))))
            took = ctx.get(dut.i.ready)
            assert not took or queue, f"cycle {cycle}: i.ready without a burst"
            if took:
                trace.taken.append((cycle, queue[0][0]))
            await ctx.tick()
            if took:
                queue.pop(0)
            if done:
                pending = None
        trace.left = queue

    simulate(dut, bench)
    return trace


def request(cycle, burst):
    return (cycle, burst[0], ASID, ACCESS)


# --- pass-through ---------------------------------------------------------------------------------


def test_disabled_bursts_pass_unchanged():
    trace = run([B0, B1, B2, B3], cycles=8, enable=0, latency=2)
    assert trace.requests == []
    assert trace.valid == [0] * 8
    assert trace.taken == [(0, B0[0]), (1, B1[0]), (2, B2[0]), (3, B3[0])]
    assert trace.outputs == [(1, B0), (2, B1), (3, B2), (4, B3)]
    assert trace.busy == [0] * 8
    assert trace.faults == []


# --- translation ----------------------------------------------------------------------------------


def test_hits_one_burst_per_cycle():
    """Answers in the request's cycle: each burst taken as offered, out the next cycle."""
    bursts = [B0, B1, B2, B3, B4, B5, B6, B7]
    trace = run(bursts, cycles=10)
    assert trace.requests == [request(c, b) for c, b in enumerate(bursts)]
    assert trace.taken == [(c, b[0]) for c, b in enumerate(bursts)]
    assert trace.outputs == [
        (1, (0xAB_CDEF_0040, 4, 1)),
        (2, (0x55_0000_0FC0, 1, 2)),
        (3, (0x00_0000_3000, 256, 7)),
        (4, (0x00_0123_4800, 32, 0)),
        (5, (0xFF_FFFF_F000, 3, 5)),
        (6, (0x80_0000_0000, 8, 3)),
        (7, (0x02_0000_0010, 2, 6)),
        (8, (0x00_0000_0FF8, 1, 4)),
    ]
    assert trace.busy == [0] * 10
    assert trace.faults == []


@pytest.mark.parametrize("latency", [1, 3])
def test_answers_after_a_walk(latency):
    """The burst is taken in the answer's cycle and out the next; the request held until then."""
    trace = run([B0, B1, B2], cycles=16, latency=latency)
    assert [r[1:] for r in trace.requests] == [
        (B0[0], ASID, ACCESS),
        (B1[0], ASID, ACCESS),
        (B2[0], ASID, ACCESS),
    ]
    # Each answered `latency` cycles after its request, taken then, out in the next cycle.
    r0, r1, r2 = [r[0] for r in trace.requests]
    a0, a1, a2 = r0 + latency, r1 + latency, r2 + latency
    assert trace.answers == [(a0, B0[0], 0), (a1, B1[0], 0), (a2, B2[0], 0)]
    assert trace.taken == [(a0, B0[0]), (a1, B1[0]), (a2, B2[0])]
    assert trace.outputs == [
        (a0 + 1, translated(B0)),
        (a1 + 1, translated(B1)),
        (a2 + 1, translated(B2)),
    ]
    assert trace.faults == []


def test_varied_latency_and_backpressure_translate_each_burst_once():
    latency = {B0[0]: 0, B1[0]: 2, B2[0]: 0, B3[0]: 5, B4[0]: 1, B5[0]: 0, B6[0]: 3, B7[0]: 0}
    bursts = [B0, B1, B2, B3, B4, B5, B6, B7]
    trace = run(
        bursts,
        cycles=60,
        latency=lambda va: latency[va],
        o_ready=lambda cycle: cycle % 3 != 1 and not 10 <= cycle < 17,
    )
    assert [r[1] for r in trace.requests] == [b[0] for b in bursts]
    assert [out for _, out in trace.outputs] == [
        (0xAB_CDEF_0040, 4, 1),
        (0x55_0000_0FC0, 1, 2),
        (0x00_0000_3000, 256, 7),
        (0x00_0123_4800, 32, 0),
        (0xFF_FFFF_F000, 3, 5),
        (0x80_0000_0000, 8, 3),
        (0x02_0000_0010, 2, 6),
        (0x00_0000_0FF8, 1, 4),
    ]
    assert trace.left == []
    assert trace.faults == []


def test_busy_while_a_request_is_unanswered():
    trace = run([B0], cycles=6, latency=3)
    assert trace.requests == [request(0, B0)]
    assert trace.valid == [1, 1, 1, 1, 0, 0]
    assert trace.busy == [1, 1, 1, 0, 0, 0]
    assert trace.outputs == [(4, translated(B0))]


# --- faults ---------------------------------------------------------------------------------------


def test_fault_stops_the_stream_until_start():
    """B1 is refused: one fault pulse, B1 stays in i, nothing more is asked until start.

    After start (the page mapped meanwhile) B1 and B2 go through.
    """
    trace = run(
        [B0, B1, B2],
        cycles=30,
        refuse=lambda va, cycle: va == B1[0] and cycle < 20,
        start=lambda cycle: cycle == 20,
    )
    assert trace.requests == [request(0, B0), request(1, B1), request(21, B1), request(22, B2)]
    assert trace.answers == [(0, B0[0], 0), (1, B1[0], 1), (21, B1[0], 0), (22, B2[0], 0)]
    assert trace.faults == [1]
    assert trace.taken == [(0, B0[0]), (21, B1[0]), (22, B2[0])]
    assert trace.outputs == [(1, translated(B0)), (22, translated(B1)), (23, translated(B2))]
    # Between the fault and start: no request, not busy.
    assert trace.valid[2:21] == [0] * 19
    assert trace.busy[1:21] == [0] * 20


def test_fault_after_a_walk():
    trace = run(
        [B0, B1],
        cycles=20,
        latency=2,
        refuse=lambda va, cycle: cycle < 10,
        start=lambda cycle: cycle == 10,
    )
    assert trace.requests == [request(0, B0), request(11, B0), request(14, B1)]
    assert trace.answers == [(2, B0[0], 1), (13, B0[0], 0), (16, B1[0], 0)]
    assert trace.faults == [2]
    assert trace.busy[:3] == [1, 1, 0]
    assert trace.valid[3:11] == [0] * 8
    assert trace.taken == [(13, B0[0]), (16, B1[0])]
    assert trace.outputs == [(14, translated(B0)), (17, translated(B1))]


def test_fault_on_the_first_burst_keeps_everything():
    trace = run([B0, B1], cycles=12, latency=1, refuse=lambda va, cycle: True)
    assert trace.requests == [request(0, B0)]
    assert trace.faults == [1]
    assert trace.taken == []
    assert trace.outputs == []
    assert trace.left == [B0, B1]
    assert trace.o_valid == [0] * 12


# --- stop and start -------------------------------------------------------------------------------


def test_no_request_while_stop_is_high():
    trace = run([B0, B1], cycles=14, stop=lambda cycle: cycle < 10)
    assert trace.valid[:10] == [0] * 10
    assert trace.busy[:10] == [0] * 10
    assert trace.requests == [request(10, B0), request(11, B1)]
    assert trace.outputs == [(11, translated(B0)), (12, translated(B1))]


def test_a_raised_request_is_held_until_answered_when_stop_rises():
    trace = run([B0, B1], cycles=20, latency=4, stop=lambda cycle: 1 <= cycle < 12)
    assert trace.requests == [request(0, B0), request(12, B1)]
    assert trace.valid[:5] == [1] * 5
    assert trace.valid[5:12] == [0] * 7
    assert trace.answers == [(4, B0[0], 0), (16, B1[0], 0)]
    assert trace.outputs == [(5, translated(B0)), (17, translated(B1))]


def test_start_empties_the_output_register():
    """The sink never takes B0: start drops it; B1 follows."""
    trace = run(
        [B0, B1],
        cycles=12,
        start=lambda cycle: cycle == 4,
        o_ready=lambda cycle: cycle >= 6,
    )
    assert trace.taken == [(0, B0[0]), (5, B1[0])]
    assert trace.o_valid == [0, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
    assert trace.outputs == [(6, translated(B1))]
    assert trace.requests == [request(0, B0), request(5, B1)]
