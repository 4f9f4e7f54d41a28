"""What the RTL tests share: the simulation runner, AXI4-Lite manager coroutines, stream helpers.

Every coroutine here is an ``amaranth.sim`` testbench step: it takes the testbench context
``ctx`` and returns once its transfer is done, failing the test if the design does not answer
within :data:`LIMIT` cycles. Bus and stream ports are the design's own interfaces.

``WAVES=1`` in the environment makes :func:`simulate` write a VCD of every run, named after the
running test, under ``build/rtl-waves/``.
"""

import gc
import os
import re
import warnings
from contextlib import nullcontext

import pytest
from amaranth.hdl import UnusedElaboratable, Value
from amaranth.sim import Simulator
from tinynpu.rtl.axi import Resp
from tinynpu.sim.build import build_root

__all__ = [
    "LIMIT",
    "OKAY",
    "StreamLog",
    "axil_read",
    "axil_reads",
    "axil_write",
    "construction_error",
    "offer_write",
    "read_ok",
    "simulate",
    "stream_receive",
    "stream_send",
    "write_ok",
]

#: Encoding of the AXI OKAY response.
OKAY = Resp.OKAY.value
#: Cycles a single handshake may take before the design is declared hung.
LIMIT = 16
#: Period of the simulated clock (1 MHz).
CLOCK_PERIOD = 1e-6


def _waves(name):
    """Where to write the VCD of a run: named by the caller, or after the test with WAVES=1."""
    if name is None and os.environ.get("WAVES") == "1":
        name = os.environ.get("PYTEST_CURRENT_TEST", "rtl").rsplit(" ", 1)[0]
    if name is None:
        return None
    path = build_root() / "rtl-waves" / (re.sub(r"[^\w.-]+", "_", name) + ".vcd")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def simulate(dut, *benches, background=(), processes=(), vcd=None):
    """Simulate ``dut`` until every testbench in ``benches`` has run to its end.

    Parameters
    ----------
    dut : Elaboratable
    *benches : async callables ``bench(ctx)``
        The testbenches; each must return for the run to end.
    background : async callables ``bench(ctx)``
        Testbenches that run beside them, such as a bus model, and are dropped at the end.
    processes : async callables ``process(ctx)``
        Processes (they see signals between clock edges), such as a scripted subordinate.
    vcd : str, optional
        Write ``build/rtl-waves/<vcd>.vcd``.
    """
    finished = []

    def finishing(bench):
        async def run(ctx):
            await bench(ctx)
            finished.append(bench)

        return run

    sim = Simulator(dut)
    sim.add_clock(CLOCK_PERIOD)
    for process in processes:
        sim.add_process(process)
    for bench in background:
        sim.add_testbench(bench, background=True)
    for bench in benches:
        sim.add_testbench(finishing(bench))
    path = _waves(vcd)
    with sim.write_vcd(str(path)) if path else nullcontext():
        sim.run()
    assert len(finished) == len(benches), "a testbench did not finish"


