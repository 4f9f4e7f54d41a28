"""Runs a tiling plan (:mod:`~.tiling`): DMA transfers and matrix operations, overlapped.

The DMA engine takes commands from a queue of ``dma_info.queue_depth`` entries, the matrix unit
operations from a queue of ``mx_info.queue_depth`` (both read at boot). The executor keeps both
queues fed: it pushes every matrix operation whose loads are done and every DMA command whose
entry's operations have completed, as long as each queue has room, and otherwise sleeps until
the DMA queue reports progress or the matrix unit completes an operation. Only some DMA commands
ask for a completion interrupt (``notify``): the last of each plan entry, and one in every half
queue, so the firmware wakes to refill the queue before it runs dry but not for every command.
Everything goes through the CP registers.
"""

from tinynpu.rtl.layouts import DmaError, DmaKind, ErrorCode
from tinynpu.rtl.regmap import CP

from .commands import CommandError

__all__ = ["DmaProgress", "push_dma", "run_plan"]

# Instructions charged per decision of the scheduling loop and per register block programmed.
_LOOP_INSTRUCTIONS = 6
_PUSH_INSTRUCTIONS = 10

_COMPLETED = CP.mx_status.completed
_DMA_SEQUENCE = 1 << CP.dma_status.completed.width


async def push_dma(fw, cmd, asid, *, fetch=False, notify=True):
    """Program one DMA command (a :class:`~tinynpu.firmware.tiling.Dma`) and queue it.

    The memory side is virtual in address space ``asid``, physical if ``asid`` is ``None``;
    ``fetch`` marks its reads as command fetches; ``notify`` asks for ``dma_done`` when it
    completes. The registers are shadowed, so only the fields that differ from the previous
    command's are written.
    """
    regs = fw.regs
    await regs.write_address("dma_src", cmd.src)
    await regs.write_address("dma_dst", cmd.dst)
    await regs.write("dma_row_bytes", count=cmd.row_bytes)
    await regs.write("dma_rows", count=cmd.rows)
    await regs.write("dma_src_pitch", bytes=cmd.src_pitch)
    await regs.write("dma_dst_pitch", bytes=cmd.dst_pitch)
    await regs.write("dma_planes", count=cmd.planes)
    await regs.write("dma_volumes", count=cmd.volumes)
    if cmd.planes > 1:
        await regs.write("dma_src_plane_pitch", bytes=cmd.src_plane_pitch)
        await regs.write("dma_dst_plane_pitch", bytes=cmd.dst_plane_pitch)
    if cmd.volumes > 1:
        await regs.write("dma_src_volume_pitch", bytes=cmd.src_volume_pitch)
        await regs.write("dma_dst_volume_pitch", bytes=cmd.dst_volume_pitch)
    if cmd.kind in (DmaKind.FILL, DmaKind.FILL_LOCAL):
        await regs.write("dma_pattern", value=cmd.pattern)
    translate = asid is not None and cmd.kind is not DmaKind.FILL_LOCAL
    await regs.write(
        "dma_control",
        kind=cmd.kind.value,
        translate=int(translate),
        fetch=int(fetch),
        asid=asid if translate else 0,
        notify=int(notify),
    )
    await regs.write("dma_push", push=1)


class DmaProgress:
    """The firmware's account of its DMA queue: commands pushed and completed, and halts.

    Both counts are absolute since :meth:`start` (boot); the hardware's 16-bit completion count
    is followed by its differences, which never exceed the queue's depth. A halt is cleared as
    soon as it is seen: the hardware has discarded the commands queued behind the failing one,
    and the job's error names that command.

    Parameters
    ----------
    fw : Firmware
        Its registers, ``dma_queue_depth`` and ``wait_any``.
    """

    def __init__(self, fw):
        self.fw = fw
        self.pushed = self.completed = self._hardware = 0

    async def start(self):
        """Take the hardware's completion count as the origin and end any halt."""
        await self.fw.regs.write("dma_clear", clear=1)
        self._hardware = (await self.fw.regs.fields("dma_status"))["completed"]
        return self

    def room(self):
        """Commands that may be pushed now without one being dropped."""
        return self.fw.dma_queue_depth - (self.pushed - self.completed)

    async def push(self, cmd, asid, *, fetch=False, notify=True):
        """:func:`push_dma`, counted."""
        await push_dma(self.fw, cmd, asid, fetch=fetch, notify=notify)
        self.pushed += 1

    async def update(self, asid):
        """Read the completion count; raise :class:`CommandError` if the queue halted."""
        regs = self.fw.regs
        status = await regs.fields("dma_status")
        self.completed += (status["completed"] - self._hardware) % _DMA_SEQUENCE
        self._hardware = status["completed"]
        error = DmaError(status["error"])
        if error is DmaError.NONE:
            return
        failed = (await regs.fields("dma_queue"))["failed"]
        await regs.write("dma_clear", clear=1)
        self.pushed = self.completed  # what was queued behind the failure never runs
        position = self.completed - (self._hardware - failed) % _DMA_SEQUENCE
        where = f"DMA command {position} since boot"
        if error is DmaError.MMU_FAULT:
            raise CommandError(
                ErrorCode.PAGE_FAULT, f"translation fault in address space {asid} ({where})"
            )
        raise CommandError(ErrorCode.BUS_ERROR, f"DMA error {error.name} ({where})")

    async def drain(self, asid):
        """Sleep until every command pushed has completed; raise if one failed."""
        while self.completed < self.pushed:
            await self.fw.wait_any("dma_done")
            await self.update(asid)


