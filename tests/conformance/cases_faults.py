"""Conformance: injected hardware faults (``system.faults``) and the driver's policy for each.

Every case has a victim and a bystander, each a client with its own context. The bystander runs
a COPY before the fault and one after it, both exact; the victim's faulty job ends with the
errno the policy gives (``docs/driver.md``), the reset counts are what the policy says, and the
victim's next job runs exactly: the device is usable again.
"""

import errno

from conformance_suite import DATA_VA, PAGE, STREAM_VA, Stage, case, expect, run_job
from tinynpu.rtl.axi import Resp
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.layouts import Completion, ErrorCode, OutputType, RingEntry, nbytes
from tinynpu.runtime import commands

#: A WAIT reply of a job that ran to its end.
OK = {"job_errno": 0, "hw_error": 0, "hw_offset": 0, "fault_va": 0}
BUS_ERROR = ErrorCode.BUS_ERROR.value
#: Bytes each bystander and victim check-job copies.
COPY_BYTES = 64
#: The short timeout of jobs meant to time out (the default is 2 ms).
SHORT_TIMEOUT_NS = 200_000
#: A bus delay past SHORT_TIMEOUT_NS: 1 ms at the 10 ns clock.
LONG_DELAY_CYCLES = 100_000
#: A bus delay well within the default timeout (0.5 ms at the 10 ns clock); the job takes at
#: least this many ns (a cycle lasts at least 1 ns).
SHORT_DELAY_CYCLES = 50_000
#: Where a victim maps an extra buffer (mapped nowhere else).
EXTRA_VA = 0x40_0000
#: Bytes per beat of the NPU's memory port, and beats of one ring entry and one record.
BEAT = NpuConfig().mem_data_width // 8
ENTRY_BEATS = nbytes(RingEntry) // BEAT
RECORD_BEATS = nbytes(Completion) // BEAT
#: Spurious interrupts of a storm (past the driver's 32 in a row), 200 ns apart.
STORM = 1000


def _pattern(seed, length=COPY_BYTES):
    return bytes((seed * 37 + 11 * i) % 256 for i in range(length))


