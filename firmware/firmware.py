"""The control processor's firmware: boot, then serve the command ring, one job at a time.

One job::

    wait for an entry -> read it and pop it -> check it -> DMA the command stream into the SRAM
    -> for each command: read it from the SRAM, check it, execute it (DMA) -> write the
    completion record (SRAM, then DMA to the completion ring) -> end the job (job_end)

Everything goes through the CP register window (:class:`~tinynpu.firmware.bus.CpBus`); all memory
traffic goes through the DMA engine. The job's memory (its command stream and every command's
addresses) is virtual, in the entry's address space: the DMA engine translates it through the MMU.
Only the completion ring is physical. A job that breaks a rule, or whose DMA gets a bus error, ends
with an error completion naming the offending command; one whose translation faults ends with a
FAULT completion, as does every job of its address space until the host acknowledges the fault. The
next job runs normally.
"""

from tinynpu.rtl.layouts import (
    Completion,
    CompletionStatus,
    DmaKind,
    ErrorCode,
    JobCounters,
    Opcode,
    RingEntry,
    nbytes,
    pack,
)
from tinynpu.rtl.localmap import Geometry, Region, local_address
from tinynpu.rtl.regmap import CP

from .bus import CpBus, Registers
from .commands import HEADER_BYTES, CommandError, check_command, check_entry, decode_header
from .compute import DmaProgress, run_plan
from .lowering import conv2d_plan, gemm_plan
from .tiling import Dma

__all__ = ["COMPLETION_BYTES", "VERSION", "Firmware"]

#: (major, minor, patch), reported in fw_version. A driver checks the major number. Major 2: job
#: addresses are virtual; minor 1: GEMM, CONV2D and COUNTERS; minor 2: a lost completion record
#: raises the host's bus_error; minor 3: DMA commands queued.
VERSION = (2, 3, 0)
COMPLETION_BYTES = nbytes(Completion)
_ENTRY_WORDS = nbytes(RingEntry) // 4
#: The registers read for each ring entry: its words, then its index.
_ENTRY_OFFSETS = [
    *(getattr(CP, f"entry_w{i}").offset for i in range(_ENTRY_WORDS)),
    CP.entry_index.offset,
]
_RAW_STATUS = CP.cp_int_raw_status
#: The end of the SRAM holds the outgoing completion record and the WRITE_VALUE staging word.
_SCRATCH_BYTES = 64

# Work, in instructions, between bus accesses: what the cost model charges for.
_JOB_INSTRUCTIONS = 40  # entry checks, bookkeeping
_COMMAND_INSTRUCTIONS = 24  # decode and dispatch
_DMA_INSTRUCTIONS = 8  # marshalling a DMA command


#: Commands that are one DMA command each: the kind, and the command fields that are its operands
#: (fields of :class:`~.tiling.Dma` of the same names).
_DMA_COMMANDS = {
    Opcode.COPY: (DmaKind.COPY, ("src", "dst", "row_bytes", "rows", "src_pitch", "dst_pitch")),
    Opcode.FILL: (DmaKind.FILL, ("dst", "row_bytes", "rows", "dst_pitch", "pattern")),
}