def construction_error(build, *args, **kwargs):
    """The message of the ValueError ``build(*args, **kwargs)`` raises; fail if it does not.

    The half-built component is never elaborated; its UnusedElaboratable warning is silenced.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        try:
            build(*args, **kwargs)
        except ValueError as error:
            message = str(error)
        else:
            pytest.fail(f"{build.__name__}({args}, {kwargs}) did not raise")
        gc.collect()
    return message


# --- AXI4-Lite manager --------------------------------------------------------------------------


async def axil_write(ctx, bus, addr, data, strb=0xF, *, aw_delay=0, w_delay=0):
    """One write; returns the raw ``bresp``.

    AWVALID and WVALID rise ``aw_delay`` and ``w_delay`` cycles after the start and stay high
    until their handshakes; BREADY is high only while the response is awaited. A BVALID before
    both handshakes fails the test.
    """
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, data)
    ctx.set(bus.wstrb, strb)
    aw_done = w_done = False
    for cycle in range(LIMIT + max(aw_delay, w_delay)):
        if not aw_done:
            ctx.set(bus.awvalid, cycle >= aw_delay)
        if not w_done:
            ctx.set(bus.wvalid, cycle >= w_delay)
        *_, awvalid, awready, wvalid, wready, bvalid = await ctx.tick().sample(
            bus.awvalid, bus.awready, bus.wvalid, bus.wready, bus.bvalid
        )
        assert not bvalid, f"BVALID before the write to {addr:#06x} was accepted"
        if awvalid and awready:
            aw_done = True
            ctx.set(bus.awvalid, 0)
        if wvalid and wready:
            w_done = True
            ctx.set(bus.wvalid, 0)
        if aw_done and w_done:
            break
    else:
        pytest.fail(f"write to {addr:#06x} not accepted (aw={aw_done}, w={w_done})")
    ctx.set(bus.bready, 1)
    for _ in range(LIMIT):
        *_, bvalid, bresp = await ctx.tick().sample(bus.bvalid, bus.bresp.as_value())
        if bvalid:
            ctx.set(bus.bready, 0)
            return bresp
    pytest.fail(f"no write response for {addr:#06x}")


def offer_write(ctx, bus, addr, data, strb=0xF, *, w=True, bready=None):
    """Present a write on AW (and on W unless ``w`` is false), without awaiting the handshakes:
    for a bench that steps the channels cycle by cycle. ``bready``, if given, is driven too."""
    for signal, value in [(bus.awaddr, addr), (bus.wdata, data), (bus.wstrb, strb)]:
        ctx.set(signal, value)
    ctx.set(bus.awvalid, 1)
    ctx.set(bus.wvalid, w)
    if bready is not None:
        ctx.set(bus.bready, bready)


async def axil_reads(ctx, bus, addrs):
    """Read ``addrs``, each AR offered right after the previous one is taken, RREADY high.

    Returns ``[(rdata, rresp)]`` in order. An R beat with no read accepted before it fails the
    test.
    """
    pending, results, accepted = list(addrs), [], 0
    ctx.set(bus.rready, 1)
    for _ in range(LIMIT * max(1, len(pending))):
        if len(results) == len(addrs):
            break
        ctx.set(bus.arvalid, bool(pending))
        ctx.set(bus.araddr, pending[0] if pending else 0)
        *_, arvalid, arready, rvalid, rdata, rresp = await ctx.tick().sample(
            bus.arvalid, bus.arready, bus.rvalid, bus.rdata, bus.rresp.as_value()
        )
        if rvalid:
            assert len(results) < accepted, "RVALID before the read was accepted"
            results.append((rdata, rresp))
        if arvalid and arready:
            pending.pop(0)
            accepted += 1
    else:
        pytest.fail(f"reads of {[hex(a) for a in addrs]} returned only {results}")
    ctx.set(bus.arvalid, 0)
    ctx.set(bus.rready, 0)
    return results


async def axil_read(ctx, bus, addr):
    """One read; returns ``(rdata, raw rresp)``."""
    (result,) = await axil_reads(ctx, bus, [addr])
    return result


async def read_ok(ctx, bus, addr):
    """Read ``addr``, check that the response is OKAY, return the data."""
    data, resp = await axil_read(ctx, bus, addr)
    assert resp == OKAY, f"read of {addr:#06x}: rresp {resp}"
    return data


async def write_ok(ctx, bus, addr, data, strb=0xF):
    """Write ``addr`` and check that the response is OKAY."""
    resp = await axil_write(ctx, bus, addr, data, strb)
    assert resp == OKAY, f"write to {addr:#06x}: bresp {resp}"


# --- streams --------------------------------------------------------------------------------------


async def stream_send(ctx, port, payloads, *, valid=lambda cycle: True, limit=None):
    """Offer ``payloads`` on ``port`` in order; return the cycle of each handshake.

    A payload is offered from a cycle where ``valid(cycle)`` holds and stays offered, unchanged,
    until taken; the next one may follow in the cycle after. ``limit`` bounds the cycles (by
    default, :data:`LIMIT` per payload).
    """
    queue, taken = list(payloads), []
    limit = LIMIT * (len(queue) + 1) if limit is None else limit
    for cycle in range(limit):
        if not queue:
            break
        offering = bool(ctx.get(port.valid)) or valid(cycle)
        ctx.set(port.valid, offering)
        if offering:
            ctx.set(port.payload, queue[0])
        *_, ready = await ctx.tick().sample(port.ready)
        if offering and ready:
            taken.append(cycle)
            queue.pop(0)
            ctx.set(port.valid, 0)
    if queue:
        pytest.fail(f"{len(queue)} payloads not taken after {limit} cycles")
    return taken


def _held(waiting, valid, value, where):
    """Check the stream rule: an offer not taken (``waiting``) is offered again, unchanged."""
    if waiting is not None:
        assert valid, f"{where}: valid withdrawn before ready"
        assert value == waiting, f"{where}: payload changed before ready"


class StreamLog:
    """The handshakes of a stream, as a background testbench sees them: :meth:`watch`.

    Checks the stream rule every cycle. :attr:`taken` lists the payload of each handshake as
    raw bits, :attr:`cycles` the cycle of each (from the start of the run).
    """

    def __init__(self, port):
        self.port, self.taken, self.cycles = port, [], []

    async def watch(self, ctx):
        port, bits, waiting = self.port, Value.cast(self.port.payload), None
        cycle = 0
        async for *_, valid, ready, value in ctx.tick().sample(port.valid, port.ready, bits):
            _held(waiting, valid, value, f"cycle {cycle}")
            waiting = value if valid and not ready else None
            if valid and ready:
                self.taken.append(value)
                self.cycles.append(cycle)
            cycle += 1


async def stream_receive(ctx, port, count, *, ready=lambda cycle: True, limit=None):
    """Take ``count`` payloads from ``port``; return ``[(cycle, payload)]`` of the handshakes.

    READY is ``ready(cycle)``. Checks the stream rule cycle by cycle: an offer not taken is
    offered again in the next cycle, with the same payload. ``limit`` bounds the cycles (by
    default, :data:`LIMIT` per payload).
    """
    received, waiting = [], None
    bits = Value.cast(port.payload)
    limit = LIMIT * (count + 1) if limit is None else limit
    for cycle in range(limit):
        if len(received) == count:
            break
        accept = bool(ready(cycle))
        ctx.set(port.ready, accept)
        *_, valid, payload, value = await ctx.tick().sample(port.valid, port.payload, bits)
        _held(waiting, valid, value, f"cycle {cycle}")
        waiting = value if valid and not accept else None
        if valid and accept:
            received.append((cycle, payload))
    if len(received) < count:
        pytest.fail(f"only {len(received)} of {count} payloads after {limit} cycles")
    ctx.set(port.ready, 0)
    return received
