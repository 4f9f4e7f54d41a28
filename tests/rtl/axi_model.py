"""An AXI4 subordinate memory model for ``amaranth.sim``, with backpressure, errors and checks.

Usage::

    model = AxiMemory(dut.mem, base=0x8000_0000, size=64 * 1024, seed=1, read_latency=3,
                      stall=0.3, errors=[ErrorRange(0x8000_1000, 0x8000_1040, Resp.SLVERR)])
    model.fill(0xA5)                       # or model.write(addr, data) / model.mem[...] = ...
    simulate(dut, my_bench, background=[model.run])   # rtl_kit: the run ends with my_bench
    assert model.read(addr, n) == expected
    assert model.max_reads_outstanding > 1

Behaviour
---------
* Memory is a ``bytearray`` (:attr:`mem`) of ``size`` bytes at ``base``; any access outside it
  answers DECERR (nothing written).
* Every burst must be INCR, ``axsize`` the full bus width, ``axlen + 1 <= max_len``, never cross a
  4 KiB boundary and, with ``aligned=True``, start on a bus-width boundary. A violation raises
  :class:`AxiProtocolError` from the simulation. So does a VALID withdrawn (or its payload changed)
  before READY on AR, AW or W, and a ``wlast`` that is not exactly on beat ``awlen``.
* Reads: the first R beat of a burst is offered ``read_latency`` cycles after the cycle its AR
  was accepted (1 = the next cycle), bursts back to back and in order, each beat's data read from
  :attr:`mem` when it is offered. A beat that overlaps a read :class:`ErrorRange` answers that
  range's response (per beat); ``rid`` echoes ``arid``.
* Writes: W beats are accepted only for an AW already accepted (a conservative subordinate; W
  before AW just waits). Strobed bytes are written as they arrive, unless any byte of the burst's
  span overlaps a write :class:`ErrorRange` or lies outside memory: then nothing of the burst is
  written and B answers that response. B is offered ``write_latency`` cycles after the last W
  beat, in order; ``bid`` echoes ``awid``.
* Backpressure: in each cycle, each of AR, AW, W withholds READY and each of R, B withholds a new
  VALID with probability ``stall`` (a float for all, or a dict by channel name ``"ar"``, ``"r"``,
  ``"aw"``, ``"w"``, ``"b"``), drawn from ``random.Random(seed)``: runs are reproducible.
* ``max_reads`` / ``max_writes`` (optional) hold ARREADY / AWREADY low while that many reads
  (AR accepted, last R not taken) or writes (AW accepted, B not taken) are outstanding.

Statistics
----------
:attr:`ar_log` and :attr:`aw_log` list every accepted burst as ``(addr, beats)``;
:attr:`max_reads_outstanding` and :attr:`max_writes_outstanding` are the peaks of outstanding
reads and writes; :attr:`reads_outstanding` and :attr:`writes_outstanding` are the current counts;
:attr:`strobes` counts, per byte of :attr:`mem`, the W beats that strobed it (saturating at 255;
an error burst counts too); :attr:`r_cycles` and :attr:`w_cycles` list the cycle number of every R
and W beat handshake; :attr:`cycle` counts clock cycles since the model started.
"""

import random
from collections import deque
from dataclasses import dataclass, field

from tinynpu.rtl.axi import Burst, Resp

__all__ = ["AxiMemory", "AxiProtocolError", "ErrorRange"]

CHANNELS = ("ar", "r", "aw", "w", "b")


class AxiProtocolError(AssertionError):
    """The manager broke the AXI4 protocol, or a rule this model enforces."""


@dataclass(frozen=True)
class ErrorRange:
    """Addresses ``lo <= a < hi`` answer ``resp`` on reads and/or writes."""

    lo: int
    hi: int
    resp: Resp = Resp.SLVERR
    read: bool = True
    write: bool = True

    def hits(self, lo, hi):
        return lo < self.hi and self.lo < hi


@dataclass
class _Txn:
    addr: int  # aligned address of beat 0
    beats: int
    id: int
    due: int = 0  # first cycle a response may be offered
    beat: int = 0
    resp: Resp = Resp.OKAY
    data: list = field(default_factory=list)


