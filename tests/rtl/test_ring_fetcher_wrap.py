"""The ring fetcher across the 32-bit wrap of its indices, in amaranth.sim.

Head, tail and done are free-running 32-bit counts (``host.rdl``: entry ``i`` sits in slot
``i mod ring_size``). Four billion entries are not fetched: the head is set to just below 2**32,
as that many would leave it, and the fetches, the doorbells' checks and the indices the entries
carry are followed across the wrap.
"""

import pytest
from test_ring_fetcher import ENTRY, decoded, entry_bytes, run
from tinynpu.rtl.layouts import QueueError

WRAP = 1 << 32
START = WRAP - 4  # head, tail and done after 2**32 - 4 entries


def place(ctx, dut, memory, *, base, log2, indices):
    """Write the entry of each index in its slot; point the fetcher at the ring."""
    ctx.set(dut.base, base)
    ctx.set(dut.size_log2, log2)
    for index in indices:
        slot = index % (1 << log2)
        memory.data[base + slot * ENTRY : base + (slot + 1) * ENTRY] = entry_bytes(index % 1000)


async def at_start(ctx, dut):
    """The state after 2**32 - 4 entries fetched and done, 2**32 published.

    The tail last published is 0 (2**32, wrapped) from reset, so with the head at START the
    four entries below the wrap are published: the fetcher takes them at once.
    """
    ctx.set(dut.done, START)
    ctx.set(dut.tail, 0)
    ctx.set(dut.head, START)
    await ctx.tick()


@pytest.mark.parametrize("width", [32, 64])
def test_the_head_wraps_with_the_tail(width):
    indices = [(START + i) % WRAP for i in range(6)]

    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        place(ctx, dut, memory, base=0x2000, log2=3, indices=indices)
        await at_start(ctx, dut)
        await pop_all(4)
        assert ctx.get(dut.head) == 0  # 2**32: it wrapped
        await doorbell(2)  # START + 6, modulo 2**32: six entries ahead of done
        await pop_all(6)
        assert ctx.get(dut.error) == QueueError.NONE
        assert ctx.get(dut.head) == 2
        # Each entry carries its wrapped index; they came from slots 4..7, then 0 and 1.
        assert decoded(popped) == [(i, 1000 + i % 1000) for i in indices]
        beats = ENTRY // (width // 8)
        assert memory.bursts[-2:] == [(0x2000 + 4 * ENTRY, 4 * beats), (0x2000, 2 * beats)]

    run(width, body)


def test_a_wrapped_tail_more_than_the_ring_ahead_of_done_is_bad():
    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        place(ctx, dut, memory, base=0x0, log2=2, indices=[START + i for i in range(4)])
        await at_start(ctx, dut)
        await pop_all(4)
        await doorbell(0)  # the published tail again: counted, nothing fetched
        assert (ctx.get(dut.empty_doorbells), ctx.get(dut.error)) == (1, QueueError.NONE)
        await doorbell(1)  # START + 5: five ahead in a four-entry ring
        assert ctx.get(dut.error) == QueueError.BAD_TAIL
        assert memory.bursts == [(0, 4 * ENTRY // 8)]  # only the four published

    run(64, body)


def test_a_tail_behind_a_wrapped_head_is_bad():
    indices = [(START + i) % WRAP for i in range(6)]

    async def body(ctx, dut, memory, doorbell, pop_all, clear, popped):
        place(ctx, dut, memory, base=0x0, log2=3, indices=indices)
        await at_start(ctx, dut)
        await doorbell(2)
        await pop_all(6)
        await doorbell(WRAP - 1)  # three behind the head at 2
        assert ctx.get(dut.error) == QueueError.BAD_TAIL
        assert ctx.get(dut.head) == 2

    run(64, body)
