"""Tiling plans (``firmware.tiling``, ``firmware.lowering``) run on a pure-Python model machine.

The model has a host memory (a bytearray, virtual = physical), the local memories as byte arrays per
region (INPUT row slots of K_SLOT bytes, WEIGHT, PARAMS of 16-byte ChannelParams records) and the
accumulators as an int32 array. It runs DMA commands (LOAD, STORE through the post-processor's
ACC8/ACC32 views, FILL_LOCAL) and matrix operations (the ``tinynpu.rtl.matrix_unit`` semantics, edge
tiles padded to N), and executes a plan's two queues with a seeded random interleaving that obeys
only the plan's dependency counts (and the executor's queue depth):

* a DMA command takes effect when it starts but is *in flight* until a later, separate event;
* a matrix operation, once pushed, completes (reads INPUT/WEIGHT, writes the accumulators) at a
  random later moment, in order, but no later than something depending on it needs it.

Besides the bit-exact results (against ``tinynpu.runtime.reference``) and an untouched rest of host
memory, the model flags every hazard the interleaving exposes: a DMA write to bytes a pushed but
not completed operation reads, a STORE reading accumulators such an operation writes, and the
same for operations pushed while a DMA command is in flight.
"""

import math
import random
from collections import deque
from types import SimpleNamespace

import numpy as np
import pytest
from tinynpu.firmware.commands import check_command
from tinynpu.firmware.lowering import _Im2col, conv2d_plan, gemm_plan
from tinynpu.firmware.tiling import MatrixStep
from tinynpu.rtl.config import K_SLOT, NpuConfig
from tinynpu.rtl.layouts import ChannelParams, DmaKind, Opcode, OutputType, nbytes, pack
from tinynpu.rtl.localmap import PARAM_BYTES, PARAM_CHANNELS, REGION_SHIFT, Geometry, Region
from tinynpu.rtl.top import MATRIX_QUEUE_DEPTH
from tinynpu.runtime import commands, reference
from tinynpu.runtime.reference import INT32_MAX, INT32_MIN

KiB = 1024


# --- geometries -------------------------------------------------------------------------------


def _geometry(n, w, input_bytes, weight_bytes, acc_bytes):
    config = NpuConfig(
        array_size=n,
        mem_data_width=8 * w,
        spad_in_bytes=input_bytes,
        spad_wt_bytes=weight_bytes,
        spad_acc_bytes=acc_bytes,
    )
    return Geometry.of(config)


def small(n, w):
    """The smallest scratchpads NpuConfig allows for N and W."""
    return _geometry(
        n,
        w,
        max(KiB, 2 * n * K_SLOT),
        max(KiB, 2 * K_SLOT * max(n, w)),
        max(KiB, 2 * n * max(n, w) * 4),
    )


def default(n, w):
    return _geometry(n, w, 32 * KiB, 32 * KiB, 64 * KiB)


ARRAYS = [(2, 4), (4, 4), (8, 8), (16, 16), (32, 32), (4, 8)]
GEOMETRIES = {
    f"n{n}w{w}-{kind.__name__}": (kind, n, w) for n, w in ARRAYS for kind in (small, default)
}
# Lopsided scratchpads: the accumulators bound the block (both shrinking loops of plan_gemm run),
# and a huge weight scratchpad next to the smallest input one.
EXTRA = {
    "n8w8-acc-bound": lambda: _geometry(8, 8, 64 * KiB, 64 * KiB, 1 * KiB),
    "n16w16-wide-weights": lambda: _geometry(16, 16, 8 * KiB, 256 * KiB, 2 * KiB),
    # The largest scratchpads: MatrixOp fields and local offsets near their widths.
    "n32w32-max": lambda: _geometry(32, 32, 256 * KiB, 256 * KiB, 1024 * KiB),
}


def make_geometry(name):
    if name in EXTRA:
        return EXTRA[name]()
    kind, n, w = GEOMETRIES[name]
    return kind(n, w)


ALL_GEOMETRIES = list(GEOMETRIES) + list(EXTRA)


def test_small_geometries_are_the_minimums():
    for n, w in ARRAYS:
        g = small(n, w)
        for field, value in (
            ("spad_in_bytes", g.input_bytes),
            ("spad_wt_bytes", g.weight_bytes),
            ("spad_acc_bytes", g.acc_bytes),
        ):
            if value > KiB:
                config = {
                    "array_size": n,
                    "mem_data_width": 8 * w,
                    "spad_in_bytes": g.input_bytes,
                    "spad_wt_bytes": g.weight_bytes,
                    "spad_acc_bytes": g.acc_bytes,
                    field: value // 2,
                }
                with pytest.raises(ValueError):
                    NpuConfig(**config)


# --- host memory ------------------------------------------------------------------------------


def _grid(base, rows, row_len, pitch):
    """Addresses of a 2-D region: ``rows`` rows of ``row_len`` bytes, ``pitch`` apart."""
    return base + np.arange(rows)[:, None] * pitch + np.arange(row_len)[None, :]


