"""Unit tests of the systolic array (``tinynpu.rtl.systolic``) in amaranth.sim, against numpy
matmul.

The bench feeds a schedule of cycles: a tile's step ``k`` brings column ``k`` of A on ``a`` and
row ``k`` of B on ``b``, with ``first`` on step 0 and ``last`` on step ``K - 1``; a bubble
(``valid`` low) carries rubbish on ``a``, ``b``, ``first`` and ``last``. Every cycle it records
``(cycle, row_index, row)`` when ``row_valid`` is high. The expected record is exactly one offer
per row of each tile, ``C = A @ B`` (int32 wrap), row ``i`` at ``N + i`` cycles after the cycle
the tile's last step was presented, and nothing else.
"""

import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from rtl_kit import simulate
from tinynpu.rtl.systolic import SystolicArray


@dataclass
class Tile:
    a: np.ndarray  # n x K int8
    b: np.ndarray  # K x n int8
    bubbles: dict = field(default_factory=dict)  # step k -> bubbles before it
    gap: int = 0  # idle cycles after the last step

    @property
    def k(self):
        return self.a.shape[1]

    def product(self):
        c = self.a.astype(np.int64) @ self.b.astype(np.int64)
        return ((c + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int64)


def random_tile(rng, n, k, **kwargs):
    a = np.array([[rng.randint(-128, 127) for _ in range(k)] for _ in range(n)], dtype=np.int64)
    b = np.array([[rng.randint(-128, 127) for _ in range(n)] for _ in range(k)], dtype=np.int64)
    return Tile(a, b, **kwargs)


def schedule(n, tiles):
    """Cycles to present (None for a bubble), and the expected offers ``(cycle, i, row)``."""
    cycles, expected = [], []
    for tile in tiles:
        for step in range(tile.k):
            cycles += [None] * tile.bubbles.get(step, 0)
            cycles.append(
                (
                    step == 0,
                    step == tile.k - 1,
                    [int(v) for v in tile.a[:, step]],
                    [int(v) for v in tile.b[step, :]],
                )
            )
        last = len(cycles) - 1
        c = tile.product()
        expected += [(last + n + i, i, [int(v) for v in c[i]]) for i in range(n)]
        cycles += [None] * tile.gap
    cycles += [None] * (2 * n + 2)  # let the last tile drain
    return cycles, expected


def run_array(n, tiles, *, seed=0):
    dut = SystolicArray(n)
    cycles, expected = schedule(n, tiles)
    rng = random.Random(seed)
    offers = []

    async def bench(ctx):
        for cycle, step in enumerate(cycles):
            if step is None:  # a bubble: everything but valid is rubbish
                first, last = rng.randrange(2), rng.randrange(2)
                a = [rng.randint(-128, 127) for _ in range(n)]
                b = [rng.randint(-128, 127) for _ in range(n)]
                ctx.set(dut.flags, {"valid": 0, "first": first, "last": last})
            else:
                first, last, a, b = step
                ctx.set(dut.flags, {"valid": 1, "first": int(first), "last": int(last)})
            for i in range(n):
                ctx.set(dut.a[i], a[i])
                ctx.set(dut.b[i], b[i])
            if ctx.get(dut.row_valid):
                row = ctx.get(dut.row)
                offers.append((cycle, ctx.get(dut.row_index), [row[j] for j in range(n)]))
            await ctx.tick()

    simulate(dut, bench)
    return offers, expected


def check(n, tiles, **kwargs):
    offers, expected = run_array(n, tiles, **kwargs)
    assert offers == expected


SIZES = [2, 4, 8]


@pytest.mark.parametrize("n", SIZES)
def test_back_to_back_tiles_of_n_steps(n):
    """Tiles of exactly N steps, each following the previous one's last step at once."""
    rng = random.Random(n)
    check(n, [random_tile(rng, n, n) for _ in range(4)])


@pytest.mark.parametrize("n", SIZES)
def test_back_to_back_longer_tiles(n):
    """K > N, mixed with K = N, back to back."""
    rng = random.Random(10 + n)
    ks = [n + 1, 2 * n + 3, n, 3 * n, n + 2]
    check(n, [random_tile(rng, n, k) for k in ks])


@pytest.mark.parametrize("n", SIZES)
def test_bubbles_inside_tiles(n):
    """Bubbles before the first step, in the middle, before the last, and between tiles."""
    rng = random.Random(20 + n)
    tiles = [
        random_tile(rng, n, n, bubbles={0: 2, 1: 1, n - 1: 3}),
        random_tile(rng, n, n + 3, bubbles={n // 2: 1, n + 2: 1}),  # follows without a gap
        random_tile(rng, n, n, bubbles={k: 1 for k in range(n)}, gap=1),  # every other cycle
        random_tile(rng, n, 2 * n, bubbles={1: 5}),
        random_tile(rng, n, n),
    ]
    check(n, tiles, seed=n)


@pytest.mark.parametrize("n", SIZES)
def test_random_schedules(n):
    """Random K (N to 2N + 2), random bubbles and gaps."""
    rng = random.Random(30 + n)
    tiles = []
    for _ in range(6):
        k = rng.randint(n, 2 * n + 2)
        bubbles = {s: rng.choice([1, 2]) for s in range(k) if rng.random() < 0.2}
        tiles.append(random_tile(rng, n, k, bubbles=bubbles, gap=rng.choice([0, 0, 1, 3])))
    check(n, tiles, seed=n + 1)


@pytest.mark.parametrize("n", [2, 4])
def test_extreme_values(n):
    """-128 * -128 summed over 256 steps (4194304), 127 * -128, and their mixtures."""
    rng = random.Random(40 + n)
    k = 256
    a = np.full((n, k), -128, dtype=np.int64)
    b = np.full((k, n), -128, dtype=np.int64)
    a[n - 1, :] = 127  # last row: 127 * -128 * 256 = -4161536
    b[:, n - 1] = 127  # last column: -128 * 127; corner: 127 * 127 * 256 = 4129024
    mixed_a = np.array([[rng.choice([-128, 127]) for _ in range(n + 1)] for _ in range(n)])
    mixed_b = np.array([[rng.choice([-128, 127]) for _ in range(n)] for _ in range(n + 1)])
    flipped = np.where(a[:, :n] < 0, 127, -128)
    tiles = [Tile(a, b), Tile(mixed_a, mixed_b), Tile(flipped, b[:n, :].copy())]
    offers, expected = run_array(n, tiles)
    assert offers == expected
    # the literal sums of the first tile
    first = {i: row for cycle, i, row in offers[:n]}
    assert first[0][0] == 4194304
    assert first[0][n - 1] == -4161536
    assert first[n - 1][0] == -4161536
    assert first[n - 1][n - 1] == 4129024


def test_literal_2x2():
    """A 2 x 2 product worked out by hand, with its offer cycles.

    A = [[1, 2], [3, 4]], B = [[5, 6], [7, 8]]: C = [[19, 22], [43, 50]]. Steps in cycles 0
    and 1; row 0 in cycle 1 + 2 = 3, row 1 in cycle 4.
    """
    tile = Tile(np.array([[1, 2], [3, 4]]), np.array([[5, 6], [7, 8]]))
    offers, _ = run_array(2, [tile])
    assert offers == [(3, 0, [19, 22]), (4, 1, [43, 50])]


@pytest.mark.parametrize("n", SIZES)
def test_long_idle_gap(n):
    """A tile, a long idle gap of rubbish bubbles, then a tile: nothing is offered in between."""
    rng = random.Random(50 + n)
    tiles = [random_tile(rng, n, n + 1, gap=6 * n), random_tile(rng, n, n, gap=4 * n)]
    offers, expected = run_array(n, tiles, seed=5)
    assert offers == expected
    assert [cycle for cycle, _, _ in offers] == [n + 1 - 1 + n + i for i in range(n)] + [
        (n + 1) + 6 * n + n - 1 + n + i for i in range(n)
    ]