def _words(pattern, length):
    return (pattern.to_bytes(4, "little") * (length // 4 + 1))[:length]


async def _status(stage):
    """The reset counts of the stage's context (the 1.0 fields)."""
    status = await stage.client.reset_status(stage.context)
    return {k: status[k] for k in ("resets", "hangs", "canceled", "banned")}


def _counts(resets=0, hangs=0, canceled=0):
    return {"resets": resets, "hangs": hangs, "canceled": canceled, "banned": 0}


class Bystander:
    """Another client's context, which a fault must leave untouched: each :meth:`copy` runs a
    COPY job of a fresh pattern to a fresh place and checks its reply and bytes exactly."""

    def __init__(self, stage):
        self.stage, self.rounds = stage, 0

    @classmethod
    async def create(cls, system):
        return cls(await Stage.create(system.open()))

    async def submit_copy(self):
        """Write a fresh pattern, submit its COPY; the job's seqno and what it must copy."""
        self.rounds += 1
        pattern, dst = _pattern(100 + self.rounds), 1024 * self.rounds
        await self.stage.write(0, pattern)
        seqno = await self.stage.submit(commands.copy(DATA_VA, DATA_VA + dst, COPY_BYTES))
        return seqno, dst, pattern

    async def check_copy(self, system, job, expected=OK):
        """Wait for a :meth:`submit_copy` job: its reply is ``expected``, its bytes exact if it
        ran (untouched if not)."""
        seqno, dst, pattern = job
        reply = await self.stage.wait(seqno, system)
        assert reply == expected, reply
        copied = await self.stage.read(dst, COPY_BYTES)
        assert copied == (pattern if expected == OK else bytes(COPY_BYTES)), copied.hex()

    async def copy(self, system):
        """Run one COPY job; it ends exactly."""
        await self.check_copy(system, await self.submit_copy())


async def _start(system, size=4 * PAGE):
    """A victim stage and a bystander whose first COPY has run."""
    victim = await Stage.create(system.open(), size)
    bystander = await Bystander.create(system)
    await bystander.copy(system)
    return victim, bystander


async def _victim_works(victim, system):
    """The victim's context runs a COPY exactly, from its data's first page."""
    pattern = _pattern(7)
    await victim.write(128, pattern)
    reply = await run_job(
        victim, system, commands.copy(DATA_VA + 128, DATA_VA + 3 * PAGE, COPY_BYTES)
    )
    assert reply == OK, reply
    assert await victim.read(3 * PAGE, COPY_BYTES) == pattern


async def _finish(system, victim, bystander, *, resets=0, hangs=0, canceled=0):
    """After the fault: the bystander and the victim run exactly; the reset counts are these
    (the bystander's context saw the same resets and none of its jobs hung)."""
    await bystander.copy(system)
    await _victim_works(victim, system)
    assert await _status(victim) == _counts(resets, hangs)
    assert await _status(bystander.stage) == _counts(resets, 0, canceled)
    system.faults.clear()


async def _copy_job(victim, system, **kwargs):
    """A NOP, then a COPY of the victim's first 64 data bytes to its second page (offset 8)."""
    await victim.write(0, _pattern(3))
    cmds = commands.nop(), commands.copy(DATA_VA, DATA_VA + PAGE, COPY_BYTES)
    return await run_job(victim, system, *cmds, **kwargs)


def _data(system, victim, offset=0):
    """The physical address of the victim's data byte ``offset``."""
    return system.faults.buffer_address(victim.client, victim.data, offset)


def _bus_error_at(offset):
    return {"job_errno": errno.EIO, "hw_error": BUS_ERROR, "hw_offset": offset, "fault_va": 0}


async def _bus_error_case(system, manager, resp, offset, cmds, data_offset=0):
    """``cmds`` (with the refused beat at the victim's data byte ``data_offset``) end EIO,
    BUS_ERROR at the command at ``offset``, without a reset."""
    victim, bystander = await _start(system)
    system.faults.bus(manager, resp=resp, address=_data(system, victim, data_offset))
    reply = await run_job(victim, system, *cmds)
    assert reply == _bus_error_at(offset), reply
    await _finish(system, victim, bystander)


# --- the ring fetcher -----------------------------------------------------------------------


async def _fetch_case(system, resp, skip):
    """The victim's jobs: ``skip // ENTRY_BEATS`` run, the next one's fetch is refused (EIO,
    reset); a bystander job behind it, never fetched, runs after the reset."""
    victim, bystander = await _start(system)
    system.faults.bus("fetch", resp=resp, skip=skip)
    for _ in range(skip // ENTRY_BEATS):
        reply = await run_job(victim, system, commands.write_value(DATA_VA + 2 * PAGE, 0x55))
        assert reply == OK, reply
    failed = await victim.submit(commands.write_value(DATA_VA, 0x1234))
    behind = await bystander.submit_copy()
    assert (await victim.wait(failed, system))["job_errno"] == errno.EIO
    await bystander.check_copy(system, behind)
    assert await victim.read(0, 8) == bytes(8)  # its entry never reached the firmware
    await _finish(system, victim, bystander, resets=1)


@case
async def fault_fetch_slverr_resets_and_runs_the_jobs_behind(system):
    await _fetch_case(system, Resp.SLVERR, 0)


@case
async def fault_fetch_decerr_resets_and_runs_the_jobs_behind(system):
    await _fetch_case(system, Resp.DECERR, 0)


@case
async def fault_fetch_nth_beat_hits_the_third_entry(system):
    # The first two entries' beats pass; the last beat of the third entry is refused.
    await _fetch_case(system, Resp.SLVERR, 3 * ENTRY_BEATS - 1)


# --- the DMA engine's reads -----------------------------------------------------------------


@case
async def fault_dma_read_stream_fetch_slverr(system):
    victim, bystander = await _start(system)
    stream = system.faults.buffer_address(victim.client, victim.stream, 512)
    system.faults.bus("dma_read", resp=Resp.SLVERR, address=stream + 8)
    reply = await run_job(victim, system, commands.nop(), commands.nop(), offset=512)
    assert reply == _bus_error_at(0), reply  # a stream-fetch error has offset 0
    await _finish(system, victim, bystander)


@case
async def fault_dma_read_stream_fetch_decerr(system):
    victim, bystander = await _start(system)
    stream = system.faults.buffer_address(victim.client, victim.stream, 0)
    system.faults.bus("dma_read", resp=Resp.DECERR, address=stream)
    reply = await run_job(victim, system, commands.write_value(DATA_VA, 9), offset=0)
    assert reply == _bus_error_at(0), reply
    assert await victim.read(0, 8) == bytes(8)  # nothing of the stream ran
    await _finish(system, victim, bystander)


@case
async def fault_dma_read_copy_source_slverr(system):
    victim, bystander = await _start(system)
    system.faults.bus("dma_read", resp=Resp.SLVERR, address=_data(system, victim, 0))
    assert await _copy_job(victim, system) == _bus_error_at(8)
    await _finish(system, victim, bystander)


@case
async def fault_dma_read_copy_source_decerr(system):
    victim, bystander = await _start(system)
    system.faults.bus("dma_read", resp=Resp.DECERR, address=_data(system, victim, 40))
    assert await _copy_job(victim, system) == _bus_error_at(8)
    await _finish(system, victim, bystander)


@case
async def fault_dma_read_nth_beat_hits_the_second_copy(system):
    # A 64-byte aligned COPY reads 64 / BEAT beats: the first job's all pass, the second's
    # fourth beat is refused.
    victim, bystander = await _start(system)
    skip = COPY_BYTES // BEAT + 3
    address = _data(system, victim, 0)
    system.faults.bus("dma_read", resp=Resp.SLVERR, address=address, length=COPY_BYTES, skip=skip)
    await victim.write(0, _pattern(5))
    reply = await run_job(victim, system, commands.copy(DATA_VA, DATA_VA + PAGE, COPY_BYTES))
    assert reply == OK, reply
    assert await victim.read(PAGE, COPY_BYTES) == _pattern(5)
    assert await _copy_job(victim, system) == _bus_error_at(8)
    await _finish(system, victim, bystander)


def _gemm_operands():
    """A 4x4x4 GEMM's A at data 0, B at 256, C at 512, its parameters at 1024."""
    return commands.gemm(
        DATA_VA,
        DATA_VA + 256,
        DATA_VA + 512,
        DATA_VA + 1024,
        4,
        4,
        4,
        output_type=OutputType.INT32,
    )


async def _gemm_case(system, manager, resp, data_offset):
    victim, bystander = await _start(system)
    await victim.write(1024, commands.channel_params([1] * 4, [1 << 30] * 4, [0] * 4))
    system.faults.bus(manager, resp=resp, address=_data(system, victim, data_offset))
    reply = await run_job(victim, system, commands.nop(), _gemm_operands())
    assert reply == _bus_error_at(8), reply
    await _finish(system, victim, bystander)


@case
async def fault_dma_read_gemm_operand_decerr(system):
    await _gemm_case(system, "dma_read", Resp.DECERR, 256 + 8)  # B's second row


@case
async def fault_dma_read_gemm_params_slverr(system):
    await _gemm_case(system, "dma_read", Resp.SLVERR, 1024)


@case
async def fault_dma_write_gemm_result_slverr(system):
    await _gemm_case(system, "dma_write", Resp.SLVERR, 512)


@case
async def fault_dma_read_conv2d_input_slverr(system):
    # A 1x4x4x2 input, 3x3 kernels to 2 channels: input at data 0, weights at 256, output at
    # 512, parameters at 1024.
    victim, bystander = await _start(system)
    await victim.write(1024, commands.channel_params([0] * 2, [1 << 30] * 2, [0] * 2))
    system.faults.bus("dma_read", resp=Resp.SLVERR, address=_data(system, victim, 16))
    conv = commands.conv2d(
        DATA_VA,
        DATA_VA + 256,
        DATA_VA + 512,
        DATA_VA + 1024,
        shape=(1, 4, 4, 2),
        out_c=2,
        kernel=(3, 3),
        out_hw=(2, 2),
    )
    reply = await run_job(victim, system, commands.nop(), commands.nop(), conv)
    assert reply == _bus_error_at(16), reply
    await _finish(system, victim, bystander)


# --- the DMA engine's writes ----------------------------------------------------------------


@case
async def fault_dma_write_copy_destination_slverr(system):
    victim, bystander = await _start(system)
    system.faults.bus("dma_write", resp=Resp.SLVERR, address=_data(system, victim, PAGE + 16))
    assert await _copy_job(victim, system) == _bus_error_at(8)
    await _finish(system, victim, bystander)


@case
async def fault_dma_write_fill_decerr(system):
    cmds = commands.nop(), commands.fill(DATA_VA + 256, 256, 0x0BADF00D)
    await _bus_error_case(system, "dma_write", Resp.DECERR, 8, cmds, data_offset=256 + 128)


@case
async def fault_dma_write_write_value_slverr(system):
    cmds = commands.nop(), commands.nop(), commands.write_value(DATA_VA + 64, 0xFEED)
    await _bus_error_case(system, "dma_write", Resp.SLVERR, 16, cmds, data_offset=64)


@case
async def fault_dma_write_nth_beat_hits_the_second_fill(system):
    victim, bystander = await _start(system)
    address, beats = _data(system, victim, 0), COPY_BYTES // BEAT
    system.faults.bus(
        "dma_write", resp=Resp.DECERR, address=address, length=COPY_BYTES, skip=beats + 1
    )
    fill = commands.fill(DATA_VA, COPY_BYTES, 0x01020304)
    assert await run_job(victim, system, fill) == OK
    assert await victim.read(0, COPY_BYTES) == _words(0x01020304, COPY_BYTES)
    reply = await run_job(victim, system, commands.nop(), commands.fill(DATA_VA, COPY_BYTES, 5))
    assert reply == _bus_error_at(8), reply
    await _finish(system, victim, bystander)


@case
async def fault_dma_write_anywhere_reaches_the_completion_record(system):
    # Unrestricted, the DMA engine's writes include the completion record: the FILL's beats
    # pass, the record's first beat is refused. The FILL has run; its record is lost.
    victim, bystander = await _start(system)
    system.faults.bus("dma_write", resp=Resp.SLVERR, skip=COPY_BYTES // BEAT)
    reply = await run_job(victim, system, commands.fill(DATA_VA, COPY_BYTES, 0xA5A5A5A5))
    assert reply["job_errno"] == errno.EIO, reply
    assert await victim.read(0, COPY_BYTES) == _words(0xA5A5A5A5, COPY_BYTES)
    await _finish(system, victim, bystander)


# --- the completion ring --------------------------------------------------------------------


async def _completion_case(system, resp, skip):
    """The victim's completion records: ``skip // RECORD_BEATS`` are written, the next one's
    beat is refused: its job, which ran, ends EIO (its record is lost); no reset."""
    victim, bystander = await _start(system)
    system.faults.bus("completion", resp=resp, skip=skip)
    for i in range(skip // RECORD_BEATS):
        reply = await run_job(victim, system, commands.write_value(DATA_VA + 8 * i, i + 1))
        assert reply == OK, reply
    reply = await run_job(victim, system, commands.write_value(DATA_VA + 2 * PAGE, 0xC0FFEE))
    assert reply["job_errno"] == errno.EIO, reply  # its record is lost; the job itself ran
    assert await victim.read(2 * PAGE, 8) == (0xC0FFEE).to_bytes(8, "little")
    await _finish(system, victim, bystander)


@case
async def fault_completion_write_slverr(system):
    await _completion_case(system, Resp.SLVERR, 0)


@case
async def fault_completion_write_decerr(system):
    await _completion_case(system, Resp.DECERR, 0)


@case
async def fault_completion_nth_beat_hits_the_second_record(system):
    # The first beat of the second record, its seqno's: a refused later beat leaves seqno,
    # status and error written, a record the driver rightly believes.
    await _completion_case(system, Resp.SLVERR, RECORD_BEATS)


# --- the page-table walker ------------------------------------------------------------------


@case
async def fault_walker_slverr_on_the_stream_fetch(system):
    # The victim's context has translated nothing yet: its first walk is its stream's.
    victim, bystander = await _start(system)
    system.faults.bus("walker", resp=Resp.SLVERR)
    reply = await run_job(victim, system, commands.write_value(DATA_VA, 1), offset=0)
    assert (reply["job_errno"], reply["fault_va"]) == (errno.EIO, STREAM_VA), reply
    assert await victim.read(0, 8) == bytes(8)
    await _finish(system, victim, bystander)


@case
async def fault_walker_decerr_on_a_data_descriptor(system):
    victim, bystander = await _start(system)
    leaf = system.faults.pte_address(victim.client, victim.context, DATA_VA)
    system.faults.bus("walker", resp=Resp.DECERR, address=leaf)
    reply = await _copy_job(victim, system)
    assert (reply["job_errno"], reply["fault_va"]) == (errno.EIO, DATA_VA), reply
    await _finish(system, victim, bystander)


# --- added latency --------------------------------------------------------------------------


async def _delay_case(system, manager, data_offset=None):
    """A delay of SHORT_DELAY_CYCLES on the victim's job (at its data byte ``data_offset``, or
    on the manager's next burst): it ends exactly, that much later; nothing is reset."""
    victim, bystander = await _start(system)
    address = None if data_offset is None else _data(system, victim, data_offset)
    system.faults.delay(manager, SHORT_DELAY_CYCLES, address=address)
    start = system.now_ns()
    reply = await _copy_job(victim, system)
    assert reply == OK, reply
    assert system.now_ns() - start >= SHORT_DELAY_CYCLES
    assert await victim.read(PAGE, COPY_BYTES) == _pattern(3)
    await _finish(system, victim, bystander)


@case
async def fault_delay_dma_read_within_timeout(system):
    await _delay_case(system, "dma_read", 0)


@case
async def fault_delay_dma_write_within_timeout(system):
    await _delay_case(system, "dma_write", PAGE)


@case
async def fault_delay_fetch_within_timeout(system):
    await _delay_case(system, "fetch")


@case
async def fault_delay_walker_within_timeout(system):
    await _delay_case(system, "walker")


@case
async def fault_delay_completion_within_timeout(system):
    await _delay_case(system, "completion")


@case
async def fault_delay_beyond_timeout_resets_and_cancels_the_job_behind(system):
    victim, bystander = await _start(system)
    system.faults.delay("dma_read", LONG_DELAY_CYCLES, address=_data(system, victim, 0))
    await victim.write(0, _pattern(3))
    hung = await victim.submit(
        commands.copy(DATA_VA, DATA_VA + PAGE, COPY_BYTES), timeout_ns=SHORT_TIMEOUT_NS
    )
    behind = await bystander.submit_copy()  # on the hardware behind the hung job
    reply = await victim.wait(hung, system)
    assert reply["job_errno"] == errno.ETIMEDOUT, reply
    await bystander.check_copy(system, behind, {**OK, "job_errno": errno.ECANCELED})
    await _finish(system, victim, bystander, resets=1, hangs=1, canceled=1)


@case
async def fault_delay_completion_beyond_timeout(system):
    victim, bystander = await _start(system)
    system.faults.delay("completion", LONG_DELAY_CYCLES)
    reply = await _copy_job(victim, system, timeout_ns=SHORT_TIMEOUT_NS)
    assert reply["job_errno"] == errno.ETIMEDOUT, reply
    await _finish(system, victim, bystander, resets=1, hangs=1)


# --- the interrupt line ---------------------------------------------------------------------


async def _irq_case(system, inject, *, at_least_ns=0, jobs=1):
    """The victim's ``jobs`` jobs, under the interrupt fault ``inject`` armed before them, end
    exactly, and no sooner than ``at_least_ns`` after they were submitted; nothing is reset."""
    victim, bystander = await _start(system)
    inject(system.faults)
    start = system.now_ns()
    for i in range(jobs):
        value = 0x1111 * (i + 1)
        cmd = commands.write_value(DATA_VA + 8 * i, value)
        reply = await run_job(victim, system, cmd, timeout_ns=SHORT_TIMEOUT_NS)
        assert reply == OK, (i, reply)
        assert await victim.read(8 * i, 8) == value.to_bytes(8, "little")
    assert system.now_ns() - start >= at_least_ns
    await _finish(system, victim, bystander)


@case
async def fault_irq_dropped_found_at_the_timeout(system):
    await _irq_case(system, lambda faults: faults.drop_irq(), at_least_ns=SHORT_TIMEOUT_NS)


@case
async def fault_irq_delayed(system):
    await _irq_case(system, lambda faults: faults.delay_irq(100_000), at_least_ns=100_000)


@case
async def fault_irq_duplicated(system):
    await _irq_case(system, lambda faults: faults.duplicate_irq(2), jobs=3)


@case
async def fault_irq_spurious(system):
    await _irq_case(system, lambda faults: faults.spurious_irq(3), jobs=2)


@case
async def fault_irq_storm(system):
    await _irq_case(system, lambda faults: faults.spurious_irq(STORM, interval_ns=200), jobs=3)


# --- firmware crashes -----------------------------------------------------------------------


async def _crash_case(system, point, *, skip=0, boot_too=False):
    """The firmware dies at ``point`` in the victim's job after ``skip`` others: it times out,
    the device is reset (and with ``boot_too`` its first boot fails too)."""
    victim, bystander = await _start(system)
    system.faults.crash_firmware(point, skip=skip)
    if boot_too:
        system.faults.crash_firmware("boot")
    for i in range(skip):
        reply = await run_job(victim, system, commands.write_value(DATA_VA + 8 * i, i + 1))
        assert reply == OK, reply
    reply = await _copy_job(victim, system, timeout_ns=SHORT_TIMEOUT_NS)
    assert reply["job_errno"] == errno.ETIMEDOUT, reply
    await _finish(system, victim, bystander, resets=1, hangs=1)


@case
async def fault_crash_at_entry_pop(system):
    await _crash_case(system, "entry_pop")


@case
async def fault_crash_at_dma_start(system):
    await _crash_case(system, "dma_start")


@case
async def fault_crash_at_job_end(system):
    await _crash_case(system, "job_end")


@case
async def fault_crash_at_the_third_entry_pop(system):
    await _crash_case(system, "entry_pop", skip=2)


@case
async def fault_crash_at_boot_after_a_reset_retries_it(system):
    # One reset, which takes two attempts: the first reboot never reports ready.
    await _crash_case(system, "entry_pop", boot_too=True)


# --- TLB invalidations that never complete ----------------------------------------------------


async def _extra_mapping(stage, system):
    """Map a buffer at EXTRA_VA of the stage's context and run a job reading it (its
    translation is then in the TLB); the buffer's handle."""
    extra = await stage.client.bo_create(PAGE)
    await stage.client.vm_map(stage.context, extra, EXTRA_VA, PAGE)
    handles = stage.stream, stage.data, extra
    reply = await run_job(stage, system, commands.copy(EXTRA_VA, DATA_VA, 64), handles=handles)
    assert reply == OK, reply
    return extra


@case
async def fault_tlb_invalidation_stalls_on_unmap(system):
    victim, bystander = await _start(system)
    await _extra_mapping(victim, system)
    system.faults.stall_tlb_invalidation()
    await victim.client.vm_unmap(victim.context, EXTRA_VA, PAGE)
    reply = await run_job(victim, system, commands.copy(EXTRA_VA, DATA_VA, 64))
    assert (reply["job_errno"], reply["fault_va"]) == (errno.EFAULT, EXTRA_VA), reply
    with expect(errno.ENOENT):
        await victim.client.vm_unmap(victim.context, EXTRA_VA, PAGE)
    await _finish(system, victim, bystander, resets=1)


@case
async def fault_tlb_invalidation_stalls_on_context_destroy(system):
    victim, bystander = await _start(system)
    doomed = await Stage.create(victim.client)
    await _extra_mapping(doomed, system)
    system.faults.stall_tlb_invalidation()
    await victim.client.context_destroy(doomed.context)
    # A new context (perhaps on the same address space) sees nothing of the old mapping.
    fresh = await Stage.create(victim.client)
    reply = await run_job(fresh, system, commands.copy(EXTRA_VA, DATA_VA, 64))
    assert (reply["job_errno"], reply["fault_va"]) == (errno.EFAULT, EXTRA_VA), reply
    assert await fresh.read(0, 64) == bytes(64)
    await _victim_works(fresh, system)
    await _finish(system, victim, bystander, resets=1)


# --- bit flips --------------------------------------------------------------------------------


async def _pte_case(system, field, in_flight):
    """A flipped descriptor of the victim's first data page: its job ends EIO at that page; the
    driver's tables, repaired, serve the next job."""
    victim, bystander = await _start(system)
    system.faults.flip_pte(victim.client, victim.context, DATA_VA, field, in_flight=in_flight)
    reply = await _copy_job(victim, system)
    assert (reply["job_errno"], reply["fault_va"]) == (errno.EIO, DATA_VA), reply
    assert await victim.read(PAGE, COPY_BYTES) == bytes(COPY_BYTES)
    await _finish(system, victim, bystander)


@case
async def fault_pte_flip_valid_stored(system):
    await _pte_case(system, "valid", False)


@case
async def fault_pte_flip_af_stored(system):
    await _pte_case(system, "af", False)


@case
async def fault_pte_flip_address_high_stored(system):
    await _pte_case(system, "address_high", False)


@case
async def fault_pte_flip_valid_in_flight(system):
    await _pte_case(system, "valid", True)


@case
async def fault_pte_flip_af_in_flight(system):
    await _pte_case(system, "af", True)


@case
async def fault_pte_flip_address_high_in_flight(system):
    await _pte_case(system, "address_high", True)


async def _record_case(system, flip, hw_error=None):
    """``flip`` armed, the victim's job ends EIO (with ``hw_error`` if given); no reset."""
    victim, bystander = await _start(system)
    flip(system.faults)
    reply = await run_job(victim, system, commands.write_value(DATA_VA, 0xF11F))
    assert reply["job_errno"] == errno.EIO, reply
    if hw_error is not None:
        assert reply["hw_error"] == hw_error.value, reply
        assert await victim.read(0, 8) == bytes(8)  # a malformed entry runs nothing
    await _finish(system, victim, bystander)


@case
async def fault_entry_flip_flags(system):
    await _record_case(system, lambda f: f.flip_entry("flags"), ErrorCode.BAD_ENTRY)


@case
async def fault_entry_flip_reserved0(system):
    await _record_case(system, lambda f: f.flip_entry("reserved0"), ErrorCode.BAD_ENTRY)


@case
async def fault_entry_flip_seqno(system):
    await _record_case(system, lambda f: f.flip_entry("seqno"))


@case
async def fault_completion_flip_seqno(system):
    await _record_case(system, lambda f: f.flip_completion("seqno"))


@case
async def fault_completion_flip_status(system):
    await _record_case(system, lambda f: f.flip_completion("status"))


@case
async def fault_completion_flip_error(system):
    await _record_case(system, lambda f: f.flip_completion("error"))
