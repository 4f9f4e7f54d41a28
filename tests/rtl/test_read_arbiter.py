"""Unit tests of the read arbiter: AR grant order and stability, R routing by ID, construction.

The testbench plays both the managers and the subordinate. Every AR run checks, cycle by cycle,
that an AR offered and not accepted is offered again unchanged, and that ARREADY reaches only
the granted manager. Expected grant orders and addresses are literals.
"""

import pytest
from amaranth.hdl import Fragment, Value
from rtl_kit import construction_error, simulate
from tinynpu.rtl.arbiter import ReadArbiter

#: Cycles an AR run may take before it is declared hung.
LIMIT = 64
#: Members of an AR offer on ``mem``, as recorded by :func:`drive_ar`.
OFFER = ("arid", "araddr", "arlen", "arsize", "arburst", "arlock", "arcache", "arprot")


def run(managers, bench, *, data_width=64):
    """Run ``bench(ctx, dut)`` on a fresh arbiter."""
    dut = ReadArbiter(managers=managers, data_width=data_width, addr_width=40, id_width=4)

    async def testbench(ctx):
        await bench(ctx, dut)

    simulate(dut, testbench)


async def drive_ar(ctx, dut, requests, *, ready=lambda cycle: True, starts=None):
    """Offer ``requests[i]`` (a list of ``(araddr, arlen)``) from manager ``i``, in order.

    Manager ``i`` raises ARVALID from cycle ``starts[i]`` and keeps it high, its payload
    unchanged, until all its requests are accepted. Each manager drives ``arid = 15 - i`` and
    its own size, burst, lock, cache and prot, which the arbiter must pass through. ARREADY is
    ``ready(cycle)``. Returns ``(handshakes, offers)``: the accepted ``(arid, araddr, arlen)``
    in order, and per cycle the ``mem`` offer (a dict of :data:`OFFER`) or None.
    """
    mgrs, mem = list(dut.m), dut.mem
    pending = [list(r) for r in requests]
    starts = starts or [0] * len(mgrs)
    handshakes, offers, stalled = [], [], None
    for cycle in range(LIMIT):
        if not any(pending):
            break
        for i, port in enumerate(mgrs):
            active = bool(pending[i]) and cycle >= starts[i]
            ctx.set(port.arvalid, active)
            addr, length = pending[i][0] if pending[i] else (0, 0)
            for name, value in [("araddr", addr), ("arlen", length), ("arid", 15 - i)]:
                ctx.set(getattr(port, name), value)
            for name, value in [("arsize", 3), ("arburst", 1), ("arlock", i & 1)]:
                ctx.set(getattr(port, name), value)
            ctx.set(port.arcache, i + 2)
            ctx.set(port.arprot, 7 - i)
        ctx.set(mem.arready, ready(cycle))
        valid, accepted = ctx.get(mem.arvalid), ctx.get(mem.arvalid & mem.arready)
        offer = {n: ctx.get(Value.cast(getattr(mem, n))) for n in OFFER} if valid else None
        offers.append(offer)
        if stalled is not None:
            assert offer == stalled, f"cycle {cycle}: AR changed while not accepted"
        for i, port in enumerate(mgrs):
            granted = valid and offer["arid"] == i
            assert ctx.get(port.arready) == (granted and ready(cycle)), f"m{i}.arready"
        await ctx.tick()
        stalled = offer if valid and not accepted else None
        if accepted:
            owner = offer["arid"]
            assert pending[owner], f"m{owner} granted without a request"
            assert (offer["araddr"], offer["arlen"]) == pending[owner].pop(0)
            assert offer["arsize"] == 3 and offer["arburst"] == 1
            assert offer["arlock"] == owner & 1
            assert (offer["arcache"], offer["arprot"]) == (owner + 2, 7 - owner)
            handshakes.append((owner, offer["araddr"], offer["arlen"]))
    else:
        pytest.fail(f"requests left after {LIMIT} cycles: {pending}")
    for port in mgrs:
        ctx.set(port.arvalid, 0)
    return handshakes, offers


