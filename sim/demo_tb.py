"""The demo, inside the simulator: boot the NPU, probe it, take one interrupt."""

import json

import cocotb

from driver.device import probe
from driver.interrupts import acknowledge, set_enabled
from rtl.regmap import HOST

from .soc import Soc

REPORT = "demo.json"


@cocotb.test()
async def demo(dut):
    """Probe the device, then raise and handle a test interrupt, tracing every access."""
    soc = Soc(dut, trace=True)
    await soc.start()
    info = await probe(soc)
    await set_enabled(soc, ["job_done", "job_error"])
    # int_set raises a source as its hardware event would: the handler cannot tell the difference.
    raised_ns = soc.now_ns()
    await soc.mmio_write(HOST.int_set.offset, HOST.int_set.encode(job_done=1))
    assert await soc.wait_irq(timeout_ns=1000), "irq did not assert"
    seen_ns = soc.now_ns()
    handled = await acknowledge(soc)
    assert handled == ["job_done"], handled
    assert not soc.irq.asserted, "irq still asserted after acknowledge"
    report = {
        "version": info.version,
        "caps": info.caps,
        "irq_latency_ns": seen_ns - raised_ns,
        "handled": handled,
        "clock_ns": soc.clock_ns,
        "trace": soc.trace.lines(),
    }
    with open(REPORT, "w") as f:
        json.dump(report, f, indent=2)
