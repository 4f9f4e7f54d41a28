"""GEMM and CONV2D jobs on the RTL, bit-exact against the numpy reference (``runtime.reference``).

Operands are random int8 matrices written to host memory; every output is compared with the
reference's, element for element, together with the bytes around it (a guard band the job must
not touch). Jobs run in address space :data:`job_tb.FLAT`.
"""

import cocotb
import numpy as np
from job_tb import MEMORY, bring_up, run
from tinynpu.rtl.layouts import (
    Access,
    CompletionStatus,
    ErrorCode,
    FaultKind,
    JobCounters,
    OutputType,
    nbytes,
    unpack,
)
from tinynpu.rtl.regmap import HOST
from tinynpu.runtime import commands, reference

OK, ERROR, FAULT = CompletionStatus.OK, CompletionStatus.ERROR, CompletionStatus.FAULT
TIMEOUT_NS = 200_000_000
GUARD = 16
#: Where the tests put their operands (the driver's pool is below).
A, B, C, P, X = 0x0300_0000, 0x0340_0000, 0x0380_0000, 0x03C0_0000, 0x03E0_0000


def random_quant(rng, n):
    bias = rng.integers(-5000, 5000, n)
    multiplier = rng.integers(1 << 30, (1 << 31) - 1, n)
    shift = rng.integers(6, 12, n)
    return bias, multiplier, shift


async def put(soc, addr, array):
    await soc.mem_write(addr, np.ascontiguousarray(array).tobytes())


async def gemm_case(
    soc,
    rig,
    rng,
    m,
    k,
    n,
    *,
    output_type=OutputType.INT8,
    zero_point=0,
    act=(-128, 127),
    pitches=(0, 0, 0),
    quant=None,
):
    """Run one GEMM job and compare C (and its guard bands) with the reference."""
    size = 4 if output_type is OutputType.INT32 else 1
    lda, ldb, ldc = k + pitches[0], n + pitches[1], n * size + pitches[2]
    a = rng.integers(-128, 128, (m, k), dtype=np.int8)
    b = rng.integers(-128, 128, (k, n), dtype=np.int8)
    bias, multiplier, shift = quant or random_quant(rng, n)
    a_mem = np.zeros((m, lda), np.int8)
    a_mem[:, :k] = a
    b_mem = np.zeros((k, ldb), np.int8)
    b_mem[:, :n] = b
    await put(soc, A, a_mem)
    await put(soc, B, b_mem)
    await soc.mem_write(P, commands.channel_params(bias, multiplier, shift))
    c_bytes = m * ldc + GUARD
    fill = bytes([0xA5]) * (c_bytes + GUARD)
    await soc.mem_write(C - GUARD, fill)
    result = await run(
        rig,
        commands.gemm(
            A,
            B,
            C,
            P,
            m,
            k,
            n,
            lda=lda,
            ldb=ldb,
            ldc=ldc,
            zero_point=zero_point,
            act_min=act[0],
            act_max=act[1],
            output_type=output_type,
        ),
        timeout_ns=TIMEOUT_NS,
    )
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    want = reference.gemm(
        a,
        b,
        bias,
        multiplier,
        shift,
        zero_point=zero_point,
        act_min=act[0],
        act_max=act[1],
        output_int32=output_type is OutputType.INT32,
    )
    expect = bytearray(fill)
    row = want.astype(np.int32 if size == 4 else np.int8).tobytes()
    for i in range(m):
        start = GUARD + i * ldc
        expect[start : start + n * size] = row[i * n * size : (i + 1) * n * size]
    got = await soc.mem_read(C - GUARD, len(fill))
    if got != bytes(expect):
        raw = np.frombuffer(got[GUARD : GUARD + m * ldc], np.uint8).reshape(m, ldc)[:, : n * size]
        mine = raw.copy().view(np.int32 if size == 4 else np.int8)
        bad = np.argwhere(mine != want)
        raise AssertionError(
            f"GEMM {m}x{k}x{n}: {len(bad)} wrong elements, first at {bad[:5].tolist()}: "
            f"got {mine[tuple(bad[0])]} want {want[tuple(bad[0])]}"
            if len(bad)
            else f"GEMM {m}x{k}x{n}: guard bytes or pitch gaps touched"
        )
    return result