# --- grant order --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ready", [lambda c: True, lambda c: c % 2 == 1, lambda c: c % 3 == 2], ids=["1", "1/2", "1/3"]
)
def test_two_busy_managers_alternate(ready):
    requests = [
        [(0x10_0000_1000, 3), (0x10_0000_1040, 3), (0x10_0000_1080, 3)],
        [(0x20_0000_2000, 7), (0x20_0000_2100, 7), (0x20_0000_2200, 7)],
    ]

    async def bench(ctx, dut):
        handshakes, _ = await drive_ar(ctx, dut, requests, ready=ready)
        assert handshakes == [
            (0, 0x10_0000_1000, 3),
            (1, 0x20_0000_2000, 7),
            (0, 0x10_0000_1040, 3),
            (1, 0x20_0000_2100, 7),
            (0, 0x10_0000_1080, 3),
            (1, 0x20_0000_2200, 7),
        ]

    run(2, bench)


def test_lone_manager_is_granted_every_cycle():
    async def bench(ctx, dut):
        requests = [[], [(0x100, 0), (0x200, 1), (0x300, 2)]]
        handshakes, offers = await drive_ar(ctx, dut, requests)
        assert handshakes == [(1, 0x100, 0), (1, 0x200, 1), (1, 0x300, 2)]
        assert len(offers) == 3  # one handshake per cycle, no bubbles
        # Once m1 has been served, m0 takes its turn at once; then m1 again.
        requests = [[(0xA00, 0), (0xA40, 0)], [(0xB00, 0)]]
        handshakes, _ = await drive_ar(ctx, dut, requests)
        assert handshakes == [(0, 0xA00, 0), (1, 0xB00, 0), (0, 0xA40, 0)]

    run(2, bench)


@pytest.mark.parametrize("first", [0, 1])
def test_stalled_ar_is_not_replaced_by_a_later_request(first):
    """The first offer stays on ``mem``, unchanged, while ARREADY is low for six cycles."""
    other = 1 - first
    request = {0: (0x12_3456_7000, 3), 1: (0x0F_EDCB_A000, 15)}

    async def bench(ctx, dut):
        starts = [0, 0]
        starts[other] = 1  # the other manager asks one cycle after the first is offered
        requests = [[request[0]], [request[1]]]
        handshakes, offers = await drive_ar(
            ctx, dut, requests, ready=lambda c: c >= 6, starts=starts
        )
        addr, length = request[first]
        assert [(o["arid"], o["araddr"], o["arlen"]) for o in offers[:7]] == [
            (first, addr, length)
        ] * 7
        assert handshakes == [(first, *request[first]), (other, *request[other])]

    run(2, bench)


# --- three managers -----------------------------------------------------------------------------


def test_three_managers_round_robin():
    async def bench(ctx, dut):
        requests = [[(0x000, 0), (0x010, 0)], [(0x100, 1), (0x110, 1)], [(0x200, 2), (0x210, 2)]]
        handshakes, _ = await drive_ar(ctx, dut, requests, ready=lambda c: c % 2 == 0)
        assert [(i, a) for i, a, _ in handshakes] == [
            (0, 0x000),
            (1, 0x100),
            (2, 0x200),
            (0, 0x010),
            (1, 0x110),
            (2, 0x210),
        ]
        # m1 idle: m0 and m2 alternate, the scan skipping m1 (after m2 it starts at m0).
        requests = [[(0x020, 0), (0x030, 0)], [], [(0x220, 0), (0x230, 0)]]
        handshakes, _ = await drive_ar(ctx, dut, requests)
        assert [(i, a) for i, a, _ in handshakes] == [
            (0, 0x020),
            (2, 0x220),
            (0, 0x030),
            (2, 0x230),
        ]
        # Last served m2; m2 and m1 request: m1 comes first (the scan wraps through m0).
        requests = [[], [(0x120, 0)], [(0x240, 0)]]
        handshakes, _ = await drive_ar(ctx, dut, requests)
        assert [(i, a) for i, a, _ in handshakes] == [(1, 0x120), (2, 0x240)]

    run(3, bench)


# --- read data routing --------------------------------------------------------------------------


