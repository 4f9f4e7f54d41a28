"""The compute benchmark inside the simulator: GEMM and CONV2D jobs, end to end.

Each workload runs as one job in an address space mapping its buffers at virtual addresses
(4 KiB pages); the job ends with a COUNTERS command, so the job's own counters come back with it.
Every output is checked against the numpy reference before a figure is reported.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.triggers import Timer

from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.pgtable import Prot
from tinynpu.firmware import Firmware
from tinynpu.rtl.layouts import JobCounters, nbytes, unpack
from tinynpu.runtime import commands, reference
from tinynpu.sim.soc import Soc
from tinynpu.sim.system import KernelContext, start_driver

REPORT = "compute.json"
#: Virtual addresses of the operands, and of the stream and counters record.
A_VA, B_VA, C_VA, P_VA, S_VA = (0x10_0000_0000 + i * 0x100_0000 for i in range(5))
PAGE = 4096
#: (name, kind, shape): GEMM shapes are (M, K, N); the convolution is
#: (input NHWC, out channels, kernel, stride, padding).
WORKLOADS = [
    ("gemm 64x64x64", "gemm", (64, 64, 64)),
    ("gemm 128x128x128", "gemm", (128, 128, 128)),
    ("gemm 256x64x10", "gemm", (256, 64, 10)),
    ("conv 16x16x16 3x3 -> 32", "conv", ((1, 16, 16, 16), 32, (3, 3), (1, 1), (1, 1))),
]


async def _map(context, va, size):
    """Back ``size`` bytes at ``va`` with freshly allocated frames; return the frame address."""
    size = -(-size // PAGE) * PAGE
    frame = context.device.memory.alloc(size, align=PAGE)
    await context.map(va, frame, size, Prot.READ | Prot.WRITE)
    return frame


def _params(rng, n):
    bias = rng.integers(-3000, 3000, n)
    multiplier = rng.integers(1 << 30, (1 << 31) - 1, n)
    shift = rng.integers(7, 10, n)
    return (bias, multiplier, shift), commands.channel_params(bias, multiplier, shift)


# 2.5 ms of simulated time on the slowest configuration benchmarked (N=4): ten times that,
# rounded up.
@cocotb.test(timeout_time=50, timeout_unit="ms")
async def compute(dut):
    """Run every workload once, verify it, record cycles, counters and simulation speed."""
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    # The idle rate of this build, the yardstick of every job's simulation speed below.
    idle_cycles = int(os.environ.get("BENCH_COMPUTE_IDLE_CYCLES", "300000"))
    start, wall = soc.cycles, time.perf_counter()
    await Timer(idle_cycles * soc.clock_ns, unit="ns")
    idle = (soc.cycles - start, time.perf_counter() - wall)
    device = await start_driver(soc, PhysicalAllocator(0x10_0000, 48 << 20), ring_log2=4)
    context = await KernelContext.create(device)
    rng = np.random.default_rng(int(os.environ.get("BENCH_SEED", "1")))
    frames = {va: await _map(context, va, 1 << 20) for va in (A_VA, B_VA, C_VA, P_VA)}
    stream_frame = await _map(context, S_VA, PAGE)

    runs = []
    for name, kind, shape in WORKLOADS:
        if kind == "gemm":
            m, k, n = shape
            a = rng.integers(-128, 128, (m, k), dtype=np.int8)
            b = rng.integers(-128, 128, (k, n), dtype=np.int8)
            quant, raw = _params(rng, n)
            command = commands.gemm(A_VA, B_VA, C_VA, P_VA, m, k, n)
            want = reference.gemm(a, b, *quant)
            macs = m * k * n
            operands = (a, b)
        else:
            in_shape, out_c, kernel, stride, padding = shape
            batch, h, w, c = in_shape
            out_hw = tuple(
                (size + 2 * pad - kern) // st + 1
                for size, pad, kern, st in zip((h, w), padding, kernel, stride, strict=True)
            )
            a = rng.integers(-128, 128, in_shape, dtype=np.int8)
            b = rng.integers(-128, 128, (*kernel, c, out_c), dtype=np.int8)
            quant, raw = _params(rng, out_c)
            command = commands.conv2d(
                A_VA,
                B_VA,
                C_VA,
                P_VA,
                shape=in_shape,
                out_c=out_c,
                kernel=kernel,
                stride=stride,
                padding=padding,
                out_hw=out_hw,
                input_zero_point=-3,
            )
            want = reference.conv2d(
                a,
                b,
                *quant,
                stride=stride,
                pad_top=padding[0],
                pad_left=padding[1],
                out_hw=out_hw,
                input_zero_point=-3,
            )
            m, k, n = batch * out_hw[0] * out_hw[1], kernel[0] * kernel[1] * c, out_c
            macs = m * k * n
            operands = (a, b)
        await soc.mem_write(frames[A_VA], operands[0].tobytes())
        await soc.mem_write(frames[B_VA], operands[1].tobytes())
        await soc.mem_write(frames[P_VA], raw)
        record_va = S_VA + 2048
        stream = commands.stream(command, commands.counters(record_va))
        await soc.mem_write(stream_frame, stream)

        start, wall = soc.cycles, time.perf_counter()
        fence = await context.run(S_VA, len(stream), timeout_ns=1e10)
        cycles, seconds = soc.cycles - start, time.perf_counter() - wall
        assert fence.error == 0, (name, fence.outcome)
        got = np.frombuffer(await soc.mem_read(frames[C_VA], want.size), np.int8)
        exact = bool(np.array_equal(got.reshape(want.shape), want))
        assert exact, f"{name}: output differs from the reference"
        counters = unpack(JobCounters, await soc.mem_read(stream_frame + 2048, nbytes(JobCounters)))
        runs.append(
            {
                "name": name,
                "m": m,
                "k": k,
                "n": n,
                "macs": macs,
                "exact": exact,
                "cycles": cycles,
                "job_cycles": fence.outcome.cycles,
                "wall_s": seconds,
                "counters": {
                    field: counters[field]
                    for field, _ in counters.shape()
                    if not field.startswith("_")
                },
            }
        )
    with open(REPORT, "w") as f:
        json.dump({"array_size": soc.config.array_size, "idle": idle, "runs": runs}, f)