def _signed(value):
    return value & 0xFFFF_FFFF


async def _push(fw, step):
    regs = fw.regs
    await fw.bus.execute(_PUSH_INSTRUCTIONS)
    await regs.write("mx_a", slot=step.a_slot)
    await regs.write("mx_b", addr=step.b_addr)
    await regs.write("mx_b_pitch", bytes=step.b_pitch)
    await regs.write(
        "mx_acc", addr=step.acc_addr, row_log2=step.acc_row_log2, accumulate=int(step.accumulate)
    )
    await regs.write("mx_k", count=step.k)
    await regs.write("mx_m", count=step.m)
    await regs.write("mx_n", count=step.n)
    await regs.write("mx_push", push=1)


async def _configure_store(fw, store):
    regs = fw.regs
    await regs.write("ppu_zero_point", value=_signed(store.zero_point))
    await regs.write("ppu_act_min", value=_signed(store.act_min))
    await regs.write("ppu_act_max", value=_signed(store.act_max))
    await regs.write("ppu_layout", row_log2=store.row_log2, param_base=store.param_base)


async def run_plan(fw, plan, asid):
    """Run ``plan`` in address space ``asid``; raise :class:`CommandError` if a transfer fails.

    On a failure no further command or operation starts; the call returns (raises) once the
    operations already queued have completed, so nothing of this job runs on afterwards.

    The post-processor's settings are registers, not part of a command: a store entry whose
    settings differ from the last ones written waits until every store queued before it has
    completed.
    """
    base = (await fw.regs.fields("mx_status"))["completed"]
    dma = fw.dma
    every = max(1, fw.dma_queue_depth // 2)  # a notify at least this often
    entry_ends = []  # DMA commands pushed once each entry's last one was
    entries_done = dma_next = command = 0  # DMA entries completed; next to push, command in it
    store_settings = None
    stores_until = 0  # DMA commands that must complete before the settings may change
    pushed = completed = 0
    failure = None
    while True:
        await fw.bus.execute(_LOOP_INSTRUCTIONS)
        if failure is None:
            while (
                pushed < len(plan.matrix)
                and plan.matrix[pushed].after_dma <= entries_done
                and pushed - completed < fw.matrix_queue_depth
            ):
                await _push(fw, plan.matrix[pushed].step)
                pushed += 1
            while dma_next < len(plan.dma) and dma.room() > 0:
                entry = plan.dma[dma_next]
                if command == 0:
                    if entry.after_matrix > completed:
                        break
                    if entry.store is not None and entry.store != store_settings:
                        if dma.completed < stores_until:
                            break
                        await _configure_store(fw, entry.store)
                        store_settings = entry.store
                last = command == len(entry.commands) - 1
                notify = last or (dma.pushed + 1) % every == 0
                await fw.bus.execute(_PUSH_INSTRUCTIONS)
                await dma.push(entry.commands[command], asid, notify=notify)
                if entry.store is not None:
                    stores_until = dma.pushed
                command += 1
                if last:
                    entry_ends.append(dma.pushed)
                    dma_next, command = dma_next + 1, 0
        done = entries_done == len(plan.dma) and completed == len(plan.matrix)
        idle = dma.completed == dma.pushed and completed == pushed
        if idle and (failure is not None or done):
            break
        if idle:  # nothing runs and nothing may start: the plan's dependencies are circular
            raise RuntimeError(f"plan deadlock at DMA entry {dma_next}, operation {pushed}")
        events = await fw.wait_any("dma_done", "matrix_done")
        if "matrix_done" in events:
            count = (await fw.regs.fields("mx_status"))["completed"]
            completed = (count - base) % (1 << _COMPLETED.width)
        if "dma_done" in events:
            try:
                await dma.update(asid)
            except CommandError as error:
                failure = failure or error
            while entries_done < len(entry_ends) and entry_ends[entries_done] <= dma.completed:
                entries_done += 1
    if failure is not None:
        raise failure