@pytest.mark.parametrize("managers", [2, 3])
def test_interleaved_r_beats_are_routed_by_id(managers):
    """Beats of different IDs interleave; each manager gets exactly its own, in order."""
    beats = [  # (rid, rdata, rresp, rlast)
        (0, 0xA0A0_0000_0000_0000, 0, 0),
        (1, 0xB0B0_0000_0000_0001, 0, 0),
        (1, 0xB0B0_0000_0000_0002, 2, 0),
        (0, 0xA0A0_0000_0000_0003, 0, 1),
        (managers - 1, 0xC0C0_0000_0000_0004, 3, 0),
        (1, 0xB0B0_0000_0000_0005, 0, 1),
        (managers - 1, 0xC0C0_0000_0000_0006, 0, 1),
    ]
    expected = [[b[1:] for b in beats if b[0] == i] for i in range(managers)]

    async def bench(ctx, dut):
        mgrs, mem = list(dut.m), dut.mem
        received = [[] for _ in range(managers)]
        index = 0
        for cycle in range(LIMIT):
            if index == len(beats):
                break
            rid, rdata, rresp, rlast = beats[index]
            for name, value in zip(("rid", "rdata", "rresp", "rlast"), beats[index], strict=True):
                ctx.set(getattr(mem, name), value)
            ctx.set(mem.rvalid, 1)
            # Each manager has its own pattern of back-pressure.
            readies = [(cycle + i) % (i + 2) != 0 for i in range(managers)]
            for port, ready in zip(mgrs, readies, strict=True):
                ctx.set(port.rready, ready)
            assert [ctx.get(p.rvalid) for p in mgrs] == [int(i == rid) for i in range(managers)]
            owner = mgrs[rid]
            assert ctx.get(owner.rdata) == rdata
            assert ctx.get(owner.rresp.as_value()) == rresp
            assert ctx.get(owner.rlast) == rlast
            assert ctx.get(mem.rready) == readies[rid], "RREADY not the owner's"
            await ctx.tick()
            for i, port in enumerate(mgrs):
                if ctx.get(port.rvalid) and readies[i]:
                    value = ctx.get(port.rresp.as_value())
                    received[i].append((ctx.get(port.rdata), value, ctx.get(port.rlast)))
            index += readies[rid]
        else:
            pytest.fail("beats not all taken")
        assert received == expected

    run(managers, bench)


def test_rready_comes_only_from_the_owner():
    async def bench(ctx, dut):
        (m0, m1), mem = dut.m, dut.mem
        ctx.set(mem.rvalid, 1)
        for rid, r0, r1, expected in [(0, 0, 1, 0), (0, 1, 0, 1), (1, 1, 0, 0), (1, 0, 1, 1)]:
            ctx.set(mem.rid, rid)
            ctx.set(m0.rready, r0)
            ctx.set(m1.rready, r1)
            assert ctx.get(mem.rready) == expected
            assert (ctx.get(m0.rvalid), ctx.get(m1.rvalid)) == (rid == 0, rid == 1)
        ctx.set(mem.rvalid, 0)
        assert (ctx.get(m0.rvalid), ctx.get(m1.rvalid)) == (0, 0)

    run(2, bench)


# --- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("managers", "id_width", "message"),
    [
        (1, 4, "between 2 and 16, not 1"),
        (0, 4, "between 2 and 16, not 0"),
        (17, 4, "between 2 and 16, not 17"),
        (3, 1, "between 2 and 2, not 3"),
        (5, 2, "between 2 and 4, not 5"),
        (2.0, 4, "between 2 and 16, not 2.0"),
        ("2", 4, "between 2 and 16, not '2'"),
    ],
)
def test_bad_manager_count(managers, id_width, message):
    error = construction_error(
        ReadArbiter, managers=managers, data_width=64, addr_width=40, id_width=id_width
    )
    assert error == f"Number of managers must be an integer {message}"


@pytest.mark.parametrize(("managers", "id_width"), [(2, 1), (4, 2), (16, 4)])
def test_largest_and_smallest_manager_counts(managers, id_width):
    dut = ReadArbiter(managers=managers, data_width=32, addr_width=40, id_width=id_width)
    assert len(dut.m) == managers
    assert len(dut.mem.arid) == id_width
    Fragment.get(dut, None)
