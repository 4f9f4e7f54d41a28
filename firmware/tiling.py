"""Tiling of GEMM and CONV2D onto the array and the scratchpads (pure Python: a plan, no I/O).

A matrix product ``C (m x n) = A (m x k) x B (k x n)`` is cut into output *blocks* of ``bm x bn``
elements and the reduction into *chunks* of at most ``K_SLOT`` steps:

* a block of A (``bm`` rows, one chunk) fills half of the input scratchpad, a row per slot;
* a block of B (one chunk, ``bn`` columns) fills half of the weight scratchpad;
* the block's sums fill half of the accumulators; the next block uses the other half, so the
  post-processor can store one block while the array computes the next;
* the ``bn`` channels' parameters fill half of the parameter memory.

Blocks run row block by row block, column blocks in snake order, so that an A or B block already
held in a half is used again rather than loaded again. The plan is two in-order queues that the
executor (``tinynpu.firmware.compute``) runs concurrently: DMA transfers and matrix operations, each
entry naming how many entries of the other queue must have completed before it may start (a
matrix operation waits for its operands' loads; a load waits until the operations reading the
half it overwrites are done; an operation overwriting accumulators waits until they are stored).
A block's store is queued after the next block's loads, so that those loads overlap the block's
compute.
"""

from dataclasses import dataclass, field

from tinynpu.rtl.layouts import DmaKind, OutputType
from tinynpu.rtl.localmap import K_SLOT, PARAM_BYTES, Geometry, Region, local_address

__all__ = ["Dma", "Gemm", "MatrixStep", "Plan", "Store", "plan_gemm"]


