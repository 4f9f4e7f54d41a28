"""Jobs through the whole path: driver, ring, fetcher, firmware, DMA, completions.

Expected memory contents are built by slicing Python byte strings, not by any code of the
project; results and error codes are literals of the shared enums. The jobs run in address space
:data:`FLAT`, which maps all of host memory at the same virtual addresses with 2 MiB blocks: the
MMU's own behaviour is tested in ``mmu_tb.py``.
"""

import errno
import random

import cocotb
from tinynpu.driver import commands
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.npu import FIRMWARE_MAJOR, Npu
from tinynpu.driver.pgtable import Prot
from tinynpu.firmware import VERSION, Firmware
from tinynpu.rtl.layouts import CompletionStatus, ErrorCode, RingEntry, nbytes
from tinynpu.rtl.regmap import HOST
from tinynpu.sim.soc import Soc

MiB = 1 << 20
TIMEOUT_NS = 5_000_000
#: The driver's structures and job buffers come from here; the rest of memory is the tests'.
POOL = (0x10_0000, 32 * MiB)
OK, ERROR = CompletionStatus.OK, CompletionStatus.ERROR
#: The address space of every job here (the first one created), and what it maps.
FLAT = 0
MEMORY = 64 * MiB


async def bring_up(dut, **kwargs):
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(*POOL), **kwargs)
    await npu.init()
    space = await npu.mmu.create()
    assert space.asid == FLAT
    await npu.mmu.map(space, 0, 0, MEMORY, Prot.READ | Prot.WRITE)
    return soc, npu


async def submit(npu, addr, size):
    return await npu.submit(addr, size, asid=FLAT)


async def put_stream(npu, *cmds):
    data = commands.stream(*cmds)
    addr = npu.memory.alloc(len(data))
    await npu.platform.mem_write(addr, data)
    return addr, len(data)


async def run(npu, *cmds, timeout_ns=TIMEOUT_NS):
    """Write a stream, submit it, wait for it; return the result."""
    addr, size = await put_stream(npu, *cmds)
    seqno = await submit(npu, addr, size)
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
        seqno = await submit(npu, addr, size)
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
    seqnos = [await submit(npu, *streams[i]) for i in range(4)]
    ring = await soc.mem_read(npu.ring, 4 * nbytes(RingEntry))
    try:
        await submit(npu, *streams[4])
    except DeviceError as error:
        assert error.errno == errno.EBUSY, error
    else:
        raise AssertionError("submit to a full ring did not fail")
    assert await soc.mem_read(npu.ring, 4 * nbytes(RingEntry)) == ring
    assert await soc.mmio_read(HOST.ring_tail.offset) == 4
    soc.cp.start()
    results = [await npu.wait(s, timeout_ns=TIMEOUT_NS) for s in seqnos]
    assert [r.seqno for r in results] == [1, 2, 3, 4] and all(r.ok for r in results)
    last = await submit(npu, *streams[4])
    assert (await npu.wait(last, timeout_ns=TIMEOUT_NS)).ok
    raw = await soc.mem_read(fences, 8 * 5)
    assert [int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(5)] == [
        0xF0,
        0xF1,
        0xF2,
        0xF3,
        0xF4,
    ]


def header(opcode, length, flags=0, reserved=0):
    return bytes([opcode, flags]) + length.to_bytes(2, "little") + reserved.to_bytes(4, "little")


