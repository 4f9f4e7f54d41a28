"""Jobs through the whole path: driver, ring, fetcher, firmware, DMA, completions.

Expected memory contents are built by slicing Python byte strings, not by any code of the
project; results and error codes are literals of the shared enums. The jobs run in address space
:data:`FLAT`, which maps all of host memory at the same virtual addresses with 2 MiB blocks: the
MMU's own behaviour is tested in ``mmu_tb.py``.
"""

import contextlib
import errno
import random
from dataclasses import dataclass

import cocotb
from driver_idle import Ledger
from tinynpu.driver import tracepoints
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PAGE_SIZE, PhysicalAllocator
from tinynpu.driver.mmu import AddressSpace
from tinynpu.driver.npu import FIRMWARE_MAJOR, NpuBackend
from tinynpu.driver.pgtable import Prot
from tinynpu.firmware import VERSION, Firmware
from tinynpu.rtl.layouts import (
    Completion,
    CompletionStatus,
    ErrorCode,
    QueueError,
    RingEntry,
    nbytes,
    unpack,
)
from tinynpu.rtl.regmap import HOST
from tinynpu.runtime import commands
from tinynpu.sim.soc import Soc
from tinynpu.sim.system import KernelContext, start_driver

MiB = 1 << 20
COMPLETION = nbytes(Completion)
TIMEOUT_NS = 5_000_000
#: The driver's structures and job buffers come from here; the rest of memory is the tests'.
POOL = (0x10_0000, 32 * MiB)
OK, ERROR = CompletionStatus.OK, CompletionStatus.ERROR
#: The address space of every job here (the first one created), and what it maps.
FLAT = 0
MEMORY = 64 * MiB


@dataclass(frozen=True)
class Result:
    """How a job ended: its fence's errno and the hardware's completion record.

    ``fault`` is the fault record of the job's address space for a ``PAGE_FAULT`` (its address
    is the outcome's ``fault_va``).
    """

    errno: int
    status: CompletionStatus
    error: ErrorCode
    offset: int
    cycles: int
    fault: object = None

    @property
    def ok(self):
        return self.errno == 0 and self.status is OK


class Rig:
    """The SoC and the driver started on it, with the FLAT context every job here runs in.

    Jobs go through the driver's scheduler and complete on the NPU's interrupt; the memory they
    use is the tests' own, at physical addresses (FLAT maps them at the same virtual ones).
    """

    def __init__(self, soc, device, flat):
        self.soc, self.device, self.flat = soc, device, flat
        self.backend, self.memory = device.backend, device.memory
        self.ledger = Ledger(device)  # a case ends with ledger.finish(): nothing left behind

    async def submit(self, addr, size, *, context=None, timeout_ns=TIMEOUT_NS):
        return await (context or self.flat).submit(addr, size, timeout_ns=timeout_ns)

    async def result(self, fence, *, context=None):
        """Wait for ``fence``; its :class:`Result`."""
        context = context or self.flat
        await context.wait(fence)
        out = fence.outcome
        status, error = CompletionStatus(out.hw_status), ErrorCode(out.hw_error)
        fault = None
        if error is ErrorCode.PAGE_FAULT:
            asid = context.space.asid
            fault = next(f for f in reversed(self.backend.mmu.faults) if f.asid == asid)
            assert fault.address == out.fault_va, (fault, out)
        return Result(fence.error, status, error, out.hw_offset, out.cycles, fault)


async def bring_up(dut, *, pool=POOL, flat=True, ring_log2=6, queue_depth=2):
    """A started driver, by default with address space FLAT mapping all of memory; the SoC and
    the :class:`Rig`."""
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    memory = PhysicalAllocator(*pool)
    device = await start_driver(soc, memory, ring_log2=ring_log2, queue_depth=queue_depth)
    context = None
    if flat:
        context = await KernelContext.create(device)
        assert context.space.asid == FLAT
        await context.map(0, 0, MEMORY, Prot.READ | Prot.WRITE)
    return soc, Rig(soc, device, context)


async def start_backend(dut, *, pool=POOL, **options):
    """The NPU backend alone, initialised: no scheduler runs, the test calls the backend as the
    core does (:func:`serve` for its interrupts)."""
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    backend = NpuBackend(soc, PhysicalAllocator(*pool), **options)
    await backend.init()
    return soc, backend


