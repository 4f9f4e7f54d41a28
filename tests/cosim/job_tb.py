"""Jobs through the whole path: driver, ring, fetcher, firmware, DMA, completions.

Expected memory contents are built by slicing Python byte strings, not by any code of the
project; results and error codes are literals of the shared enums.
"""

import errno
import random

import cocotb

from driver import commands
from driver.device import DeviceError
from driver.memory import PhysicalAllocator
from driver.npu import FIRMWARE_MAJOR, Npu
from firmware import VERSION, Firmware
from rtl.layouts import CompletionStatus, ErrorCode, RingEntry, nbytes
from rtl.regmap import HOST
from sim.soc import Soc

MiB = 1 << 20
TIMEOUT_NS = 5_000_000
#: The driver's structures and job buffers come from here; the rest of memory is the tests'.
POOL = (0x10_0000, 32 * MiB)
OK, ERROR = CompletionStatus.OK, CompletionStatus.ERROR


async def bring_up(dut, **kwargs):
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(*POOL), **kwargs)
    await npu.init()
    return soc, npu


async def put_stream(npu, *cmds):
    data = commands.stream(*cmds)
    addr = npu.memory.alloc(len(data))
    await npu.platform.mem_write(addr, data)
    return addr, len(data)


async def run(npu, *cmds, timeout_ns=TIMEOUT_NS):
    """Write a stream, submit it, wait for it; return the result."""
    addr, size = await put_stream(npu, *cmds)
    seqno = await npu.submit(addr, size)
    result = await npu.wait(seqno, timeout_ns=timeout_ns)
    npu.memory.free(addr)
    assert result.seqno == seqno
    return result


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


async def check_good_job(soc, npu, seed=99):
    """A COPY after a failure completes and copies exactly."""
    src, dst, data = 0x4000_0, 0x5000_0, pattern(100, seed)
    await soc.mem_write(src, data)
    await soc.mem_write(dst, bytes(100))
    result = await run(npu, commands.copy(src + 1, dst + 3, 97))
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    assert await soc.mem_read(dst, 100) == bytes(3) + data[1:98]


@cocotb.test()
async def nop(dut):
    """A NOP job completes; the firmware's version and status are mirrored to the host."""
    soc, npu = await bring_up(dut)
    assert npu.firmware_version == VERSION
    assert VERSION[0] == FIRMWARE_MAJOR
    assert HOST.fw_status.decode(await soc.mmio_read(HOST.fw_status.offset)) == {"ready": 1}
    result = await run(npu, commands.nop())
    assert (result.status, result.error, result.offset) == (OK, ErrorCode.NONE, 0)
    assert result.seqno == 1
    assert 0 < result.cycles < 1000, result.cycles
    assert await soc.mmio_read(HOST.ring_done.offset) == 1
    assert await soc.mmio_read(HOST.ring_head.offset) == 1


@cocotb.test()
async def copy_small(dut):
    """Copies of a few bytes at every alignment are exact; the bytes around them untouched."""
    soc, npu = await bring_up(dut)
    src, dst = 0x20_0000 - 0x100, 0x30_0000
    data = pattern(64, 1)
    await soc.mem_write(src, data)
    for length in (1, 2, 3, 5, 7, 8, 13):
        for s_off, d_off in ((0, 0), (1, 6), (7, 3), (5, 5)):
            before = pattern(64, length * 100 + d_off)
            await soc.mem_write(dst, before)
            result = await run(npu, commands.copy(src + s_off, dst + d_off, length))
            assert result.ok, result
            want = before[:d_off] + data[s_off : s_off + length] + before[d_off + length :]
            assert await soc.mem_read(dst, 64) == want, (length, s_off, d_off)


@cocotb.test()
async def copy_large(dut):
    """A 2 MiB copy between unaligned addresses is bit-exact."""
    soc, npu = await bring_up(dut)
    size = 2 * MiB + 13
    src, dst = 0x0300_0005, 0x0200_0003
    data = pattern(size, 2)
    await soc.mem_write(src, data)
    await soc.mem_write(dst - 3, bytes(size + 6))
    result = await run(npu, commands.copy(src, dst, size), timeout_ns=100_000_000)
    assert result.ok, result
    assert await soc.mem_read(dst - 3, size + 6) == bytes(3) + data + bytes(3)
    dut._log.info(f"{size} bytes copied in {result.cycles} cycles")