def malformed_streams():
    """(name, stream, error, offset of the failing command)."""
    nop = commands.nop()
    copy = commands.copy(0x0100_0000, 0x0180_0000, 16)
    fill = commands.fill(0x0100_0000, 16, 0)
    value = commands.write_value(0x0100_0000, 1)
    return [
        ("unknown opcode", nop + header(0x7F, 8), ErrorCode.BAD_OPCODE, 8),
        ("opcode 0xff", header(0xFF, 8), ErrorCode.BAD_OPCODE, 0),
        ("length short of the layout", header(1, 32) + copy[8:32], ErrorCode.TRUNCATED, 0),
        ("stream ends inside a command", nop + copy[:32], ErrorCode.TRUNCATED, 8),
        ("length zero", header(0, 0), ErrorCode.TRUNCATED, 0),
        ("length beyond the layout", header(0, 16) + bytes(8), ErrorCode.OVERSIZED, 0),
        ("header flags", header(0, 8, flags=1), ErrorCode.RESERVED, 0),
        ("header reserved", nop + nop + header(0, 8, reserved=1 << 31), ErrorCode.RESERVED, 16),
        (
            "overlapping rows",
            commands.copy(0x0100_0000, 0x0180_0000, 16, rows=2, src_pitch=8),
            ErrorCode.MISALIGNED,
            0,
        ),
        (
            "fill pitch shorter than a row",
            nop + commands.fill(0x0100_0000, 16, 0, rows=2, dst_pitch=15),
            ErrorCode.MISALIGNED,
            8,
        ),
        ("misaligned fence", copy + commands.write_value(0x0100_0004, 1), ErrorCode.MISALIGNED, 40),
        (
            "row too long",
            fill[:16] + (1 << 24).to_bytes(4, "little") + fill[20:],
            ErrorCode.OVERSIZED,
            0,
        ),
        (
            "region past the address space",
            commands.copy((1 << 40) - 8, 0x0180_0000, 16),
            ErrorCode.OVERSIZED,
            0,
        ),
        (
            "fence past the address space",
            value[:8] + (1 << 40).to_bytes(8, "little") + value[16:],
            ErrorCode.OVERSIZED,
            0,
        ),
    ]


@cocotb.test()
async def malformed_commands(dut):
    """Each malformed command gets its error code and offset; nothing before it is undone and
    the next job runs normally."""
    soc, npu = await bring_up(dut)
    for name, stream, error, offset in malformed_streams():
        result = await run(npu, stream)
        assert (result.status, result.error, result.offset) == (ERROR, error, offset), (
            name,
            result,
        )
        await check_good_job(soc, npu, seed=len(name))
    # A command before the bad one has run: its fence is in memory.
    fence = 0x0100_0000
    await soc.mem_write(fence, bytes(8))
    result = await run(npu, commands.write_value(fence, 0xABCD), header(0x42, 8))
    assert (result.error, result.offset) == (ErrorCode.BAD_OPCODE, 24)
    assert await soc.mem_read(fence, 8) == (0xABCD).to_bytes(8, "little")


@cocotb.test()
async def bad_entries(dut):
    """Malformed ring entries complete with BAD_ENTRY and run nothing."""
    soc, npu = await bring_up(dut)
    fence = 0x0100_0000
    addr, size = await put_stream(npu, commands.write_value(fence, 7))
    cases = [
        ("empty stream", addr, 0),
        ("size not a multiple of 8", addr, 12),
        ("misaligned stream", addr + 4, 24),
        ("stream larger than the SRAM", addr, 1 << 16),
    ]
    for name, cmd_addr, cmd_size in cases:
        await soc.mem_write(fence, bytes(8))
        seqno = await submit(npu, cmd_addr, cmd_size)
        result = await npu.wait(seqno, timeout_ns=TIMEOUT_NS)
        assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BAD_ENTRY, 0), (
            name,
            result,
        )
        assert await soc.mem_read(fence, 8) == bytes(8), name
    missing = npu.info.addr_spaces  # the first address space the MMU does not have
    seqno = await npu.submit(addr, size, asid=missing)
    result = await npu.wait(seqno, timeout_ns=TIMEOUT_NS)
    assert (result.status, result.error) == (ERROR, ErrorCode.BAD_ENTRY), result
    assert await soc.mem_read(fence, 8) == bytes(8)
    seqno = await submit(npu, addr, size)
    assert (await npu.wait(seqno, timeout_ns=TIMEOUT_NS)).ok
    assert await soc.mem_read(fence, 8) == (7).to_bytes(8, "little")