@contextlib.contextmanager
def raises(code, what):
    """``with raises(errno.EBUSY, "what") as caught:`` asserts that the block raises that
    :class:`DeviceError`, which ``caught`` then holds."""
    caught = []
    try:
        yield caught
    except DeviceError as error:
        assert error.errno == code, error
        caught.append(error)
    else:
        raise AssertionError(f"{what} did not fail")


class Events:
    """The driver's tracepoints while in a ``with`` block: :meth:`of` lists one event's fields."""

    def __enter__(self):
        self.events = []
        tracepoints.register(self._probe)
        return self

    def __exit__(self, *exc):
        tracepoints.unregister(self._probe)

    def _probe(self, name, fields):
        self.events.append((name, fields))

    def of(self, name):
        return [fields for event, fields in self.events if event == name]


async def serve(soc, backend, count):
    """Serve the interrupt as the driver's interrupt task does (:meth:`handle_irq` on each)
    until ``count`` completions came; ``(completions, faulted spaces)``."""
    done, faulted = [], []
    while len(done) < count:
        assert await soc.wait_irq(TIMEOUT_NS), f"{len(done)} of {count} completions came"
        completions, spaces = await backend.handle_irq()
        done += completions
        faulted += spaces
    return done, faulted


async def put_stream(soc, memory, *cmds):
    data = commands.stream(*cmds)
    addr = memory.alloc(len(data))
    await soc.mem_write(addr, data)
    return addr, len(data)


async def run(rig, *cmds, timeout_ns=TIMEOUT_NS):
    """Write a stream, run it in FLAT, wait for it; return the :class:`Result`."""
    addr, size = await put_stream(rig.soc, rig.memory, *cmds)
    result = await rig.result(await rig.submit(addr, size, timeout_ns=timeout_ns))
    rig.memory.free(addr)
    return result


def pattern(n, seed):
    return random.Random(seed).randbytes(n)


async def check_good_job(soc, rig, seed=99):
    """A COPY after a failure completes and copies exactly."""
    src, dst, data = 0x4000_0, 0x5000_0, pattern(100, seed)
    await soc.mem_write(src, data)
    await soc.mem_write(dst, bytes(100))
    result = await run(rig, commands.copy(src + 1, dst + 3, 97))
    assert (result.status, result.error) == (OK, ErrorCode.NONE), result
    assert await soc.mem_read(dst, 100) == bytes(3) + data[1:98]


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def nop(dut):
    """A NOP job completes; the firmware's version and status are mirrored to the host."""
    soc, rig = await bring_up(dut)
    assert rig.backend.firmware_version == VERSION
    assert VERSION[0] == FIRMWARE_MAJOR
    assert HOST.fw_status.decode(await soc.mmio_read(HOST.fw_status.offset)) == {"ready": 1}
    result = await run(rig, commands.nop())
    assert (result.errno, result.status, result.error, result.offset) == (0, OK, ErrorCode.NONE, 0)
    record = unpack(Completion, await soc.mem_read(rig.backend.ring.completions, COMPLETION))
    assert (record.seqno, record.cycles) == (1, result.cycles)  # the ring's first seqno is 1
    assert 0 < result.cycles < 1000, result.cycles
    assert await soc.mmio_read(HOST.ring_done.offset) == 1
    assert await soc.mmio_read(HOST.ring_head.offset) == 1
    await rig.ledger.finish()


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def copy_small(dut):
    """Copies of a few bytes at every alignment are exact; the bytes around them untouched."""
    soc, rig = await bring_up(dut)
    src, dst = 0x20_0000 - 0x100, 0x30_0000
    data = pattern(64, 1)
    await soc.mem_write(src, data)
    for length in (1, 2, 3, 5, 7, 8, 13):
        for s_off, d_off in ((0, 0), (1, 6), (7, 3), (5, 5)):
            before = pattern(64, length * 100 + d_off)
            await soc.mem_write(dst, before)
            result = await run(rig, commands.copy(src + s_off, dst + d_off, length))
            assert result.ok, result
            want = before[:d_off] + data[s_off : s_off + length] + before[d_off + length :]
            assert await soc.mem_read(dst, 64) == want, (length, s_off, d_off)
    await rig.ledger.finish()


