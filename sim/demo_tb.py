"""The demo, inside the simulator: boot, map buffers, run one job through the MMU, trace it."""

import json

import cocotb

from driver import commands
from driver.memory import PhysicalAllocator
from driver.npu import Npu
from driver.pgtable import Prot
from firmware import Firmware

from .soc import Soc

REPORT = "demo.json"
MESSAGE = b"Hello from the tinynpu DMA engine, to an odd address."
PAGE = 4096
RW = Prot.READ | Prot.WRITE


@cocotb.test()
async def demo(dut):
    """Bring the device up through the driver, run a COPY and a fence, and check them."""
    soc = Soc(dut, firmware=Firmware, trace=True)
    await soc.start()
    npu = Npu(soc, PhysicalAllocator(0x10_0000, 1 << 20), ring_log2=4)
    await npu.init()

    # Three pages of host memory, mapped at virtual addresses of the job's address space.
    space = await npu.mmu.create()
    pages = {name: npu.memory.alloc(PAGE) for name in ("stream", "src", "dst")}
    virtual = {"stream": 0x40_0000_0000, "src": 0x1000_0000, "dst": 0x2000_0000}
    for name, prot in (("stream", Prot.READ), ("src", Prot.READ), ("dst", RW | Prot.NOEXEC)):
        await npu.mmu.map(space, virtual[name], pages[name], PAGE, prot)
    await soc.mem_write(pages["src"], MESSAGE)
    stream = commands.stream(
        commands.copy(virtual["src"], virtual["dst"] + 3, len(MESSAGE)),
        commands.write_value(virtual["dst"] + 0x100, 0xF00D),
    )
    await soc.mem_write(pages["stream"], stream)
    submitted_ns = soc.now_ns()
    seqno = await npu.submit(virtual["stream"], len(stream), asid=space.asid)
    result = await npu.wait(seqno, timeout_ns=1_000_000)
    copied = await soc.mem_read(pages["dst"] + 3, len(MESSAGE))
    assert result.ok and copied == MESSAGE, (result, copied)
    assert await soc.mem_read(pages["dst"] + 0x100, 8) == (0xF00D).to_bytes(8, "little")
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
        "mappings": {
            name: {"va": virtual[name], "pa": pages[name]} for name in ("stream", "src", "dst")
        },
        "pte_writes": [
            f"level {w.level} table {w.table:#x} [{w.index:3d}] = {w.value:#018x}"
            for w in space.table.writes
        ],
        "clock_ns": soc.clock_ns,
        "trace": soc.trace.lines(),
    }
    with open(REPORT, "w") as f:
        json.dump(report, f, indent=2)