@cocotb.test()
async def bus_errors(dut):
    """SLVERR on a read, on a write and on the stream fetch ends the job with BUS_ERROR."""
    soc, npu = await bring_up(dut)
    src, dst = 0x0100_0000, 0x0180_0000
    await soc.mem_write(src, pattern(0x4000, 5))
    copy = commands.copy(src, dst, 0x4000)
    lead = commands.nop()

    soc.memory.inject_error(src + 0x2000, 1, write=False)
    result = await run(npu, lead, copy)
    assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BUS_ERROR, 8)
    soc.memory.clear_errors()
    await check_good_job(soc, npu, seed=1)

    soc.memory.inject_error(dst + 0x3FFF, 1, write=True)
    result = await run(npu, copy, lead)
    assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BUS_ERROR, 0)
    soc.memory.clear_errors()
    await check_good_job(soc, npu, seed=2)

    addr, size = await put_stream(npu, lead, lead)
    soc.memory.inject_error(addr, 8, write=False)
    seqno = await submit(npu, addr, size)
    result = await npu.wait(seqno, timeout_ns=TIMEOUT_NS)
    assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BUS_ERROR, 0)
    soc.memory.clear_errors()
    await check_good_job(soc, npu, seed=3)
    assert soc.memory.faults_answered >= 3


@cocotb.test()
async def ring_fetch_error(dut):
    """A bus error fetching the ring stops the queue (queue_error, EIO) until a reset."""
    soc, npu = await bring_up(dut)
    addr, size = await put_stream(npu, commands.nop())
    soc.memory.inject_error(npu.ring + 32, 32, write=False)
    first = await submit(npu, addr, size)
    assert (await npu.wait(first, timeout_ns=TIMEOUT_NS)).ok
    second = await submit(npu, addr, size)
    try:
        await npu.wait(second, timeout_ns=TIMEOUT_NS)
    except DeviceError as error:
        assert error.errno == errno.EIO, error
        assert "BUS_ERROR" in str(error)
    else:
        raise AssertionError("a failed ring fetch did not stop the queue")
    assert HOST.ring_status.decode(await soc.mmio_read(HOST.ring_status.offset))["error"] == 3
    soc.memory.clear_errors()
    lost = await npu.reset()
    assert lost == [second]
    await check_good_job(soc, npu)


@cocotb.test()
async def firmware_crash(dut):
    """A crashed firmware times the job out; a reset reboots it and loses only that job."""
    soc, npu = await bring_up(dut)
    first = await run(npu, commands.nop())
    assert first.ok
    soc.cp.crash()
    addr, size = await put_stream(npu, commands.nop())
    hung = await submit(npu, addr, size)
    try:
        await npu.wait(hung, timeout_ns=50_000)
    except DeviceError as error:
        assert error.errno == errno.ETIMEDOUT, error
    else:
        raise AssertionError("a job on a crashed firmware completed")
    assert await npu.reset() == [hung]
    assert npu.results[first.seqno] == first
    await check_good_job(soc, npu)
    try:
        await npu.wait(hung, timeout_ns=1000)
    except DeviceError as error:
        assert error.errno == errno.ENOENT, error
    else:
        raise AssertionError("a lost job can still be waited for")


class FutureFirmware(Firmware):
    """A firmware of a major version this driver does not speak."""

    version = (FIRMWARE_MAJOR + 1, 0, 0)


@cocotb.test()
async def bring_up_failures(dut):
    """No firmware: init times out. A firmware of another major version: ENODEV."""
    soc = Soc(dut)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(*POOL), boot_timeout_ns=20_000)
    start = soc.now_ns()
    try:
        await npu.init()
    except DeviceError as error:
        assert error.errno == errno.ETIMEDOUT, error
    else:
        raise AssertionError("init without firmware succeeded")
    assert 20_000 <= soc.now_ns() - start < 25_000

    soc = Soc(dut, firmware=FutureFirmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(*POOL))
    try:
        await npu.init()
    except DeviceError as error:
        assert error.errno == errno.ENODEV, error
        assert f"Unsupported firmware {FIRMWARE_MAJOR + 1}.0.0" in str(error)
    else:
        raise AssertionError("init accepted a firmware of another major version")