@cocotb.test(timeout_time=100, timeout_unit="ms")
async def copy_large(dut):
    """A 2 MiB copy between unaligned addresses is bit-exact."""
    soc, rig = await bring_up(dut)
    size = 2 * MiB + 13
    src, dst = 0x0300_0005, 0x0200_0003
    data = pattern(size, 2)
    await soc.mem_write(src, data)
    await soc.mem_write(dst - 3, bytes(size + 6))
    result = await run(rig, commands.copy(src, dst, size), timeout_ns=100_000_000)
    assert result.ok, result
    assert await soc.mem_read(dst - 3, size + 6) == bytes(3) + data + bytes(3)
    dut._log.info(f"{size} bytes copied in {result.cycles} cycles")
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def copy_2d(dut):
    """2-D copies with odd row lengths and pitches move exactly the rows' bytes."""
    soc, rig = await bring_up(dut)
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
        result = await run(rig, cmd)
        assert result.ok, result
        want = bytearray(before)
        for r in range(rows):
            want[do + r * dp : do + r * dp + row_bytes] = source[
                so + r * sp : so + r * sp + row_bytes
            ]
        assert await soc.mem_read(dst, span) == bytes(want), (row_bytes, rows, sp, dp)
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def fill_and_write_value(dut):
    """FILL repeats its pattern over 2-D rows; WRITE_VALUE stores 64 bits after the fill."""
    soc, rig = await bring_up(dut)
    dst, span = 0x0100_0000, 0x1000
    before = pattern(span, 4)
    await soc.mem_write(dst, before)
    fence = dst + 0x800
    result = await run(
        rig,
        commands.fill(dst + 3, 10, 0x44332211, rows=3, dst_pitch=16),
        commands.write_value(fence, 0x0123_4567_89AB_CDEF),
    )
    assert result.ok, result
    want = bytearray(before)
    for r in range(3):
        want[3 + 16 * r : 13 + 16 * r] = bytes.fromhex("11223344112233441122")
    want[0x800:0x808] = (0x0123_4567_89AB_CDEF).to_bytes(8, "little")
    assert await soc.mem_read(dst, span) == bytes(want)
    await rig.ledger.finish()


@cocotb.test(timeout_time=50, timeout_unit="ms")
async def thousand_jobs(dut):
    """1,000 jobs through a 16-entry ring kept full: in order, right sequence numbers, every
    fence lands."""
    soc, rig = await bring_up(dut, ring_log2=4, queue_depth=16)
    fences = 0x0100_0000
    await soc.mem_write(fences, bytes(8 * 1000))
    streams = []
    for i in range(1000):
        addr, size = await put_stream(soc, rig.memory, commands.write_value(fences + 8 * i, i + 1))
        streams.append((addr, size))
    with Events() as events:
        jobs = [await rig.submit(addr, size) for addr, size in streams]
        results = [await rig.result(fence) for fence in jobs]
    assert [event["hw"] for event in events.of("job_run")] == list(range(1, 1001))
    assert [event["seqno"] for event in events.of("completion")] == list(range(1, 1001))
    assert all(result.ok for result in results)
    raw = await soc.mem_read(fences, 8 * 1000)
    assert [int.from_bytes(raw[8 * i : 8 * i + 8], "little") for i in range(1000)] == list(
        range(1, 1001)
    )
    assert await soc.mmio_read(HOST.ring_done.offset) == 1000
    assert rig.backend.ring.done == rig.backend.ring.tail == 1000
    await rig.ledger.finish(kept=len(streams) * PAGE_SIZE)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def full_ring(dut):
    """With every slot taken, run_job reports EBUSY and overwrites nothing; the jobs then run."""
    soc, backend = await start_backend(dut, ring_log2=2)
    space = await backend.create_space()
    await backend.map(space, 0, 0, MEMORY, Prot.READ | Prot.WRITE)
    await soc.cp.stop()
    assert HOST.fw_status.decode(await soc.mmio_read(HOST.fw_status.offset)) == {"ready": 0}
    fences = 0x0100_0000
    await soc.mem_write(fences, bytes(8 * 5))
    streams = [
        await put_stream(soc, backend.memory, commands.write_value(fences + 8 * i, 0xF0 + i))
        for i in range(5)
    ]
    handles = [await backend.run_job(space, *streams[i]) for i in range(4)]
    assert handles == [1, 2, 3, 4]
    ring = await soc.mem_read(backend.ring.entries, 4 * nbytes(RingEntry))
    with raises(errno.EBUSY, "run_job on a full ring"):
        await backend.run_job(space, *streams[4])
    assert await soc.mem_read(backend.ring.entries, 4 * nbytes(RingEntry)) == ring
    assert await soc.mmio_read(HOST.ring_tail.offset) == 4
    soc.cp.start()
    done, faulted = await serve(soc, backend, 4)
    assert [handle for handle, _ in done] == handles and not faulted
    assert all(outcome.error == 0 and not outcome.retry for _, outcome in done), done
    last = await backend.run_job(space, *streams[4])
    ((handle, outcome),), _ = await serve(soc, backend, 1)
    assert (handle, outcome.error, outcome.hw_status) == (last, 0, OK.value)
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


