"""The ring fetcher in amaranth.sim: doorbells, bursts, wrap-around, limits and errors."""

import random

import pytest
from rtl_kit import simulate, stream_receive
from tinynpu.rtl.axi import Resp
from tinynpu.rtl.layouts import QueueError, RingEntry, nbytes, pack, unpack
from tinynpu.rtl.queue import RingFetcher

ENTRY = nbytes(RingEntry)
TIMEOUT = 2000


class Memory:
    """An in-order AXI read responder over a bytearray, checking burst shapes."""

    def __init__(self, dut, width, *, errors=(), latency=2):
        self.dut, self.width, self.errors, self.latency = dut, width, errors, latency
        self.data = bytearray(1 << 16)
        self.bursts = []

    async def serve(self, ctx):
        mem, beat = self.dut.mem, self.width // 8
        while True:
            ctx.set(mem.arready, 1)
            _, _, addr, length, size, valid = await ctx.tick().sample(
                mem.araddr, mem.arlen, mem.arsize, mem.arvalid
            )
            if not valid:
                continue
            ctx.set(mem.arready, 0)
            assert size == beat.bit_length() - 1, "arsize is not the full bus width"
            assert addr % beat == 0
            last = addr + (length + 1) * beat - 1
            assert addr >> 12 == last >> 12, f"burst {addr:#x}..{last:#x} crosses 4 KiB"
            self.bursts.append((addr, length + 1))
            await ctx.tick().repeat(self.latency)
            for i in range(length + 1):
                a = addr + i * beat
                bad = any(lo <= a < hi for lo, hi in self.errors)
                ctx.set(mem.rdata, int.from_bytes(self.data[a : a + beat], "little"))
                ctx.set(mem.rresp, Resp.SLVERR if bad else Resp.OKAY)
                ctx.set(mem.rlast, i == length)
                ctx.set(mem.rvalid, 1)
                await ctx.tick().until(mem.rready)
            ctx.set(mem.rvalid, 0)


def entry_bytes(index):
    return pack(RingEntry, {"seqno": 1000 + index, "cmd_size": 8 * (index + 1), "cmd_addr": index})


def run(width, body, *, depth=8, errors=(), seed=0):
    dut = RingFetcher(data_width=width, depth=depth)
    memory = Memory(dut, width, errors=errors)
    popped = []

    async def bench(ctx):
        rng = random.Random(seed)

        async def pop_all(n):
            """Take entries, READY high 70% of cycles, until ``n`` have been taken in all."""
            if len(popped) >= n:
                return
            taken = await stream_receive(
                ctx, dut.entries, n - len(popped), ready=lambda _: rng.random() < 0.7, limit=TIMEOUT
            )
            for _, payload in taken:
                popped.append((payload.index, payload.entry.as_bits().to_bytes(ENTRY, "little")))

        async def doorbell(tail):
            ctx.set(dut.tail, tail)
            ctx.set(dut.doorbell, 1)
            await ctx.tick()
            ctx.set(dut.doorbell, 0)
            await ctx.tick()

        async def clear():
            ctx.set(dut.clear, 1)
            await ctx.tick()
            ctx.set(dut.clear, 0)
            await ctx.tick().repeat(4)

        await body(ctx, dut, memory, doorbell, pop_all, clear, popped)

    simulate(dut, bench, processes=[memory.serve])
    return memory, popped


def setup_ring(ctx, dut, memory, *, base, log2, first=0, count=None):
    ctx.set(dut.base, base)
    ctx.set(dut.size_log2, log2)
    size = 1 << log2
    for index in range(first, first + (size if count is None else count)):
        slot = index % size
        memory.data[base + slot * ENTRY : base + (slot + 1) * ENTRY] = entry_bytes(index)


WIDTHS = [32, 64, 128, 256]


def decoded(popped):
    return [(index, unpack(RingEntry, raw).seqno) for index, raw in popped]


@pytest.mark.parametrize("width", WIDTHS)
def test_fetches_published_entries_in_one_burst(width):
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x1000, log2=3)
        await doorbell(3)
        await pop_all(3)
        assert ctx.get(dut.head) == 3
        assert memory.bursts == [(0x1000, 3 * ENTRY // (width // 8) if width < 256 else 3)]
        assert [raw for _, raw in popped] == [entry_bytes(i) for i in range(3)]

    run(width, body)


@pytest.mark.parametrize("width", [32, 64])
def test_wraps_around_the_ring(width):
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x2000, log2=3, count=6)
        await doorbell(6)
        await pop_all(6)
        ctx.set(dut.done, 6)  # the firmware finished them: their slots are free again
        setup_ring(ctx, dut, memory, base=0x2000, log2=3, first=6, count=6)
        await doorbell(12)
        await pop_all(12)
        assert decoded(popped) == [(i, 1000 + i) for i in range(12)]
        beats = ENTRY // (width // 8)
        assert memory.bursts[-2:] == [(0x2000 + 6 * ENTRY, 2 * beats), (0x2000, 4 * beats)]

    run(width, body)


def test_fifo_room_bounds_the_burst():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=4)
        await doorbell(10)
        await ctx.tick().repeat(200)
        assert ctx.get(dut.level) == 4, "fetched more than the FIFO holds"
        assert ctx.get(dut.head) == 4
        await pop_all(10)
        assert decoded(popped) == [(i, 1000 + i) for i in range(10)]

    run(64, body, depth=4)