@cocotb.test()
async def copy_2d(dut):
    """2-D copies with odd row lengths and pitches move exactly the rows' bytes."""
    soc, npu = await bring_up(dut)
    src, dst, span = 0x0100_0000, 0x0180_0000, 0x8000
    source = pattern(span, 3)
    await soc.mem_write(src, source)
    shapes = [  # row_bytes, rows, src_pitch, dst_pitch, src offset, dst offset
        (1, 5, 3, 7, 0, 0),
        (13, 9, 17, 29, 1, 2),
        (100, 7, 333, 101, 3, 5),
        (255, 4, 4097, 255, 7, 1),
        (600, 3, 1001, 4099, 4093, 11),
    ]
    for row_bytes, rows, sp, dp, so, do in shapes:
        before = pattern(span, row_bytes)
        await soc.mem_write(dst, before)
        cmd = commands.copy(src + so, dst + do, row_bytes, rows=rows, src_pitch=sp, dst_pitch=dp)
        result = await run(npu, cmd)
        assert result.ok, result
        want = bytearray(before)
        for r in range(rows):
            want[do + r * dp : do + r * dp + row_bytes] = source[
                so + r * sp : so + r * sp + row_bytes
            ]
        assert await soc.mem_read(dst, span) == bytes(want), (row_bytes, rows, sp, dp)


@cocotb.test()
async def fill_and_write_value(dut):
    """FILL repeats its pattern over 2-D rows; WRITE_VALUE stores 64 bits after the fill."""
    soc, npu = await bring_up(dut)
    dst, span = 0x0100_0000, 0x1000
    before = pattern(span, 4)
    await soc.mem_write(dst, before)
    fence = dst + 0x800
    result = await run(
        npu,
        commands.fill(dst + 3, 10, 0x44332211, rows=3, dst_pitch=16),
        commands.write_value(fence, 0x0123_4567_89AB_CDEF),
    )
    assert result.ok, result
    want = bytearray(before)
    for r in range(3):
        want[3 + 16 * r : 13 + 16 * r] = bytes.fromhex("11223344112233441122")
    want[0x800:0x808] = (0x0123_4567_89AB_CDEF).to_bytes(8, "little")
    assert await soc.mem_read(dst, span) == bytes(want)


@cocotb.test()
async def thousand_jobs(dut):
    """1,000 jobs through a 16-entry ring: in order, right sequence numbers, every fence lands."""
    soc, npu = await bring_up(dut, ring_log2=4)
    fences = 0x0100_0000
    await soc.mem_write(fences, bytes(8 * 1000))
    streams = []
    for i in range(1000):
        addr, size = await put_stream(npu, commands.write_value(fences + 8 * i, i + 1))
        streams.append((addr, size))
    seqnos, pending = [], []
    for addr, size in streams:
        while not npu.free_slots:
            await npu.wait(pending.pop(0), timeout_ns=TIMEOUT_NS)
        seqno = await npu.submit(addr, size)
        seqnos.append(seqno)
        pending.append(seqno)
    for seqno in pending:
        await npu.wait(seqno, timeout_ns=TIMEOUT_NS)
    assert seqnos == list(range(1, 1001))
    assert [npu.results[s].seqno for s in seqnos] == seqnos
    assert all(npu.results[s].ok for s in seqnos)
    raw = await soc.mem_read(fences, 8 * 1000)
    assert [int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(1000)] == list(
        range(1, 1001)
    )
    assert await soc.mmio_read(HOST.ring_done.offset) == 1000
    assert npu.done == npu.tail == 1000


@cocotb.test()
async def full_ring(dut):
    """With every slot taken, submit reports EBUSY and overwrites nothing; the jobs then run."""
    soc, npu = await bring_up(dut, ring_log2=2)
    await soc.cp.stop()
    assert HOST.fw_status.decode(await soc.mmio_read(HOST.fw_status.offset)) == {"ready": 0}
    fences = 0x0100_0000
    await soc.mem_write(fences, bytes(8 * 5))
    streams = [
        await put_stream(npu, commands.write_value(fences + 8 * i, 0xF0 + i)) for i in range(5)
    ]
    seqnos = [await npu.submit(*streams[i]) for i in range(4)]
    ring = await soc.mem_read(npu.ring, 4 * nbytes(RingEntry))
    try:
        await npu.submit(*streams[4])
    except DeviceError as error:
        assert error.errno == errno.EBUSY, error
    else:
        raise AssertionError("submit to a full ring did not fail")
    assert await soc.mem_read(npu.ring, 4 * nbytes(RingEntry)) == ring
    assert await soc.mmio_read(HOST.ring_tail.offset) == 4
    soc.cp.start()
    results = [await npu.wait(s, timeout_ns=TIMEOUT_NS) for s in seqnos]
    assert [r.seqno for r in results] == [1, 2, 3, 4] and all(r.ok for r in results)
    last = await npu.submit(*streams[4])
    assert (await npu.wait(last, timeout_ns=TIMEOUT_NS)).ok
    raw = await soc.mem_read(fences, 8 * 5)
    assert [int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(5)] == [
        0xF0,
        0xF1,
        0xF2,
        0xF3,
        0xF4,
    ]