@cocotb.test(timeout_time=2, timeout_unit="ms")
async def malformed_commands(dut):
    """Each malformed command gets its error code and offset; nothing before it is undone and
    the next job runs normally."""
    soc, rig = await bring_up(dut)
    for name, stream, error, offset in malformed_streams():
        result = await run(rig, stream)
        assert (result.errno, result.status, result.error, result.offset) == (
            errno.EINVAL,
            ERROR,
            error,
            offset,
        ), (name, result)
        await check_good_job(soc, rig, seed=len(name))
    # A command before the bad one has run: its fence is in memory.
    fence = 0x0100_0000
    await soc.mem_write(fence, bytes(8))
    result = await run(rig, commands.write_value(fence, 0xABCD), header(0x42, 8))
    assert (result.error, result.offset) == (ErrorCode.BAD_OPCODE, 24)
    assert await soc.mem_read(fence, 8) == (0xABCD).to_bytes(8, "little")
    await rig.ledger.finish()


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def bad_entries(dut):
    """Malformed ring entries complete with BAD_ENTRY and run nothing; the driver, which writes
    no malformed entry itself, ends such a job with EIO (the hardware's fault, not the job's)."""
    soc, rig = await bring_up(dut)
    fence = 0x0100_0000
    addr, size = await put_stream(soc, rig.memory, commands.write_value(fence, 7))
    cases = [
        ("empty stream", addr, 0),
        ("size not a multiple of 8", addr, 12),
        ("misaligned stream", addr + 4, 24),
        ("stream larger than the SRAM", addr, 1 << 16),
    ]
    for name, cmd_addr, cmd_size in cases:
        await soc.mem_write(fence, bytes(8))
        result = await rig.result(await rig.submit(cmd_addr, cmd_size))
        assert (result.errno, result.status, result.error, result.offset) == (
            errno.EIO,
            ERROR,
            ErrorCode.BAD_ENTRY,
            0,
        ), (name, result)
        assert await soc.mem_read(fence, 8) == bytes(8), name
    # An entry naming the first address space the MMU does not have.
    missing = rig.backend.info.addr_spaces
    ghost = KernelContext(rig.device, AddressSpace(missing, table=None))
    result = await rig.result(await rig.submit(addr, size, context=ghost), context=ghost)
    assert (result.status, result.error) == (ERROR, ErrorCode.BAD_ENTRY), result
    assert await soc.mem_read(fence, 8) == bytes(8)
    assert (await rig.result(await rig.submit(addr, size))).ok
    assert await soc.mem_read(fence, 8) == (7).to_bytes(8, "little")
    await rig.ledger.finish(kept=PAGE_SIZE)  # the stream


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def bus_errors(dut):
    """SLVERR on a read, on a write and on the stream fetch ends the job with BUS_ERROR."""
    soc, rig = await bring_up(dut)
    src, dst = 0x0100_0000, 0x0180_0000
    await soc.mem_write(src, pattern(0x4000, 5))
    copy = commands.copy(src, dst, 0x4000)
    lead = commands.nop()

    soc.memory.inject_error(src + 0x2000, 1, write=False)
    result = await run(rig, lead, copy)
    assert (result.errno, result.status, result.error, result.offset) == (
        errno.EIO,
        ERROR,
        ErrorCode.BUS_ERROR,
        8,
    )
    soc.memory.clear_errors()
    await check_good_job(soc, rig, seed=1)

    soc.memory.inject_error(dst + 0x3FFF, 1, write=True)
    result = await run(rig, copy, lead)
    assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BUS_ERROR, 0)
    soc.memory.clear_errors()
    await check_good_job(soc, rig, seed=2)

    addr, size = await put_stream(soc, rig.memory, lead, lead)
    soc.memory.inject_error(addr, 8, write=False)
    result = await rig.result(await rig.submit(addr, size))
    assert (result.status, result.error, result.offset) == (ERROR, ErrorCode.BUS_ERROR, 0)
    soc.memory.clear_errors()
    await check_good_job(soc, rig, seed=3)
    assert soc.memory.faults_answered >= 3
    await rig.ledger.finish(kept=PAGE_SIZE)  # the stream of two NOPs