class Firmware:
    """The firmware image.

    Parameters
    ----------
    bus : CpBus
        The control processor's register window.

    Attributes
    ----------
    jobs : int
        Jobs ended since boot.
    """

    #: The version this image reports in fw_version.
    version = VERSION

    def __init__(self, bus: CpBus):
        self.bus = bus
        self.regs = Registers(bus)
        self.jobs = 0
        self._stopping = False
        self._mask = None

    def stop(self):
        """Ask the main loop to finish the job in hand, drop ``ready`` and return."""
        self._stopping = True

    async def run(self):
        """Boot, then serve jobs until :meth:`stop`."""
        await self.boot()
        while True:
            raw, index = await self._next_entry()
            if raw is None:
                break
            await self._job(raw, index)
        await self.regs.write("fw_status", ready=0)

    async def boot(self):
        """Read the SRAM geometry, publish the version, then report ready."""
        self.regs.forget()
        info = await self.regs.fields("cp_info")
        self.sram_base = info["sram_base"]
        self.sram_bytes = 1 << info["sram_log2"]
        self.scratch = self.sram_bytes - _SCRATCH_BYTES
        self.stream_limit = self.scratch
        self.addr_spaces = (await self.regs.fields("mmu_info"))["addr_spaces"]
        self.matrix_queue_depth = (await self.regs.fields("mx_info"))["queue_depth"]
        self.dma_queue_depth = (await self.regs.fields("dma_info"))["queue_depth"]
        self.dma = await DmaProgress(self).start()
        compute = await self.regs.fields("compute_info")
        self.geometry = Geometry(
            array_size=1 << compute["array_log2"],
            bus_bytes=1 << compute["bus_log2"],
            input_bytes=1 << compute["input_log2"],
            weight_bytes=1 << compute["weight_log2"],
            acc_bytes=1 << compute["acc_log2"],
            sram_bytes=self.sram_bytes,
        )
        major, minor, patch = self.version
        await self.regs.write("fw_version", major=major, minor=minor, patch=patch)
        await self.regs.write("cp_int_raw_status", entry=1, dma_done=1, matrix_done=1)
        await self.regs.write("fw_status", ready=1)

    # --- interrupts and the ring --------------------------------------------------------------

    async def _wait_for(self, source):
        """Sleep until ``source`` of cp_int_raw_status is set, then clear it.

        Returns ``False`` instead if a stop was requested while waiting for an entry. Wake-ups
        without the event (the bus may return early) are slept through again.
        """
        if self._mask != frozenset({source}):
            await self.regs.write("cp_int_mask", **{source: 1})
            self._mask = frozenset({source})
        while True:
            if source == "entry":
                await self.bus.wait_irq()
                raw = await self.regs.fields("cp_int_raw_status")
            else:
                raw = await self._sleep_for_events()
            if raw[source]:
                await self.regs.write("cp_int_raw_status", **{source: 1})
                return True
            if self._stopping and source == "entry":
                return False

    async def wait_any(self, *sources):
        """Sleep until one of ``sources`` of cp_int_raw_status is set; clear, return those set."""
        mask = frozenset(sources)
        if self._mask != mask:
            await self.regs.write("cp_int_mask", **{source: 1 for source in sources})
            self._mask = mask
        while True:
            raw = await self._sleep_for_events()
            events = {source for source in sources if raw[source]}
            if events:
                await self.regs.write("cp_int_raw_status", **{source: 1 for source in events})
                return events

    async def _sleep_for_events(self):
        """Sleep until the interrupt (a stop request does not wake): cp_int_raw_status's fields."""
        return _RAW_STATUS.decode(await self.bus.wait_irq_and_read(_RAW_STATUS.offset))

    async def _next_entry(self):
        """The next ring entry's bytes and ring index, popped; ``(None, None)`` when stopping."""
        while not await self.regs.read("entry_count"):
            if self._stopping:
                return None, None
            # The entry bit is re-raised while the FIFO holds an entry, so this cannot miss one.
            if not await self._wait_for("entry"):
                return None, None
        *words, index = await self.bus.read_many(_ENTRY_OFFSETS)
        await self.regs.write("entry_pop", pop=1)
        raw = b"".join(word.to_bytes(4, "little") for word in words)
        return raw, index

    # --- DMA and SRAM ---------------------------------------------------------------------------

    async def _dma(self, kind, *, asid=None, fetch=False, **fields):
        """Run one DMA command to completion (fields of :class:`~tinynpu.firmware.tiling.Dma`).

        Memory addresses are virtual in address space ``asid``, physical if it is ``None``.
        Raises ``PAGE_FAULT`` if a translation faulted, ``BUS_ERROR`` for any other error.
        """
        await self.bus.execute(_DMA_INSTRUCTIONS)
        await self.dma.push(Dma(kind, **fields), asid, fetch=fetch)
        await self.dma.drain(asid)

    async def _sram_read(self, offset, length):
        start = self.sram_base + offset
        words = await self.bus.read_many(range(start, start + length, 4))
        return b"".join(word.to_bytes(4, "little") for word in words)

    async def _sram_write(self, offset, data):
        for i in range(0, len(data), 4):
            await self.bus.write(
                self.sram_base + offset + i, int.from_bytes(data[i : i + 4], "little")
            )

    # --- jobs -----------------------------------------------------------------------------------

    async def _job(self, raw, index):
        start = await self.regs.read("cycles")
        await self.regs.write("perf_control", job_start=1)
        await self.bus.execute(_JOB_INSTRUCTIONS)
        seqno = int.from_bytes(raw[:4], "little")
        error, offset = ErrorCode.NONE, 0
        try:
            entry = check_entry(raw, self.stream_limit, self.addr_spaces)
            self.asid = entry.asid
            stopped = (await self.regs.fields("mmu_stopped"))["aspaces"]
            if stopped >> entry.asid & 1:
                raise CommandError(ErrorCode.AS_STOPPED, f"address space {entry.asid} stopped")
            offset = 0
            await self._dma(
                DmaKind.LOAD,
                src=entry.cmd_addr,
                row_bytes=entry.cmd_size,
                asid=entry.asid,
                fetch=True,
            )
            while offset < entry.cmd_size:
                offset += await self._command(offset, entry.cmd_size - offset)
            offset = 0
        except CommandError as failure:
            error = failure.code
        await self._complete(index, seqno, error, offset, start)

    async def _command(self, offset, remaining):
        """Check and execute the command at ``offset`` of the stream; return its length."""
        await self.bus.execute(_COMMAND_INSTRUCTIONS)
        opcode, layout = decode_header(await self._sram_read(offset, HEADER_BYTES), remaining)
        length = nbytes(layout)
        cmd = check_command(opcode, await self._sram_read(offset, length))
        if opcode in _DMA_COMMANDS:
            kind, fields = _DMA_COMMANDS[opcode]
            await self._dma(kind, asid=self.asid, **{name: getattr(cmd, name) for name in fields})
        elif opcode is Opcode.GEMM:
            await run_plan(self, gemm_plan(self.geometry, cmd), self.asid)
        elif opcode is Opcode.CONV2D:
            await run_plan(self, conv2d_plan(self.geometry, cmd), self.asid)
        elif opcode is Opcode.COUNTERS:
            await self._dma(
                DmaKind.STORE,
                src=local_address(Region.PERF),
                dst=cmd.addr,
                row_bytes=nbytes(JobCounters),
                asid=self.asid,
            )
        elif opcode is Opcode.WRITE_VALUE:
            staging = self.scratch + COMPLETION_BYTES
            await self._sram_write(staging, cmd.value.to_bytes(8, "little"))
            await self._dma(DmaKind.STORE, src=staging, dst=cmd.addr, row_bytes=8, asid=self.asid)
        return length

    async def _complete(self, index, seqno, error, offset, start):
        """Write the completion record of ring slot ``index`` and end the job."""
        cycles = CP.cycles.count.get(await self.regs.read("cycles") - start)
        ok = error is ErrorCode.NONE
        if ok:
            status = CompletionStatus.OK
        elif error in (ErrorCode.PAGE_FAULT, ErrorCode.AS_STOPPED):
            status = CompletionStatus.FAULT
        else:
            status = CompletionStatus.ERROR
        record = pack(
            Completion,
            {
                "seqno": seqno,
                "status": status,
                "error": error,
                "offset": 0 if ok else offset,
                "cycles": cycles,
            },
        )
        size = 1 << (await self.regs.fields("ring_size"))["log2"]
        base = await self.regs.read_address("cq_base")
        await self._sram_write(self.scratch, record)
        try:
            await self._dma(
                DmaKind.STORE,
                src=self.scratch,
                dst=base + (index % size) * COMPLETION_BYTES,
                row_bytes=COMPLETION_BYTES,
            )
        except CommandError:  # the record is lost; the job still ends, as an error
            await self.regs.write("job_end", job_error=1, record_lost=1)
        else:
            await self.regs.write("job_end", **{"job_done" if ok else "job_error": 1})
        self.jobs += 1
