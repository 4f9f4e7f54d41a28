"""The demo, inside the simulator: boot the NPU and its firmware, run one job, trace it all."""

import json

import cocotb

from driver import commands
from driver.memory import PhysicalAllocator
from driver.npu import Npu
from firmware import Firmware

from .soc import Soc

REPORT = "demo.json"
MESSAGE = b"Hello from the tinynpu DMA engine, to an odd address."


@cocotb.test()
async def demo(dut):
    """Bring the device up through the driver, run a COPY and a fence, and check them."""
    soc = Soc(dut, firmware=Firmware)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(0x10_0000, 1 << 20), ring_log2=4)
    await npu.init()

    src, dst, fence = 0x20_0000, 0x20_1003, 0x20_2000
    await soc.mem_write(src, MESSAGE)
    stream = commands.stream(
        commands.copy(src, dst, len(MESSAGE)), commands.write_value(fence, 0xF00D)
    )
    addr = npu.memory.alloc(len(stream))
    await soc.mem_write(addr, stream)
    submitted_ns = soc.now_ns()
    seqno = await npu.submit(addr, len(stream))
    result = await npu.wait(seqno, timeout_ns=1_000_000)
    copied = await soc.mem_read(dst, len(MESSAGE))
    assert result.ok and copied == MESSAGE, (result, copied)
    assert await soc.mem_read(fence, 8) == (0xF00D).to_bytes(8, "little")
    report = {
        "version": npu.info.version,
        "caps": npu.info.caps,
        "firmware": npu.firmware_version,
        "job": {
            "seqno": result.seqno,
            "status": result.status.name,
            "cycles": result.cycles,
            "latency_ns": soc.now_ns() - submitted_ns,
            "copied": copied.decode(),
        },
        "clock_ns": soc.clock_ns,
        "trace": soc.trace.lines(),
    }
    with open(REPORT, "w") as f:
        json.dump(report, f, indent=2)
