"""Jobs through the whole path: driver, ring, fetcher, firmware, DMA, completions."""

import cocotb

from driver import commands
from driver.memory import PhysicalAllocator
from driver.npu import Npu
from firmware import Firmware
from rtl.layouts import CompletionStatus, ErrorCode
from sim.soc import Soc

MiB = 1 << 20
TIMEOUT_NS = 2_000_000


async def bring_up(dut, **kwargs):
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(0x10_0000, 32 * MiB), **kwargs)
    await npu.init()
    return soc, npu


async def run(npu, *cmds, timeout_ns=TIMEOUT_NS):
    """Write a stream, submit it, wait for it; return the result."""
    data = commands.stream(*cmds)
    addr = npu.memory.alloc(len(data))
    await npu.platform.mem_write(addr, data)
    seqno = await npu.submit(addr, len(data))
    result = await npu.wait(seqno, timeout_ns=timeout_ns)
    npu.memory.free(addr)
    return result


@cocotb.test()
async def nop(dut):
    soc, npu = await bring_up(dut)
    result = await run(npu, commands.nop())
    assert result.status is CompletionStatus.OK, result
    assert result.error is ErrorCode.NONE
    assert result.seqno == 1
    dut._log.info(f"NOP job: {result.cycles} cycles")