class AxiMemory:
    """A subordinate memory on ``bus``, the manager's AXI4 interface (see the module docstring).

    Parameters
    ----------
    bus
        The manager's port, e.g. ``dut.mem``, with the members of ``AXI4Signature``.
    base, size : int
        Address and size of the backing memory.
    seed : int
        Seed of the backpressure draws.
    read_latency, write_latency : int
        At least 1.
    stall : float or dict
        Probability per cycle and channel of withholding READY (AR, AW, W) or VALID (R, B).
    errors : list of ErrorRange
    max_len : int
        Longest burst accepted, in beats.
    aligned : bool
        Require bursts to start on a bus-width boundary.
    max_reads, max_writes : int or None
        Outstanding transactions accepted at most.
    """

    def __init__(
        self,
        bus,
        *,
        base=0,
        size=1 << 16,
        seed=0,
        read_latency=2,
        write_latency=1,
        stall=0.0,
        errors=(),
        max_len=256,
        aligned=True,
        max_reads=None,
        max_writes=None,
    ):
        if read_latency < 1 or write_latency < 1:
            raise ValueError("Latencies must be at least 1 cycle")
        self.bus = bus
        self.nbytes = len(bus.wdata) // 8
        self.base, self.size = base, size
        self.mem = bytearray(size)
        self.rng = random.Random(seed)
        self.read_latency, self.write_latency = read_latency, write_latency
        if isinstance(stall, dict):
            self.stall = {ch: stall.get(ch, 0.0) for ch in CHANNELS}
        else:
            self.stall = dict.fromkeys(CHANNELS, stall)
        self.errors = list(errors)
        self.max_len, self.aligned = max_len, aligned
        self.max_reads, self.max_writes = max_reads, max_writes
        self.ar_log, self.aw_log = [], []
        self.r_cycles, self.w_cycles = [], []
        self.max_reads_outstanding = self.max_writes_outstanding = 0
        self.reads_outstanding = self.writes_outstanding = 0
        self.strobes = bytearray(size)
        self.cycle = 0

    # --- memory access for tests --------------------------------------------------------------

    def fill(self, value):
        self.mem[:] = bytes([value]) * self.size

    def read(self, addr, n):
        return bytes(self.mem[addr - self.base : addr - self.base + n])

    def write(self, addr, data):
        self.mem[addr - self.base : addr - self.base + len(data)] = data

    # --- protocol -----------------------------------------------------------------------------

    def _fail(self, message):
        raise AxiProtocolError(f"cycle {self.cycle}: {message}")

    def _resp(self, lo, hi, write):
        """The response to an access of bytes ``lo <= a < hi``."""
        if lo < self.base or hi > self.base + self.size:
            return Resp.DECERR
        for err in self.errors:
            if (err.write if write else err.read) and err.hits(lo, hi):
                return err.resp
        return Resp.OKAY

    def _check_burst(self, ch, addr, length, size, burst):
        beats = length + 1
        if burst != Burst.INCR.value:
            self._fail(f"{ch} burst type {burst}, only INCR is supported")
        if 1 << size != self.nbytes:
            self._fail(f"{ch}size {size} is not the bus width of {self.nbytes} bytes")
        if beats > self.max_len:
            self._fail(f"{ch} burst of {beats} beats is longer than {self.max_len}")
        if self.aligned and addr % self.nbytes:
            self._fail(f"{ch}addr {addr:#x} is not aligned to {self.nbytes} bytes")
        start = addr - addr % self.nbytes
        if start // 4096 != (start + beats * self.nbytes - 1) // 4096:
            self._fail(f"{ch} burst at {addr:#x} of {beats} beats crosses a 4 KiB boundary")
        return _Txn(start, beats, 0)

    def _hold(self, ch, prev, now):
        """A VALID that was not taken must stay high with the same payload."""
        if prev is not None and prev != now:
            self._fail(f"{ch}valid withdrawn or payload changed before {ch}ready: {prev} -> {now}")

    def _draw(self, ch):
        return self.rng.random() >= self.stall[ch]

    async def run(self, ctx):
        """The model: a background testbench (``simulate(..., background=[model.run])``)."""
        bus = self.bus
        ar = [bus.araddr, bus.arlen, bus.arsize, bus.arburst.as_value(), bus.arid]
        aw = [bus.awaddr, bus.awlen, bus.awsize, bus.awburst.as_value(), bus.awid]
        w = [bus.wdata, bus.wstrb, bus.wlast]
        handshakes = [bus.arvalid, bus.arready, bus.rvalid, bus.rready, bus.awvalid, bus.awready]
        handshakes += [bus.wvalid, bus.wready, bus.bvalid, bus.bready]
        reads = deque()  # accepted ARs, head being answered on R
        w_wait = deque()  # accepted AWs whose W beats are to come
        b_wait = deque()  # bursts whose W is complete, B to give
        held = dict.fromkeys(("ar", "aw", "w"))  # payload of a VALID not yet taken
        r_on = b_on = False  # R / B VALID being offered

        async for _, _, *values in ctx.tick().sample(*handshakes, *ar, *aw, *w):
            arv, arr, rv, rr, awv, awr, wv, wr, bv, br = values[:10]
            ar_p, aw_p, w_p = values[10:15], values[15:20], values[20:23]

            # AR
            self._hold("ar", held["ar"], tuple(ar_p) if arv else None)
            held["ar"] = tuple(ar_p) if arv and not arr else None
            if arv and arr:
                addr, length, size, burst, ident = ar_p
                txn = self._check_burst("ar", addr, length, size, burst)
                txn.id, txn.due = ident, self.cycle + self.read_latency
                reads.append(txn)
                self.ar_log.append((addr, length + 1))
                self.max_reads_outstanding = max(self.max_reads_outstanding, len(reads))
            # R
            if rv and rr:
                self.r_cycles.append(self.cycle)
                txn = reads[0]
                txn.beat += 1
                if txn.beat == txn.beats:
                    reads.popleft()
                r_on = False
            # AW
            self._hold("aw", held["aw"], tuple(aw_p) if awv else None)
            held["aw"] = tuple(aw_p) if awv and not awr else None
            if awv and awr:
                addr, length, size, burst, ident = aw_p
                txn = self._check_burst("aw", addr, length, size, burst)
                txn.id = ident
                span = (txn.addr, txn.addr + txn.beats * self.nbytes)
                txn.resp = self._resp(*span, write=True)
                w_wait.append(txn)
                self.aw_log.append((addr, length + 1))
                outstanding = len(w_wait) + len(b_wait)
                self.max_writes_outstanding = max(self.max_writes_outstanding, outstanding)
            # W
            self._hold("w", held["w"], tuple(w_p) if wv else None)
            held["w"] = tuple(w_p) if wv and not wr else None
            if wv and wr:
                self.w_cycles.append(self.cycle)
                self._write_beat(w_wait, b_wait, *w_p)
            # B
            if bv and br:
                b_wait.popleft()
                b_on = False

            self.reads_outstanding = len(reads)
            self.writes_outstanding = len(w_wait) + len(b_wait)
            self.cycle += 1
            self._drive(ctx, reads, w_wait, b_wait, r_on, b_on)
            r_on = bool(reads) and (r_on or self._r_offer(ctx, reads[0]))
            b_on = bool(b_wait) and (b_on or self._b_offer(ctx, b_wait[0]))

    def _write_beat(self, w_wait, b_wait, data, strb, last):
        txn = w_wait[0]
        if bool(last) != (txn.beat == txn.beats - 1):
            self._fail(f"wlast={last} on beat {txn.beat} of a {txn.beats}-beat write")
        offset = txn.addr + txn.beat * self.nbytes - self.base
        for lane in range(self.nbytes):
            if strb >> lane & 1 and 0 <= offset + lane < self.size:
                self.strobes[offset + lane] = min(self.strobes[offset + lane] + 1, 255)
                if txn.resp == Resp.OKAY:
                    self.mem[offset + lane] = data >> (8 * lane) & 0xFF
        txn.beat += 1
        if txn.beat == txn.beats:
            w_wait.popleft()
            txn.due = self.cycle + self.write_latency
            b_wait.append(txn)

    def _drive(self, ctx, reads, w_wait, b_wait, r_on, b_on):
        """READY for the next cycle; clear R / B VALID once taken."""
        bus = self.bus
        n_writes = len(w_wait) + len(b_wait)
        ar_room = self.max_reads is None or len(reads) < self.max_reads
        aw_room = self.max_writes is None or n_writes < self.max_writes
        ctx.set(bus.arready, ar_room and self._draw("ar"))
        ctx.set(bus.awready, aw_room and self._draw("aw"))
        ctx.set(bus.wready, bool(w_wait) and self._draw("w"))
        if not r_on:
            ctx.set(bus.rvalid, 0)
        if not b_on:
            ctx.set(bus.bvalid, 0)

    def _r_offer(self, ctx, txn):
        """Offer the next R beat of ``txn`` if it is due and not stalled; True if offered."""
        if self.cycle < txn.due or not self._draw("r"):
            return False
        bus = self.bus
        lo = txn.addr + txn.beat * self.nbytes
        resp = self._resp(lo, lo + self.nbytes, write=False)
        data = 0
        if resp == Resp.OKAY:
            data = int.from_bytes(self.read(lo, self.nbytes), "little")
        ctx.set(bus.rdata, data)
        ctx.set(bus.rresp, resp)
        ctx.set(bus.rid, txn.id)
        ctx.set(bus.rlast, txn.beat == txn.beats - 1)
        ctx.set(bus.rvalid, 1)
        return True

    def _b_offer(self, ctx, txn):
        if self.cycle < txn.due or not self._draw("b"):
            return False
        ctx.set(self.bus.bresp, txn.resp)
        ctx.set(self.bus.bid, txn.id)
        ctx.set(self.bus.bvalid, 1)
        return True