def _round_up(value, multiple):
    return -(-value // multiple) * multiple


def _pow2_at_least(value):
    return 1 << (value - 1).bit_length()


@dataclass(frozen=True)
class Dma:
    """One DMA engine command (virtual memory side, local other side), of up to four dimensions."""

    kind: DmaKind
    src: int = 0
    dst: int = 0
    row_bytes: int = 0
    rows: int = 1
    src_pitch: int = 0
    dst_pitch: int = 0
    pattern: int = 0
    planes: int = 1
    src_plane_pitch: int = 0
    dst_plane_pitch: int = 0
    volumes: int = 1
    src_volume_pitch: int = 0
    dst_volume_pitch: int = 0


@dataclass(frozen=True)
class Store:
    """The post-processor's settings for the store that follows (ppu_* registers)."""

    zero_point: int
    act_min: int
    act_max: int
    row_log2: int
    param_base: int


@dataclass
class DmaEntry:
    """Commands run in order once ``after_matrix`` matrix operations have completed."""

    commands: list
    after_matrix: int
    store: Store | None = None
    acc: int = 0  # the accumulator half a store reads


@dataclass(frozen=True)
class MatrixStep:
    """One matrix operation (the ``mx_*`` registers)."""

    a_slot: int
    b_addr: int
    b_pitch: int
    acc_addr: int
    acc_row_log2: int
    k: int
    m: int
    n: int
    accumulate: bool


@dataclass
class MatrixEntry:
    """A matrix operation pushed once ``after_dma`` DMA entries have completed."""

    step: MatrixStep
    after_dma: int


@dataclass
class Plan:
    """The two queues, and what the plan moves and computes (for the counters' sake)."""

    dma: list = field(default_factory=list)
    matrix: list = field(default_factory=list)


@dataclass(frozen=True)
class Gemm:
    """A matrix product to plan: shapes, virtual addresses and pitches, post-processing.

    ``load_a(block_row, rows, k0, k, dst)`` returns the DMA commands filling input slots from
    local address ``dst`` (one row per slot) with rows ``block_row ..`` of A, columns
    ``k0 .. k0 + k``; by default a 2-D load from ``a`` with pitch ``lda`` (CONV2D passes its
    im2col transfers instead).
    """

    m: int
    k: int
    n: int
    a: int
    b: int
    c: int
    params: int
    lda: int
    ldb: int
    ldc: int
    output_type: OutputType
    zero_point: int
    act_min: int
    act_max: int
    load_a: object = None


class _Halves:
    """Which operand block each half of a scratchpad holds, when it arrives, who last read it."""

    def __init__(self):
        self.key = [None, None]
        self.loaded_at = [0, 0]  # DMA entries that must complete before the half is usable
        self.last_use = [0, 0]  # matrix operations that must complete before a reload
        self.next = 0

    def find(self, key):
        return self.key.index(key) if key in self.key else None

    def victim(self):
        """The half to load into next (the halves take turns)."""
        half = self.next
        self.next = half ^ 1
        return half


def plan_gemm(g: Geometry, op: Gemm) -> Plan:
    """Tile ``op`` for geometry ``g``; see the module docstring."""
    n_arr, beat = g.array_size, g.bus_bytes
    slots_half = g.input_slots // 2
    wt_half = g.weight_bytes // 2
    acc_half = g.acc_elements // 2
    params_half = g.param_channels // 2
    wt_align = max(n_arr, beat)

    bm = min(slots_half, _round_up(op.m, n_arr))
    bn = min(_round_up(op.n, n_arr), params_half, (wt_half // K_SLOT) // wt_align * wt_align)

    def row_log2(cols):
        return max(_pow2_at_least(_round_up(cols, n_arr)), g.acc_lanes).bit_length() - 1

    # The accumulator half bounds bm x (row pitch); shrink bm (in whole tiles) until it fits.
    while bm > n_arr and bm << row_log2(bn) > acc_half:
        bm -= n_arr
    while bn > wt_align and bm << row_log2(bn) > acc_half:
        bn -= wt_align

    chunks = [(k0, min(K_SLOT, op.k - k0)) for k0 in range(0, op.k, K_SLOT)]
    row_blocks = range(0, op.m, bm)
    col_blocks = list(range(0, op.n, bn))
    plan = Plan()
    a_halves, b_halves, p_halves = _Halves(), _Halves(), _Halves()
    acc_free_after = [0, 0]  # DMA entries (stores) that must complete before reuse
    acc_turn = 0
    pending_store = None

    def load_a(rows_at, rows, k0, k, dst):
        if op.load_a is not None:
            return op.load_a(rows_at, rows, k0, k, dst)
        src = op.a + rows_at * op.lda + k0
        return [Dma(DmaKind.LOAD, src, dst, k, rows, op.lda, K_SLOT)]

    for index, m0 in enumerate(row_blocks):
        rows = min(bm, op.m - m0)
        order = col_blocks if index % 2 == 0 else col_blocks[::-1]
        for n0 in order:
            cols = min(bn, op.n - n0)
            pitch = _round_up(cols, wt_align)
            log2 = row_log2(cols)
            acc = acc_turn
            acc_turn ^= 1
            # The first block's first chunk runs strip by strip (N rows of A each) as its rows
            # arrive, and the last block's last chunk is stored strip by strip as each is done:
            # the array starts after one strip of A, and the last store is one strip.
            first = index == 0 and n0 == order[0]
            last = m0 == row_blocks[-1] and n0 == order[-1]
            strips = _strips(rows, n_arr, first, last)
            for ci, (k0, k) in enumerate(chunks):
                split_first = first and ci == 0 and len(strips) > 1
                split_last = last and ci == len(chunks) - 1 and len(strips) > 1
                b = b_halves.find(("b", k0, n0))
                if b is None:
                    b = b_halves.victim()
                    src = op.b + k0 * op.ldb + n0
                    dst = local_address(Region.WEIGHT, b * wt_half)
                    load = Dma(DmaKind.LOAD, src, dst, cols, k, op.ldb, pitch)
                    plan.dma.append(DmaEntry([load], b_halves.last_use[b]))
                    b_halves.key[b], b_halves.loaded_at[b] = ("b", k0, n0), len(plan.dma)
                a = a_halves.find(("a", m0, k0))
                strip_ready = None
                if a is None:
                    a = a_halves.victim()
                    dst = local_address(Region.INPUT, a * slots_half * K_SLOT)
                    pieces = strips if split_first else [(0, rows)]
                    strip_ready = []
                    for r0, count in pieces:
                        commands = load_a(m0 + r0, count, k0, k, dst + r0 * K_SLOT)
                        plan.dma.append(DmaEntry(commands, a_halves.last_use[a]))
                        strip_ready.append(len(plan.dma))
                    a_halves.key[a], a_halves.loaded_at[a] = ("a", m0, k0), len(plan.dma)
                split_first = split_first and strip_ready is not None
                if split_last and pending_store is not None:
                    plan.dma.append(pending_store)  # the block before, behind this one's loads
                    acc_free_after[pending_store.acc] = len(plan.dma)
                    pending_store = None
                pieces = strips if split_first or split_last else [(0, rows)]
                for s, (r0, count) in enumerate(pieces):
                    a_ready = strip_ready[s] if split_first else a_halves.loaded_at[a]
                    ready = max(a_ready, b_halves.loaded_at[b])
                    if ci == 0:  # the first chunk overwrites the half: its last store is done
                        ready = max(ready, acc_free_after[acc])
                    step = MatrixStep(
                        a_slot=a * slots_half + r0,
                        b_addr=b * wt_half,
                        b_pitch=pitch,
                        acc_addr=acc * acc_half + (r0 << log2),
                        acc_row_log2=log2,
                        k=k,
                        m=count,
                        n=cols,
                        accumulate=ci > 0,
                    )
                    plan.matrix.append(MatrixEntry(step, ready))
                    if split_last:
                        plan.dma.append(
                            _store(g, op, plan, p_halves, m0, n0, r0, count, cols, acc, log2)
                        )
                a_halves.last_use[a] = b_halves.last_use[b] = len(plan.matrix)
            if last and len(strips) > 1:
                continue  # stored strip by strip
            if pending_store is not None:
                plan.dma.append(pending_store)
                acc_free_after[pending_store.acc] = len(plan.dma)
            pending_store = _store(g, op, plan, p_halves, m0, n0, 0, rows, cols, acc, log2)
    if pending_store is not None:
        plan.dma.append(pending_store)
    return plan


def _strips(rows, n, first, last):
    """``(r0, rows)`` of the strips a block's rows run (or are stored) in, at multiples of ``n``.

    The first block grows them (N, N, 2N, 4N, ... rows: the first operation waits for N rows of
    A, and each later strip's rows arrive while the one before computes); the last block shrinks
    them (..., 2N, N, N: its last store is N rows at most); a block both first and last takes
    strips of N.
    """
    tiles = -(-rows // n)
    if not (first or last) or tiles == 1:
        return [(0, rows)]
    sizes = [1] * tiles if first and last else [1, 1]
    while sum(sizes) < tiles:
        sizes.append(sizes[-1] * 2)
    if not first:
        sizes.reverse()
        sizes[0] -= sum(sizes) - tiles  # the largest strip gives up what is over
    strips, t0 = [], 0
    for size in sizes:
        size = min(size, tiles - t0)
        strips.append((t0 * n, min(size * n, rows - t0 * n)))
        t0 += size
        if t0 == tiles:
            break
    return strips


def _store(g, op, plan, p_halves, m0, n0, r0, rows, cols, acc, log2):
    """The parameter load (if needed) and the store of rows ``r0 ..`` of a block, as one entry."""
    out_bytes = 4 if op.output_type is OutputType.INT32 else 1
    acc_half = g.acc_elements // 2
    commands = []
    half = p_halves.find(n0)
    params_half = g.param_channels // 2
    if half is None:
        half = p_halves.victim()
        p_halves.key[half] = n0
        commands.append(
            Dma(
                DmaKind.LOAD,
                op.params + n0 * PARAM_BYTES,
                local_address(Region.PARAMS, half * params_half * PARAM_BYTES),
                cols * PARAM_BYTES,
            )
        )
    region = Region.ACC32 if out_bytes == 4 else Region.ACC8
    commands.append(
        Dma(
            DmaKind.STORE,
            local_address(region, (acc * acc_half + (r0 << log2)) * out_bytes),
            op.c + (m0 + r0) * op.ldc + n0 * out_bytes,
            cols * out_bytes,
            rows,
            (1 << log2) * out_bytes,
            op.ldc,
        )
    )
    return DmaEntry(
        commands,
        after_matrix=len(plan.matrix),
        store=Store(op.zero_point, op.act_min, op.act_max, log2, half * params_half),
        acc=acc,
    )