def test_bursts_stop_at_4k_boundaries():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        base = 0x1000 - 3 * ENTRY  # slots 3.. of the ring sit past the boundary
        setup_ring(ctx, dut, memory, base=base, log2=3)
        await doorbell(8)
        await pop_all(8)
        assert [addr for addr, _ in memory.bursts] == [base, 0x1000]
        assert decoded(popped) == [(i, 1000 + i) for i in range(8)]

    run(64, body)


def test_empty_doorbell_is_counted_not_fetched():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=2)
        await doorbell(0)
        await doorbell(0)
        await ctx.tick().repeat(20)
        assert ctx.get(dut.empty_doorbells) == 2
        assert memory.bursts == []
        assert ctx.get(dut.error) == QueueError.NONE

    run(64, body)


@pytest.mark.parametrize(
    "log2, done, tail, error",
    [
        (2, 0, 5, QueueError.BAD_TAIL),  # 5 entries ahead of done in a 4-entry ring
        (0, 0, 1, QueueError.BAD_SIZE),
        (13, 0, 1, QueueError.BAD_SIZE),
    ],
)
def test_bad_doorbells_stop_the_queue_until_clear(log2, done, tail, error):
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=2)
        ctx.set(dut.size_log2, log2)
        ctx.set(dut.done, done)
        ctx.set(dut.tail, tail)
        ctx.set(dut.doorbell, 1)
        _, _, event = await ctx.tick().sample(dut.error_event)
        ctx.set(dut.doorbell, 0)
        assert event == 1
        await ctx.tick().repeat(20)
        assert ctx.get(dut.error) == error
        assert memory.bursts == []
        ctx.set(dut.size_log2, 2)
        await doorbell(2)  # ignored while stopped
        await ctx.tick().repeat(20)
        assert memory.bursts == []
        await clear()
        assert ctx.get(dut.error) == QueueError.NONE
        assert ctx.get(dut.head) == 0
        await doorbell(2)
        await pop_all(2)
        assert decoded(popped) == [(0, 1000), (1, 1001)]

    run(64, body)


def test_tail_behind_head_is_bad():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=3)
        await doorbell(4)
        await pop_all(4)
        await doorbell(2)
        assert ctx.get(dut.error) == QueueError.BAD_TAIL
        assert ctx.get(dut.head) == 4

    run(64, body)


def test_bus_error_keeps_good_entries_and_stops():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=3)
        await doorbell(5)
        await pop_all(2)
        await ctx.tick().repeat(40)
        assert ctx.get(dut.error) == QueueError.BUS_ERROR
        assert ctx.get(dut.head) == 2
        assert ctx.get(dut.level) == 0
        assert decoded(popped) == [(0, 1000), (1, 1001)]

    # The third entry's second beat answers SLVERR.
    run(64, body, errors=[(2 * ENTRY + 8, 2 * ENTRY + 16)])


def test_clear_flushes_the_fifo():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=3)
        await doorbell(3)
        await ctx.tick().repeat(100)
        assert ctx.get(dut.level) == 3
        await clear()
        assert (ctx.get(dut.level), ctx.get(dut.head)) == (0, 0)
        await doorbell(1)
        await pop_all(1)
        assert decoded(popped) == [(0, 1000)]

    run(64, body)


def test_clear_during_a_burst_waits_for_it_to_drain():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        setup_ring(ctx, dut, memory, base=0x0, log2=3)
        await doorbell(4)
        await ctx.tick()  # the burst is requested; its data has not arrived
        assert memory.bursts, "no burst in flight to clear under"
        await clear()
        await ctx.tick().repeat(56)
        # The burst drained into the FIFO and was then flushed with everything else.
        assert (ctx.get(dut.level), ctx.get(dut.head)) == (0, 0)
        assert len(memory.bursts) == 1
        await doorbell(1)
        await pop_all(1)
        assert decoded(popped) == [(0, 1000)]

    run(64, body)
