"""Runs a tiling plan (:mod:`~.tiling`): DMA transfers and matrix operations, overlapped.

The DMA engine runs one command at a time; the matrix unit takes operations from a queue of
``mx_info.queue_depth`` entries (read at boot). The executor keeps both busy: it pushes every
matrix operation whose loads are done (while the queue has room), starts the next DMA command
as soon as the engine is free and the operations it waits for have completed, and otherwise
sleeps until the DMA engine or the matrix unit interrupts. Everything goes through the CP registers.
"""

from tinynpu.rtl.layouts import DmaError, DmaKind, ErrorCode
from tinynpu.rtl.regmap import CP

from .commands import CommandError

__all__ = ["run_plan"]

# Instructions charged per decision of the scheduling loop and per register block programmed.
_LOOP_INSTRUCTIONS = 6
_PUSH_INSTRUCTIONS = 10

_COMPLETED = CP.mx_status.completed


async def start_dma(fw, cmd, asid, *, fetch=False):
    """Program and start one DMA command (a :class:`~tinynpu.firmware.tiling.Dma`).

    The memory side is virtual in address space ``asid``, physical if ``asid`` is ``None``;
    ``fetch`` marks its reads as command fetches.
    """
    regs = fw.regs
    await regs.write_address("dma_src", cmd.src)
    await regs.write_address("dma_dst", cmd.dst)
    await regs.write("dma_row_bytes", count=cmd.row_bytes)
    await regs.write("dma_rows", count=cmd.rows)
    await regs.write("dma_src_pitch", bytes=cmd.src_pitch)
    await regs.write("dma_dst_pitch", bytes=cmd.dst_pitch)
    if cmd.kind in (DmaKind.FILL, DmaKind.FILL_LOCAL):
        await regs.write("dma_pattern", value=cmd.pattern)
    translate = asid is not None and cmd.kind is not DmaKind.FILL_LOCAL
    await regs.write(
        "dma_control",
        kind=cmd.kind.value,
        translate=int(translate),
        fetch=int(fetch),
        asid=asid if translate else 0,
    )
    await regs.write("dma_start", start=1)


async def dma_result(fw, asid):
    """Raise the job's error for the DMA command that just finished, if it failed."""
    error = DmaError((await fw.regs.fields("dma_status"))["error"])
    if error is DmaError.MMU_FAULT:
        raise CommandError(ErrorCode.PAGE_FAULT, f"translation fault in address space {asid}")
    if error is not DmaError.NONE:
        raise CommandError(ErrorCode.BUS_ERROR, f"DMA error {error.name}")


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
    """
    base = (await fw.regs.fields("mx_status"))["completed"]
    dma_next = command = 0  # next DMA entry, command within it
    dma_busy = False
    pushed = completed = 0
    failure = None
    while True:
        await fw.bus.execute(_LOOP_INSTRUCTIONS)
        if failure is None:
            while (
                pushed < len(plan.matrix)
                and plan.matrix[pushed].after_dma <= dma_next
                and pushed - completed < fw.matrix_queue_depth
            ):
                await _push(fw, plan.matrix[pushed].step)
                pushed += 1
            if not dma_busy and dma_next < len(plan.dma):
                entry = plan.dma[dma_next]
                if entry.after_matrix <= completed:
                    if command == 0 and entry.store is not None:
                        await _configure_store(fw, entry.store)
                    await start_dma(fw, entry.commands[command], asid)
                    dma_busy = True
        done = dma_next == len(plan.dma) and completed == len(plan.matrix)
        idle = not dma_busy and completed == pushed
        if idle and (failure is not None or done):
            break
        if idle:  # nothing runs and nothing may start: the plan's dependencies are circular
            raise RuntimeError(f"plan deadlock at DMA entry {dma_next}, operation {pushed}")
        events = await fw.wait_any("dma_done", "matrix_done")
        if "matrix_done" in events:
            count = (await fw.regs.fields("mx_status"))["completed"]
            completed = (count - base) % (1 << _COMPLETED.width)
        if "dma_done" in events and dma_busy:
            dma_busy = False
            try:
                await dma_result(fw, asid)
            except CommandError as error:
                failure = failure or error
                continue
            command += 1
            if command == len(plan.dma[dma_next].commands):
                dma_next, command = dma_next + 1, 0
    if failure is not None:
        raise failure