def _planes(cmd, base, side):
    """Addresses of side ``"src"`` or ``"dst"`` of a DMA command: its volumes of planes of rows,
    as rows."""
    pitch, plane_pitch = getattr(cmd, f"{side}_pitch"), getattr(cmd, f"{side}_plane_pitch")
    volume_pitch = getattr(cmd, f"{side}_volume_pitch")
    starts = (
        np.arange(cmd.volumes)[:, None] * volume_pitch
        + np.arange(cmd.planes)[None, :] * plane_pitch
    ).reshape(-1)
    rows = _grid(0, cmd.rows, cmd.row_bytes, pitch)[None]
    return (base + starts[:, None, None] + rows).reshape(-1, cmd.row_bytes)


class Host:
    """Host memory with the bytes DMA may read (operands) and write (the output) marked."""

    def __init__(self, rng, size):
        self.mem = bytearray(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        self.view = np.frombuffer(self.mem, np.uint8)
        self.readable = np.zeros(size, bool)
        self.writable = np.zeros(size, bool)
        self.initial = bytes(self.mem)  # what each run starts from (set once the case is built)
        self.stored = np.zeros(size, np.int32)  # STORE writes per byte in the current run

    def put_matrix(self, addr, matrix, pitch, *, mark="readable"):
        """Write a 2-D array of bytes (rows ``pitch`` apart) and mark its bytes."""
        raw = np.ascontiguousarray(matrix).view(np.uint8).reshape(matrix.shape[0], -1)
        idx = _grid(addr, raw.shape[0], raw.shape[1], pitch)
        self.view[idx] = raw
        getattr(self, mark)[idx] = True
        return idx


class Layout:
    """Allocates host buffers with random gaps and alignments."""

    def __init__(self, rng):
        self.rng = rng
        self.top = int(rng.integers(16, 64))

    def alloc(self, size, align=1):
        addr = -(-(self.top + int(self.rng.integers(0, 40))) // align) * align
        self.top = addr + size
        return addr

    def size(self):
        return self.top + 64


def channel_params(rng, n, k, output_type):
    """Per-channel bias, multiplier, shift; some channels at the arithmetic's extremes."""
    typical = 74 * 74 * math.sqrt(k)
    if output_type is OutputType.INT32:
        bias = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
        small_bias = rng.integers(-2 * int(typical) - 1, 2 * int(typical) + 1, n)
        bias = np.where(rng.random(n) < 0.7, small_bias, bias)
        multiplier = rng.integers(INT32_MIN, INT32_MAX, n, endpoint=True, dtype=np.int64)
        shift = rng.integers(0, 32, n)
        return bias, multiplier, shift
    bias = rng.integers(-int(typical) - 1, int(typical) + 1, n)
    real = rng.uniform(0.3, 3.0, n) * 60 / typical
    multiplier, shift = reference.quantize_multiplier(real)
    multiplier, shift = multiplier.astype(np.int64), shift.astype(np.int64)
    extreme = rng.random(n) < 0.15
    multiplier = np.where(
        extreme, rng.choice([INT32_MIN, INT32_MAX, 0, -1, 1 << 30], n), multiplier
    )
    shift = np.where(extreme, rng.choice([0, 1, 30, 31], n), shift)
    bias = np.where(rng.random(n) < 0.05, rng.choice([INT32_MIN, INT32_MAX, -(2**30)], n), bias)
    return bias, multiplier, shift


def put_params(host, layout, bias, multiplier, shift):
    n = len(bias)
    records = np.zeros((n, PARAM_BYTES), np.uint8)
    records[:, 0:4] = bias.astype("<i4").view(np.uint8).reshape(n, 4)
    records[:, 4:8] = multiplier.astype("<i4").view(np.uint8).reshape(n, 4)
    records[:, 8] = shift
    addr = layout.alloc(n * PARAM_BYTES, align=4)
    host.put_matrix(addr, records, PARAM_BYTES)
    return addr


def test_channel_params_record_layout():
    """The 16-byte records put_params writes (and the model decodes) are ChannelParams."""
    assert nbytes(ChannelParams) == PARAM_BYTES
    for bias, multiplier, shift in ((-123456, INT32_MIN, 31), (INT32_MAX, 1 << 30, 0)):
        raw = pack(ChannelParams, {"bias": bias, "multiplier": multiplier, "shift": shift})
        host = Host(np.random.default_rng(0), 256)
        addr = put_params(
            host, Layout(np.random.default_rng(1)), *map(np.array, ([bias], [multiplier], [shift]))
        )
        assert bytes(host.mem[addr : addr + PARAM_BYTES]) == raw


# --- the model machine ------------------------------------------------------------------------


class HazardError(AssertionError):
    """A DMA transfer and a matrix operation the plan lets overlap touch the same data."""


def _wrap32(x):
    return ((np.asarray(x, np.int64) - INT32_MIN) & 0xFFFF_FFFF) + INT32_MIN


def _ppu(acc, bias, multiplier, shift, store, wide):
    """The post-processor's output per element (one channel's parameters per element)."""
    shape = acc.shape
    acc, bias, multiplier, shift = (np.ravel(x) for x in (acc, bias, multiplier, shift))
    if wide:
        out = reference.int32_output(acc, bias, store.act_min, store.act_max)
    else:
        low, high = max(store.act_min, -128), min(store.act_max, 127)
        out = reference.requantize(acc, bias, multiplier, shift, store.zero_point, low, high)
    return out.reshape(shape)


def _local(address):
    assert 0 <= address < 1 << 24, f"local address {address:#x} is not 24 bits"
    return Region(address >> REGION_SHIFT), address & ((1 << REGION_SHIFT) - 1)


class Op:
    """A pushed matrix operation and the sets it reads and writes."""

    def __init__(self, g, index, step: MatrixStep):
        n = g.array_size
        self.index, self.step = index, step
        self.rows = -(-step.m // n) * n  # the padded block the unit computes
        self.cols = -(-step.n // n) * n
        # What the stored results depend on: rows < m, k steps, columns < n.
        self.reads = {
            Region.INPUT: _grid(step.a_slot * K_SLOT, step.m, step.k, K_SLOT),
            Region.WEIGHT: _grid(step.b_addr, step.k, step.n, step.b_pitch),
        }
        # What the unit writes: the whole padded block.
        self.writes = _grid(step.acc_addr, self.rows, self.cols, 1 << step.acc_row_log2)


class Machine:
    def __init__(self, g: Geometry, host: Host, rng):
        self.g, self.host = g, host
        self.local = {
            region: rng.integers(0, 256, g.region_bytes(region), dtype=np.uint8)
            for region in (Region.INPUT, Region.WEIGHT, Region.PARAMS)
        }
        self.acc = rng.integers(INT32_MIN, INT32_MAX, g.acc_elements, endpoint=True).astype(
            np.int32
        )
        self.ppu = None
        self.pending = deque()  # pushed, not completed
        self.inflight = None  # (region, mask of bytes written) or ("acc", mask read), what

    # --- DMA ---

    def _host_read(self, idx, what):
        assert idx.min() >= 0 and idx.max() < len(self.host.mem), f"{what}: outside host memory"
        if not self.host.readable[idx].all():
            bad = idx[~self.host.readable[idx]]
            raise AssertionError(f"{what} reads host bytes outside the operands, e.g. {bad[:4]}")
        return self.host.view[idx]

    def _local_range(self, region, idx, what):
        size = self.g.region_bytes(region)
        assert idx.min() >= 0 and idx.max() < size, (
            f"{what}: {region.name} offsets {idx.min()}..{idx.max()} outside its {size} bytes"
        )

    def dma_start(self, cmd):
        what = f"DMA {cmd}"
        if cmd.kind is DmaKind.LOAD:
            region, offset = _local(cmd.dst)
            assert region in (Region.INPUT, Region.WEIGHT, Region.PARAMS), what
            src = _planes(cmd, cmd.src, "src")
            dst = _planes(cmd, offset, "dst")
            self._local_range(region, dst, what)
            self.local[region][dst] = self._host_read(src, what)
            self._begin(region, dst, what)
        elif cmd.kind is DmaKind.FILL_LOCAL:
            region, offset = _local(cmd.dst)
            assert region in (Region.INPUT, Region.WEIGHT, Region.PARAMS), what
            dst = _planes(cmd, offset, "dst")
            self._local_range(region, dst, what)
            pattern = np.array([(cmd.pattern >> 8 * i) & 0xFF for i in range(4)], np.uint8)
            self.local[region][dst] = pattern[np.arange(cmd.row_bytes) % 4][None, :]
            self._begin(region, dst, what)
        elif cmd.kind is DmaKind.STORE:
            region, offset = _local(cmd.src)
            assert region in (Region.ACC8, Region.ACC32), what
            assert self.ppu is not None, f"{what}: no post-processor settings"
            src = _planes(cmd, offset, "src")
            dst = _planes(cmd, cmd.dst, "dst")
            self._local_range(region, src, what)
            assert dst.min() >= 0 and dst.max() < len(self.host.mem), what
            assert self.host.writable[dst].all(), f"{what} writes host bytes outside the output"
            wide = region is Region.ACC32
            elements = src // 4 if wide else src
            store = self.ppu
            channels = store.param_base + elements % (1 << store.row_log2)
            assert channels.max() < self.g.param_channels, what
            records = self.local[Region.PARAMS].reshape(-1, PARAM_BYTES)
            bias = records[:, 0:4].copy().view("<i4")[:, 0].astype(np.int64)
            multiplier = records[:, 4:8].copy().view("<i4")[:, 0].astype(np.int64)
            shift = records[:, 8].astype(np.int64) & 31
            values = _ppu(
                self.acc[elements],
                bias[channels],
                multiplier[channels],
                shift[channels],
                store,
                wide,
            )
            shifts = 8 * (src % 4) if wide else 0  # ACC32: byte src % 4 of the int32
            out = (values.astype(np.int64) >> shifts) & 0xFF
            self.host.view[dst] = out.astype(np.uint8)
            self.host.stored[dst] += 1
            mask = np.zeros(self.g.acc_elements, bool)
            mask[elements] = True
            for op in self.pending:
                if mask[op.writes].any():
                    raise HazardError(
                        f"{what} reads accumulators that pending op {op.index} writes"
                    )
            self.inflight = ("acc", mask, what)
        else:
            raise AssertionError(f"unexpected DMA kind in a plan: {what}")

    def _begin(self, region, dst, what):
        mask = np.zeros(self.g.region_bytes(region), bool)
        mask[dst] = True
        for op in self.pending:
            if region in op.reads and mask[op.reads[region]].any():
                raise HazardError(
                    f"{what} overwrites {region.name} bytes pending op {op.index} reads"
                )
        self.inflight = (region, mask, what)

    def dma_finish(self):
        self.inflight = None

    # --- matrix operations ---

    def push(self, index, step):
        op = Op(self.g, index, step)
        if self.inflight is not None:
            region, mask, what = self.inflight
            if region == "acc":
                if mask[op.writes].any():
                    raise HazardError(f"op {index} pushed while {what} reads its accumulators")
            elif region in op.reads and mask[op.reads[region]].any():
                raise HazardError(f"op {index} pushed while {what} writes {region.name} it reads")
        self.pending.append(op)

    def complete(self):
        op = self.pending.popleft()
        s, g = op.step, self.g
        a_rows = s.a_slot + np.arange(op.rows)
        assert a_rows.max() < g.input_slots, f"op {op.index} reads input slots past the end"
        a = self.local[Region.INPUT].reshape(g.input_slots, K_SLOT)[a_rows, : s.k]
        b_idx = _grid(s.b_addr, s.k, op.cols, s.b_pitch)
        assert b_idx.max() < g.weight_bytes, f"op {op.index} reads past the weight scratchpad"
        b = self.local[Region.WEIGHT][b_idx]
        assert op.writes.max() < g.acc_elements, f"op {op.index} writes past the accumulators"
        # |sum| <= 256 * 2**14: exact in float64.
        product = (a.view(np.int8).astype(np.float64) @ b.view(np.int8).astype(np.float64)).astype(
            np.int64
        )
        old = self.acc[op.writes].astype(np.int64) if s.accumulate else 0
        self.acc[op.writes] = _wrap32(old + product).astype(np.int32)


def execute(g, plan, host, seed):
    """Run ``plan`` with a random interleaving; ``seed`` 0 is lazy, 1 eager, others random."""
    rng = random.Random(seed)
    machine = Machine(g, host, np.random.default_rng(seed))
    weights = {e: rng.uniform(0.05, 1.0) for e in ("start", "finish", "push", "complete")}
    dma_next = command = 0
    pushed = completed = 0
    while True:
        events = []
        if machine.inflight is not None:
            events.append("finish")
        elif dma_next < len(plan.dma) and plan.dma[dma_next].after_matrix <= completed:
            events.append("start")
        if (
            pushed < len(plan.matrix)
            and plan.matrix[pushed].after_dma <= dma_next
            and pushed - completed < MATRIX_QUEUE_DEPTH
        ):
            events.append("push")
        if machine.pending:
            events.append("complete")
        if not events:
            break
        if seed == 0 and len(events) > 1 and "complete" in events:
            events.remove("complete")  # lazy: operations complete only when needed
        if seed == 1:  # eager: complete, then finish, push, start
            order = ("complete", "finish", "push", "start")
            event = min(events, key=order.index)
        else:
            event = rng.choices(events, [weights[e] for e in events])[0]
        if event == "finish":
            machine.dma_finish()
            command += 1
            if command == len(plan.dma[dma_next].commands):
                dma_next, command = dma_next + 1, 0
        elif event == "start":
            entry = plan.dma[dma_next]
            if command == 0 and entry.store is not None:
                machine.ppu = entry.store
            machine.dma_start(entry.commands[command])
        elif event == "push":
            machine.push(pushed, plan.matrix[pushed].step)
            pushed += 1
        else:
            machine.complete()
            completed += 1
    assert (dma_next, completed) == (len(plan.dma), len(plan.matrix)), (
        f"deadlock at DMA entry {dma_next}, operation {pushed} ({completed} completed)"
    )


# --- structural checks ------------------------------------------------------------------------


def check_structure(g, plan, mkn):
    n = g.array_size
    m, k, n_cols = mkn
    # Every output element's whole reduction is computed once: no block or chunk twice.
    assert sum(e.step.m * e.step.k * e.step.n for e in plan.matrix) == m * k * n_cols
    for index, entry in enumerate(plan.matrix):
        s = entry.step
        assert 0 <= entry.after_dma <= len(plan.dma), index
        assert 1 <= s.k <= K_SLOT and s.m >= 1 and s.n >= 1, s
        assert s.a_slot % n == 0 and s.b_addr % n == 0, s
        assert s.b_pitch % n == 0 and s.acc_addr % n == 0, s
        assert 1 << s.acc_row_log2 >= -(-s.n // n) * n, s
        assert 1 << s.acc_row_log2 >= n, s
        # The MatrixOp fields.
        assert s.a_slot < 1 << 16 and s.b_addr < 1 << 20 and s.b_pitch < 1 << 16, s
        assert s.acc_addr < 1 << 20 and s.acc_row_log2 < 32, s
        assert s.m < 1 << 16 and s.n < 1 << 16, s
    for index, entry in enumerate(plan.dma):
        assert entry.commands, index
        assert 0 <= entry.after_matrix <= len(plan.matrix), index
        stores = [c for c in entry.commands if c.kind is DmaKind.STORE]
        assert bool(stores) == (entry.store is not None), index
        if entry.store is not None:
            store = entry.store
            assert 0 <= store.row_log2 < 32 and 0 <= store.param_base < 1 << 16, store
            # The post-processor computes a word's channels from its first element's: a word
            # (W int8 or W / 4 int32 elements) must not span two rows, and the channel of a
            # row's first element must start a parameter-memory word (W records).
            assert 1 << store.row_log2 >= g.bus_bytes, store
            assert store.param_base % g.bus_bytes == 0, store
        for c in entry.commands:
            assert c.kind in (DmaKind.LOAD, DmaKind.STORE, DmaKind.FILL_LOCAL), c
            assert 1 <= c.row_bytes < 1 << 24 and 1 <= c.rows < 1 << 16, c
            assert 0 <= c.src_pitch < 1 << 32 and 0 <= c.dst_pitch < 1 << 32, c
            assert 0 <= c.pattern < 1 << 32, c


def load_bytes(plan, region):
    total = 0
    for entry in plan.dma:
        for c in entry.commands:
            if c.kind is DmaKind.LOAD and _local(c.dst)[0] is region:
                total += c.row_bytes * c.rows
    return total


# --- GEMM -------------------------------------------------------------------------------------


def expect_output(host, addr, expected, pitch):
    """Mark the output writable; return the host memory the plan must leave (bytes)."""
    raw = expected.astype("<i4" if expected.dtype == np.int32 else np.int8).view(np.uint8)
    raw = raw.reshape(expected.shape[0], -1)
    idx = _grid(addr, raw.shape[0], raw.shape[1], pitch)
    host.writable[idx] = True
    want = bytearray(host.mem)
    np.frombuffer(want, np.uint8)[idx] = raw
    host.initial = bytes(host.mem)
    return bytes(want)


def gemm_case(g, seed, m, k, n, *, output_type=OutputType.INT8, pad=(0, 0, 0), zp=0, act=None):
    rng = np.random.default_rng(seed)
    layout = Layout(rng)
    size = 4 if output_type is OutputType.INT32 else 1
    lda, ldb = k + pad[0], n + pad[1]
    ldc = n * size + pad[2] * size
    a_mat = rng.integers(-128, 128, (m, k)).astype(np.int8)
    b_mat = rng.integers(-128, 128, (k, n)).astype(np.int8)
    bias, multiplier, shift = channel_params(rng, n, k, output_type)
    a = layout.alloc((m - 1) * lda + k)
    b = layout.alloc((k - 1) * ldb + n)
    c = layout.alloc((m - 1) * ldc + n * size, align=size)
    host = Host(rng, layout.size() + n * PARAM_BYTES + 64)
    params = put_params(host, layout, bias, multiplier, shift)
    host.put_matrix(a, a_mat, lda)
    host.put_matrix(b, b_mat, ldb)
    if act is None:
        act = (INT32_MIN, INT32_MAX) if size == 4 else (-128, 127)
    raw = commands.gemm(
        a,
        b,
        c,
        params,
        m,
        k,
        n,
        lda=lda,
        ldb=ldb,
        ldc=ldc,
        zero_point=zp,
        act_min=act[0],
        act_max=act[1],
        output_type=output_type,
    )
    cmd = check_command(Opcode.GEMM, raw)
    expected = reference.gemm(
        a_mat,
        b_mat,
        bias,
        multiplier,
        shift,
        zero_point=zp,
        act_min=act[0],
        act_max=act[1],
        output_int32=size == 4,
    )
    want = expect_output(host, c, expected, ldc)
    return cmd, host, want, (c, ldc, m, n, size)


def run_and_compare(g, plan, host, want, where, seeds):
    for seed in seeds:
        host.mem[:] = host.initial
        host.stored = np.zeros(len(host.mem), np.int32)
        execute(g, plan, host, seed)
        assert (host.stored[host.writable] == 1).all(), "an output byte not stored exactly once"
        if host.mem != want:
            c, ldc, _, n, size = where
            got = np.frombuffer(host.mem, np.uint8)
            exp = np.frombuffer(want, np.uint8)
            diff = np.flatnonzero(got != exp)
            first = int(diff[0])
            row, col = divmod(first - c, ldc)
            raise AssertionError(
                f"seed {seed}: {len(diff)} bytes differ, first at {first:#x} "
                f"(output row {row}, byte {col} of {n * size}; got {got[first]}, "
                f"want {exp[first]})"
            )


def gemm_shapes(g):
    """(id, m, k, n, options) for a geometry; the big one exceeds every scratchpad."""
    n_arr = g.array_size
    big_m = g.input_slots + 2 * n_arr + 1
    big_n = g.weight_bytes // K_SLOT + 3
    return [
        ("1x1x1", 1, 1, 1, {}),
        ("primes", 7, 13, 5, {}),
        ("k256", 2 * n_arr, 256, n_arr, {}),
        ("k257", n_arr + 1, 257, 3, {"zp": -7}),
        ("k-chunks", 37, 600, 23, {"zp": 5, "act": (-3, 90)}),
        ("int32-padded", 19, 300, 11, {"output_type": OutputType.INT32, "pad": (5, 3, 2)}),
        (
            "int32-clamped",
            9,
            40,
            17,
            {"output_type": OutputType.INT32, "act": (-50000, 70000), "pad": (1, 0, 1)},
        ),
        ("n-past-params", 3, 5, 2 * PARAM_CHANNELS + 37, {}),
        ("column", 1, 300, 1, {"output_type": OutputType.INT32, "pad": (7, 2, 1)}),
        ("k512", 2 * n_arr + 3, 512, n_arr + 5, {"zp": 1}),
    ] + (
        # The reference's int64 product of the largest shapes would be slow: split them.
        [("big", big_m, 21, big_n, {"pad": (3, 1, 4)}), ("big-k", 40, 519, 40, {"zp": -20})]
        if big_m * big_n > 1 << 18
        else [("big", big_m, 2 * K_SLOT + 7, big_n, {"pad": (3, 1, 4), "zp": -20})]
    )


GEMM_CASES = [
    pytest.param(geometry, index, id=f"{geometry}-{shape[0]}")
    for geometry in ALL_GEOMETRIES
    for index, shape in enumerate(gemm_shapes(make_geometry(geometry)))
]


@pytest.mark.parametrize(("geometry", "index"), GEMM_CASES)
def test_gemm(geometry, index):
    g = make_geometry(geometry)
    _, m, k, n, options = gemm_shapes(g)[index]
    cmd, host, want, where = gemm_case(g, 1000 + index, m, k, n, **options)
    plan = gemm_plan(g, cmd)
    check_structure(g, plan, (cmd.m, cmd.k, cmd.n))
    seeds = (0, 1, 2, 3) if len(plan.matrix) < 200 else (0, 1, 2)
    run_and_compare(g, plan, host, want, where, seeds)


def test_gemm_many_random_interleavings():
    """One multi-block, multi-chunk GEMM under many interleavings of the two queues."""
    g = small(4, 8)
    cmd, host, want, where = gemm_case(g, 7, 21, 520, 19, zp=3)
    plan = gemm_plan(g, cmd)
    assert len(plan.matrix) > 3 * MATRIX_QUEUE_DEPTH
    run_and_compare(g, plan, host, want, where, range(40))


def test_gemm_128_cubed_loads_each_operand_once():
    g = default(8, 8)
    cmd, host, want, where = gemm_case(g, 3, 128, 128, 128)
    plan = gemm_plan(g, cmd)
    check_structure(g, plan, (cmd.m, cmd.k, cmd.n))
    assert load_bytes(plan, Region.INPUT) == 128 * 128
    assert load_bytes(plan, Region.WEIGHT) == 128 * 128
    assert load_bytes(plan, Region.PARAMS) == 128 * PARAM_BYTES
    run_and_compare(g, plan, host, want, where, (0, 1, 2))


# --- CONV2D -----------------------------------------------------------------------------------


def conv_case(
    seed,
    shape,
    out_c,
    kernel,
    *,
    stride=(1, 1),
    padding=(0, 0),
    out_hw=None,
    izp=0,
    zp=0,
    output_type=OutputType.INT8,
):
    rng = np.random.default_rng(seed)
    layout = Layout(rng)
    batch, in_h, in_w, in_c = shape
    if out_hw is None:
        out_hw = (
            (in_h + 2 * padding[0] - kernel[0]) // stride[0] + 1,
            (in_w + 2 * padding[1] - kernel[1]) // stride[1] + 1,
        )
    size = 4 if output_type is OutputType.INT32 else 1
    k = kernel[0] * kernel[1] * in_c
    m = batch * out_hw[0] * out_hw[1]
    x = rng.integers(-128, 128, shape).astype(np.int8)
    w = rng.integers(-128, 128, (*kernel, in_c, out_c)).astype(np.int8)
    bias, multiplier, shift = channel_params(rng, out_c, k, output_type)
    inp = layout.alloc(x.size)
    wts = layout.alloc(w.size)
    out = layout.alloc(m * out_c * size, align=size)
    host = Host(rng, layout.size() + out_c * PARAM_BYTES + 64)
    params = put_params(host, layout, bias, multiplier, shift)
    host.put_matrix(inp, x.reshape(1, -1), x.size)
    host.put_matrix(wts, w.reshape(1, -1), w.size)
    act = (INT32_MIN, INT32_MAX) if size == 4 else (-128, 127)
    raw = commands.conv2d(
        inp,
        wts,
        out,
        params,
        shape=shape,
        out_c=out_c,
        kernel=kernel,
        stride=stride,
        padding=padding,
        out_hw=out_hw,
        input_zero_point=izp,
        zero_point=zp,
        act_min=act[0],
        act_max=act[1],
        output_type=output_type,
    )
    cmd = check_command(Opcode.CONV2D, raw)
    expected = reference.conv2d(
        x,
        w,
        bias,
        multiplier,
        shift,
        stride=stride,
        pad_top=padding[0],
        pad_left=padding[1],
        out_hw=out_hw,
        input_zero_point=izp,
        zero_point=zp,
        output_int32=size == 4,
    )
    flat = expected.reshape(m, out_c)
    ldc = out_c * size
    want = expect_output(host, out, flat, ldc)
    return cmd, host, want, (out, ldc, m, out_c, size)


def conv_mkn(cmd):
    """The im2col GEMM's sizes."""
    return (
        cmd.batch * cmd.out_h * cmd.out_w,
        cmd.kernel_h * cmd.kernel_w * cmd.in_c,
        cmd.out_c,
    )


CONVS = {
    "1x1": dict(shape=(2, 5, 7, 3), out_c=6, kernel=(1, 1)),
    "3x3-pad": dict(shape=(1, 6, 5, 3), out_c=8, kernel=(3, 3), padding=(1, 1), izp=-5),
    "3x3-stride2-batch": dict(
        shape=(2, 9, 8, 20), out_c=10, kernel=(3, 3), stride=(2, 2), padding=(1, 1), izp=17
    ),
    "straddle": dict(shape=(1, 5, 6, 100), out_c=7, kernel=(3, 3), padding=(1, 1), izp=-128),
    "1x1-wide-channels": dict(shape=(1, 3, 4, 300), out_c=5, kernel=(1, 1), zp=4),
    "asymmetric": dict(
        shape=(2, 11, 10, 6),
        out_c=9,
        kernel=(5, 3),
        stride=(2, 3),
        padding=(2, 1),
        out_hw=(6, 4),
        izp=9,
    ),
    "kernel-covers-input": dict(shape=(1, 7, 7, 5), out_c=4, kernel=(7, 7), izp=3),
    "kernel-wider-than-input": dict(
        shape=(2, 2, 2, 3), out_c=3, kernel=(3, 3), padding=(1, 1), izp=-9
    ),
    "one-channel-int32": dict(
        shape=(1, 30, 30, 1),
        out_c=4,
        kernel=(3, 3),
        padding=(1, 1),
        izp=11,
        output_type=OutputType.INT32,
    ),
    "many-out-channels": dict(shape=(1, 4, 4, 2), out_c=300, kernel=(2, 2), stride=(2, 2)),
    "stride-past-right-edge": dict(
        shape=(1, 6, 7, 4), out_c=5, kernel=(2, 3), stride=(3, 2), out_hw=(2, 4), izp=-1
    ),
    "stride-wider-than-kernel": dict(
        shape=(1, 5, 10, 3), out_c=6, kernel=(2, 2), stride=(1, 3), padding=(1, 1), izp=21
    ),
    "deep-taps": dict(shape=(1, 3, 3, 600), out_c=5, kernel=(3, 3), padding=(2, 2), izp=-3),
    "huge-stride": dict(shape=(1, 4, 9, 7), out_c=3, kernel=(4, 2), stride=(5, 9), padding=(3, 1)),
}
CONV_GEOMETRIES = [
    "n2w4-small",
    "n4w8-small",
    "n8w8-default",
    "n32w32-default",
    "n8w8-acc-bound",
    "n32w32-max",
]


@pytest.mark.parametrize("geometry", CONV_GEOMETRIES)
@pytest.mark.parametrize("name", list(CONVS))
def test_conv2d(geometry, name):
    g = make_geometry(geometry)
    spec = dict(CONVS[name])
    cmd, host, want, where = conv_case(
        sum(map(ord, name)), spec.pop("shape"), spec.pop("out_c"), spec.pop("kernel"), **spec
    )
    plan = conv2d_plan(g, cmd)
    check_structure(g, plan, conv_mkn(cmd))
    run_and_compare(g, plan, host, want, where, (0, 1, 2))


def random_conv(rng):
    """Valid CONV2D parameters (the window rules of firmware.commands._check_conv2d)."""
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding = (int(rng.integers(0, kernel[0])), int(rng.integers(0, kernel[1])))
    shape = (
        int(rng.integers(1, 3)),
        int(rng.integers(1, 8)),
        int(rng.integers(1, 10)),
        int(rng.choice([1, 2, 3, 5, 17, 40, 100, 130, 257])),
    )
    # The last window must start inside the input; any output size up to that is valid.
    out_hw = tuple(
        int(rng.integers(1, (size - 1 + pad) // step + 2))
        for size, pad, step in zip(shape[1:3], padding, stride, strict=True)
    )
    output_type = OutputType.INT32 if rng.random() < 0.3 else OutputType.INT8
    return dict(
        shape=shape,
        out_c=int(rng.integers(1, 20)),
        kernel=kernel,
        stride=stride,
        padding=padding,
        out_hw=out_hw,
        izp=int(rng.integers(-128, 128)),
        zp=int(rng.integers(-10, 10)),
        output_type=output_type,
    )


@pytest.mark.parametrize("case", range(24))
def test_conv2d_random(case):
    rng = np.random.default_rng(case)
    spec = random_conv(rng)
    g = make_geometry(CONV_GEOMETRIES[case % len(CONV_GEOMETRIES)])
    cmd, host, want, where = conv_case(
        100 + case, spec.pop("shape"), spec.pop("out_c"), spec.pop("kernel"), **spec
    )
    plan = conv2d_plan(g, cmd)
    check_structure(g, plan, conv_mkn(cmd))
    run_and_compare(g, plan, host, want, where, (0, 1, 2))


@pytest.mark.parametrize("case", range(24))
def test_gemm_random(case):
    rng = np.random.default_rng(500 + case)
    g = make_geometry(ALL_GEOMETRIES[case % len(ALL_GEOMETRIES)])
    m, k, n = (int(rng.integers(1, high)) for high in (90, 700, 90))
    output_type = OutputType.INT32 if case % 3 == 0 else OutputType.INT8
    pad = tuple(int(rng.integers(0, 9)) for _ in range(3))
    cmd, host, want, where = gemm_case(
        g, 600 + case, m, k, n, output_type=output_type, pad=pad, zp=int(rng.integers(-9, 9))
    )
    plan = gemm_plan(g, cmd)
    check_structure(g, plan, (cmd.m, cmd.k, cmd.n))
    run_and_compare(g, plan, host, want, where, (0, 1, 2))


def _huge_conv(in_h, in_w, in_c, out_h, out_w, batch=1):
    """A 1x1, stride-1, unpadded CONV2D's fields, for _Im2col alone (no memory behind it)."""
    return SimpleNamespace(
        batch=batch,
        in_h=in_h,
        in_w=in_w,
        in_c=in_c,
        out_h=out_h,
        out_w=out_w,
        kernel_h=1,
        kernel_w=1,
        stride_h=1,
        stride_w=1,
        pad_top=0,
        pad_left=0,
        input_zero_point=0,
        input=0,
    )


@pytest.mark.parametrize(("in_c", "planes"), [(1 << 14, 4), (1 << 15, 1)])
def test_im2col_rows_one_by_one_where_the_plane_pitch_overflows(in_c, planes):
    """Output rows become planes while an input row (in_w * in_c bytes) fits a 32-bit plane
    pitch; at 2**32 bytes each row is a transfer of its own, at the same addresses."""
    cmd = _huge_conv(in_h=4, in_w=1 << 17, in_c=in_c, out_h=4, out_w=16)
    commands = _Im2col(cmd)(0, 64, 0, K_SLOT, 0)
    assert [c.planes for c in commands] == [planes] * (4 // planes)
    row = (1 << 17) * in_c
    starts = [c.src + p * c.src_plane_pitch for c in commands for p in range(c.planes)]
    assert starts == [y * row for y in range(4)]
    assert {(c.rows, c.src_pitch, c.row_bytes) for c in commands} == {(16, in_c, K_SLOT)}


@pytest.mark.parametrize(("in_c", "volumes"), [(1 << 14, 4), (1 << 15, 1)])
def test_im2col_images_one_by_one_where_the_volume_pitch_overflows(in_c, volumes):
    """Whole images of a block become volumes while an image fits a 32-bit volume pitch."""
    cmd = _huge_conv(in_h=2, in_w=1 << 16, in_c=in_c, out_h=2, out_w=8, batch=4)
    commands = _Im2col(cmd)(0, 64, 0, K_SLOT, 0)
    assert [c.volumes for c in commands] == [volumes] * (4 // volumes)
    image = 2 * (1 << 16) * in_c
    starts = [c.src + v * c.src_volume_pitch for c in commands for v in range(c.volumes)]
    assert starts == [i * image for i in range(4)]
    assert {c.planes for c in commands} == {2}