@cocotb.test(timeout_time=20, timeout_unit="ms")
async def gemm_shapes(dut):
    """Random GEMMs of edge, prime and larger-than-scratchpad shapes are bit-exact."""
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(1)
    shapes = [
        (1, 1, 1),
        (2, 3, 5),
        (8, 8, 8),
        (13, 17, 11),
        (31, 7, 37),
        (70, 300, 40),
        (1, 257, 3),
        (64, 64, 64),
        (129, 9, 1),
    ]
    for m, k, n in shapes:
        result = await gemm_case(soc, rig, rng, m, k, n)
        dut._log.info(f"GEMM {m}x{k}x{n}: {result.cycles} cycles")
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def gemm_int32_and_pitches(dut):
    """int32 outputs (bias, clamps) and padded row pitches of every operand."""
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(2)
    await gemm_case(
        soc, rig, rng, 9, 20, 6, output_type=OutputType.INT32, act=(-(1 << 31), (1 << 31) - 1)
    )
    await gemm_case(
        soc,
        rig,
        rng,
        17,
        33,
        12,
        output_type=OutputType.INT32,
        act=(-1000, 5000),
        pitches=(3, 5, 8),
    )
    await gemm_case(soc, rig, rng, 21, 45, 19, pitches=(7, 1, 13))
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def quantization_edges(dut):
    """Saturation, negative zero points, ReLU and ReLU6 clamps, rounding ties."""
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(3)
    n = 8
    # Large multipliers, no shift: outputs saturate both ways.
    await gemm_case(soc, rig, rng, 5, 40, n, quant=([0] * n, [(1 << 31) - 1] * n, [0] * n))
    # Negative zero point and a ReLU at it; ReLU6 at zp + 24.
    await gemm_case(soc, rig, rng, 6, 30, n, zero_point=-20, act=(-20, 4))
    # Ties: multiplier 2**30 (x / 2), shifts 1..8 on small sums hit .5 often.
    await gemm_case(
        soc,
        rig,
        rng,
        7,
        2,
        n,
        quant=([1, -1, 3, -3, 0, 2, -2, 5], [1 << 30] * n, list(range(1, 9))),
    )
    # The saturating doubling-multiply's overflow: bias making x = INT32_MIN, multiplier too.
    await gemm_case(soc, rig, rng, 3, 1, n, quant=([-(1 << 31)] * n, [-(1 << 31)] * n, [0] * n))
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def bad_operands(dut):
    """Bad GEMM and CONV2D descriptors end with their error code; the next job runs."""
    soc, rig = await bring_up(dut)
    bad = [
        (commands.gemm(A, B, C, P, 0, 4, 4), ErrorCode.BAD_OPERAND),
        (commands.gemm(A, B, C, P, 4, 0, 4), ErrorCode.BAD_OPERAND),
        (commands.gemm(A, B, C, P, 4, 4, 4, lda=3), ErrorCode.BAD_OPERAND),
        (commands.gemm(A, B, C, P, 4, 4, 4, act_min=5, act_max=4), ErrorCode.BAD_OPERAND),
        (commands.gemm(A, B, C, P, 4, 4, 4, zero_point=128), ErrorCode.BAD_OPERAND),
        (
            commands.gemm(A, B, C + 2, P, 4, 4, 4, output_type=OutputType.INT32),
            ErrorCode.MISALIGNED,
        ),
        (commands.gemm(A, B, C, P + 2, 4, 4, 4), ErrorCode.MISALIGNED),
        (commands.gemm(A, B, C, P, 1 << 16, 4, 4), ErrorCode.OVERSIZED),
        (
            commands.conv2d(A, B, C, P, shape=(1, 4, 4, 0), out_c=2, kernel=(3, 3), out_hw=(2, 2)),
            ErrorCode.BAD_OPERAND,
        ),
        (
            commands.conv2d(
                A,
                B,
                C,
                P,
                shape=(1, 4, 4, 2),
                out_c=2,
                kernel=(3, 3),
                padding=(3, 0),
                out_hw=(2, 2),
            ),
            ErrorCode.BAD_OPERAND,
        ),
        (
            commands.conv2d(A, B, C, P, shape=(1, 4, 4, 2), out_c=2, kernel=(3, 3), out_hw=(5, 2)),
            ErrorCode.BAD_OPERAND,
        ),
        (commands.counters(C + 4), ErrorCode.MISALIGNED),
    ]
    for cmd, code in bad:
        result = await run(rig, commands.nop(), cmd)
        assert (result.status, result.error, result.offset) == (ERROR, code, 8), (result, code)
    await gemm_case(soc, rig, np.random.default_rng(4), 5, 6, 7)
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def operand_faults(dut):
    """A GEMM whose B load, or whose C store, faults ends FAULT / PAGE_FAULT; nothing else moves.

    The B case faults before any store: C keeps its old bytes. The C case faults after the
    matrix operations ran: the job still ends, and the next GEMM in the same address space is
    bit-exact (the queued operations drained, the fault was acknowledged).
    """
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(7)
    m, k, n = 20, 30, 12
    await put(soc, A, rng.integers(-128, 128, (m, k), dtype=np.int8))
    await put(soc, B, rng.integers(-128, 128, (k, n), dtype=np.int8))
    await soc.mem_write(P, commands.channel_params(*random_quant(rng, n)))
    old = bytes([0xC3]) * (m * n)
    await soc.mem_write(C, old)
    unmapped = MEMORY + 0x1000  # above what FLAT maps
    for b, c, address, access in (
        (unmapped, C, unmapped, Access.READ),
        (B, unmapped, unmapped, Access.WRITE),
    ):
        result = await run(rig, commands.nop(), commands.gemm(A, b, c, P, m, k, n))
        assert (result.status, result.error, result.offset) == (FAULT, ErrorCode.PAGE_FAULT, 8)
        assert result.fault is not None
        assert (result.fault.address, result.fault.access) == (address, access), result.fault
        # FLAT maps 2 MiB blocks from one level-2 table: the level-2 descriptor is invalid.
        assert (result.fault.kind, result.fault.level) == (FaultKind.TRANSLATION, 2)
        assert await soc.mem_read(C, m * n) == old
    await gemm_case(soc, rig, rng, m, k, n)
    await rig.ledger.finish()