@cocotb.test(timeout_time=5, timeout_unit="ms")
async def ring_fetch_error(dut):
    """A bus error fetching the ring stops the queue (queue_error) at the entry: the driver
    resets at once, the job, which never ran, ends with EIO; no other job is lost."""
    soc, rig = await bring_up(dut)
    addr, size = await put_stream(soc, rig.memory, commands.nop())
    soc.memory.inject_error(
        rig.backend.ring.entries + nbytes(RingEntry), nbytes(RingEntry), write=False
    )
    first = await rig.result(await rig.submit(addr, size))
    assert first.ok, first
    start = soc.now_ns()
    second = await rig.submit(addr, size, timeout_ns=200_000)
    await rig.flat.wait(second)
    assert second.error == errno.EIO
    assert soc.now_ns() - start < 200_000  # found by the interrupt, not by the timeout
    assert rig.device.sched.resets == 1 and rig.backend.queue_error is QueueError.NONE
    assert HOST.ring_status.decode(await soc.mmio_read(HOST.ring_status.offset))["error"] == 0
    soc.memory.clear_errors()
    await check_good_job(soc, rig)
    await rig.ledger.finish(kept=PAGE_SIZE)  # the NOP stream


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def firmware_crash(dut):
    """A crashed firmware times the job out; the reset reboots it and loses only that job."""
    soc, rig = await bring_up(dut)
    first = await run(rig, commands.nop())
    assert first.ok
    soc.cp.crash()
    addr, size = await put_stream(soc, rig.memory, commands.nop())
    start = soc.now_ns()
    hung = await rig.flat.wait(await rig.submit(addr, size, timeout_ns=50_000))
    assert hung.error == errno.ETIMEDOUT
    assert 50_000 <= soc.now_ns() - start < 1_000_000  # the timeout, the reset and the boot
    assert rig.device.sched.resets == 1
    assert HOST.fw_status.decode(await soc.mmio_read(HOST.fw_status.offset)) == {"ready": 1}
    await check_good_job(soc, rig)
    await rig.ledger.finish(kept=PAGE_SIZE)  # the hung NOP stream


class FutureFirmware(Firmware):
    """A firmware of a major version this driver does not speak."""

    version = (FIRMWARE_MAJOR + 1, 0, 0)


@cocotb.test(timeout_time=1, timeout_unit="ms")
async def bring_up_failures(dut):
    """No firmware: init times out. A firmware of another major version: ENODEV."""
    soc = Soc(dut)
    await soc.start()
    backend = NpuBackend(soc, PhysicalAllocator(*POOL), boot_timeout_ns=20_000)
    start = soc.now_ns()
    with raises(errno.ETIMEDOUT, "init without firmware"):
        await backend.init()
    assert 20_000 <= soc.now_ns() - start < 25_000

    soc = Soc(dut, firmware=FutureFirmware)
    await soc.start()
    backend = NpuBackend(soc, PhysicalAllocator(*POOL))
    with raises(errno.ENODEV, "init with a firmware of another major version") as refused:
        await backend.init()
    assert f"Unsupported firmware {FIRMWARE_MAJOR + 1}.0.0" in str(refused[0])