async def conv_case(
    soc, rig, rng, shape, out_c, kernel, stride, padding, *, izp=0, output_type=OutputType.INT8
):
    batch, h, w, c = shape
    kh, kw = kernel
    out_h = (h + 2 * padding[0] - kh) // stride[0] + 1
    out_w = (w + 2 * padding[1] - kw) // stride[1] + 1
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    wt = rng.integers(-128, 128, (kh, kw, c, out_c), dtype=np.int8)
    bias, multiplier, shift = random_quant(rng, out_c)
    await put(soc, A, x)
    await put(soc, B, wt)
    await soc.mem_write(P, commands.channel_params(bias, multiplier, shift))
    size = 4 if output_type is OutputType.INT32 else 1
    out_bytes = batch * out_h * out_w * out_c * size
    fill = bytes([0x5A]) * (out_bytes + 2 * GUARD)
    await soc.mem_write(C - GUARD, fill)
    act = (-128, 127) if size == 1 else (-(1 << 31), (1 << 31) - 1)
    result = await run(
        rig,
        commands.conv2d(
            A,
            B,
            C,
            P,
            shape=shape,
            out_c=out_c,
            kernel=kernel,
            stride=stride,
            padding=padding,
            out_hw=(out_h, out_w),
            input_zero_point=izp,
            output_type=output_type,
            act_min=act[0],
            act_max=act[1],
        ),
        timeout_ns=TIMEOUT_NS,
    )
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    want = reference.conv2d(
        x,
        wt,
        bias,
        multiplier,
        shift,
        stride=stride,
        pad_top=padding[0],
        pad_left=padding[1],
        out_hw=(out_h, out_w),
        input_zero_point=izp,
        output_int32=size == 4,
    )
    got = await soc.mem_read(C - GUARD, len(fill))
    assert got[:GUARD] == fill[:GUARD] and got[GUARD + out_bytes :] == fill[:GUARD]
    mine = np.frombuffer(got[GUARD : GUARD + out_bytes], np.int32 if size == 4 else np.int8)
    mine = mine.reshape(want.shape)
    bad = np.argwhere(mine != want)
    assert not len(bad), f"conv {shape} {kernel}: {len(bad)} wrong, first {bad[:4].tolist()}"
    return result


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def convolutions(dut):
    """Convolutions (padding, strides, batches, 1x1, channels across K chunks, several images in
    a block) are bit-exact."""
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(5)
    cases = [
        ((1, 5, 5, 3), 4, (3, 3), (1, 1), (1, 1), -7),
        ((2, 6, 7, 5), 6, (3, 3), (2, 2), (1, 1), 3),
        ((1, 4, 4, 8), 9, (1, 1), (1, 1), (0, 0), 0),
        ((1, 7, 5, 40), 5, (3, 2), (1, 2), (2, 1), -128),
        ((1, 6, 6, 2), 3, (5, 5), (1, 1), (0, 0), 0),
        ((5, 3, 4, 6), 5, (3, 3), (1, 1), (1, 1), 9),  # whole images of a block: volumes
    ]
    for shape, out_c, kernel, stride, padding, izp in cases:
        result = await conv_case(soc, rig, rng, shape, out_c, kernel, stride, padding, izp=izp)
        dut._log.info(f"conv {shape} k{kernel} s{stride} p{padding}: {result.cycles} cycles")
    await conv_case(
        soc, rig, rng, (1, 4, 5, 3), 5, (3, 3), (1, 1), (1, 1), izp=2, output_type=OutputType.INT32
    )
    await rig.ledger.finish()


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def fault_in_the_middle_of_a_gather(dut):
    """A CONV2D whose input runs off the mapped memory at its second row faults in the middle of
    its first block's queued gather (after the weights, the parameters, the padding fill and the
    taps of input row 0): FAULT / PAGE_FAULT at the first unmapped address, nothing stored; the
    transfers queued behind the failing one never run, and the same convolution with its input
    mapped, next, is bit-exact."""
    soc, rig = await bring_up(dut)
    rng = np.random.default_rng(8)
    shape, out_c = (1, 16, 16, 8), 8
    row = shape[2] * shape[3]
    x = rng.integers(-128, 128, shape, dtype=np.int8)
    wt = rng.integers(-128, 128, (3, 3, shape[3], out_c), dtype=np.int8)
    edge = MEMORY - row  # input rows 1 and later are not mapped
    await put(soc, edge, x[:, :1])
    await put(soc, B, wt)
    await soc.mem_write(P, commands.channel_params(*random_quant(rng, out_c)))
    old = bytes([0xA5]) * (16 * 16 * out_c)
    await soc.mem_write(C, old)
    conv = {"shape": shape, "out_c": out_c, "kernel": (3, 3), "padding": (1, 1)}
    result = await run(rig, commands.conv2d(edge, B, C, P, out_hw=(16, 16), **conv))
    assert (result.status, result.error, result.offset) == (FAULT, ErrorCode.PAGE_FAULT, 0)
    assert (result.fault.address, result.fault.access) == (MEMORY, Access.READ), result.fault
    assert await soc.mem_read(C, len(old)) == old
    await conv_case(soc, rig, rng, shape, out_c, (3, 3), (1, 1), (1, 1))
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def job_counters(dut):
    """COUNTERS stores the job's counters: MACs, steps and DMA bytes of a known GEMM."""
    soc, rig = await bring_up(dut)
    n_arr = HOST.cap_array.decode(await soc.mmio_read(HOST.cap_array.offset))["n"]
    m, k, n = 16, 32, 16
    rng = np.random.default_rng(6)
    await put(soc, A, rng.integers(-128, 128, (m, k), dtype=np.int8))
    await put(soc, B, rng.integers(-128, 128, (k, n), dtype=np.int8))
    await soc.mem_write(P, commands.channel_params(*random_quant(rng, n)))
    result = await run(rig, commands.gemm(A, B, C, P, m, k, n), commands.counters(X))
    assert result.ok, result
    record = unpack(JobCounters, await soc.mem_read(X, nbytes(JobCounters)))
    assert record.array_macs == m * k * n
    assert record.array_busy == -(-m // n_arr) * -(-n // n_arr) * k
    assert record.array_bubbles == 0
    assert 1 <= record.matrix_ops <= -(-m // n_arr) * -(-n // n_arr)
    # A, B, the parameters and the command stream are read; C is written, before COUNTERS.
    assert record.dma_write_bytes == m * n
    assert record.dma_read_bytes >= m * k + k * n + n * 16
    assert record.cycles < result.cycles + 1
    assert record.tlb_misses >= 1
    await rig.ledger.finish()
