"""A seeded random soak of the driver through the uAPI: clients, mappings, jobs and faults.

``SOAK_JOBS`` jobs (1,000 by default) from ``SOAK_SEED`` (1): three clients, each with a context
and a few buffers, map and unmap them at random page-aligned VAs and submit random streams of
COPY, FILL, WRITE_VALUE, GEMM and CONV2D, several jobs in flight at once. About 5% of the jobs
each fault on an unmapped VA (EFAULT), hang (ETIMEDOUT, one reset each) or meet an injected bus
error (EIO). A model (``soak_model.py``) predicts every errno and every byte of every buffer; the
buffers are read back through their CPU mappings whenever a client is idle, and at the end.

A failing job's commands before the failing one have run, none after it has. The command that
faults on an unmapped operand writes nothing (exact), and ``fault_va`` is the bus beat it could
not translate. A bus error (on an operand's first byte, or on the firmware's load of the stream)
ends the job EIO with ``hw_offset`` the command's; what that command wrote is unknown. A job on
the hardware behind a hung one is lost in the reset and ends ECANCELED without having run: that
is accepted only for a job in flight at a reset (submitted before the hung job's fence signaled,
and signaled with it), at most ``queue_depth - 1`` per reset. Its effect is none. What a hung
job wrote is unknown until rewritten. A context that hangs ``ban_hangs`` times is banned and
replaced; a client that hangs ``client_ban_hangs`` times is banned and reopened.

At the end every client is closed and the Ledger (tests/cosim/driver_idle.py) checks that the
driver is idle and that no byte of its pool leaked. One summary line is printed.
"""

import errno
import logging
import os
import random
import time
from collections import deque

import cocotb
import numpy as np
from driver_idle import Ledger
from soak_jobs import HANG_VA, KINDS, WINDOW_PAGES, WINDOW_VA, Job, Maker, errno_name
from soak_model import (
    BEAT_BLOCK,
    PAGE,
    Buffer,
    Conv2d,
    Fill,
    Gemm,
    Region,
    Space,
    WriteValue,
    overlapping,
    read_regions,
    write_regions,
)
from tinynpu.driver.uapi import Ioctl, UapiError
from tinynpu.rtl.layouts import ErrorCode
from tinynpu.sim.system import boot

JOBS = int(os.environ.get("SOAK_JOBS", "1000"))
SEED = int(os.environ.get("SOAK_SEED", "1"))
CLIENTS = 3
P_FAULT = P_HANG = P_BUS = 0.05
#: Chance, before each job, of an idle phase instead: VM_BIND, CPU writes, a readback.
P_BIND = 0.08
#: Chance that an idle phase tries an UNMAP under a running job (EBUSY).
P_PROBE = 0.2
MAX_IN_FLIGHT = 3
#: Share of the bus errors that refuse the firmware's load of the job's stream.
P_STREAM_FETCH = 0.2
#: The operand name of a bus error on the stream itself.
STREAM = "stream fetch"
#: A hang: a FILL of the 64 KiB hang buffer (about 80 us of device time) given 5 us.
HANG_PAGES, HANG_TIMEOUT_NS = 16, 5_000
#: A fence not signaled this long after its SUBMIT is a lost completion.
LOST_NS = 10_000_000
#: The stream buffer: 16 stream slots of 512 bytes, then a page of markers.
STREAM_VA, SLOT_BYTES, SLOTS = 0x10_0000, 512, 16
MARK_OFFSET = SLOTS * SLOT_BYTES
MARK_VA = STREAM_VA + MARK_OFFSET
#: Data buffers (name, pages); the hang buffer is mapped at HANG_VA too.
DATA_BUFFERS = (("d0", 4), ("d1", 4), ("d2", 2), ("hang", HANG_PAGES))
#: A job lost in a reset has its fence signaled with the hung job's, at the same time.
SAME_RESET_NS = 0
#: The most jobs the test's simulated-time limit allows for.
MAX_JOBS = 10_000
#: Simulated time one job may take on average: about eight times the 12.4 us measured (seeds 1
#: to 3 at 1,000 jobs, seed 1 at 10,000). The test's literal limit is this times MAX_JOBS.
SIM_NS_PER_JOB = 100_000

log = logging.getLogger("cocotb.soak")


class Stats:
    """The soak's counts."""

    def __init__(self):
        self.jobs = self.faults = self.hangs = self.bus_errors = self.canceled = 0
        self.mismatches = self.lost = self.probes = self.clients = 0
        self.binds = {}  # (MAP or UNMAP, errno) -> count
        self.timeouts = []  # signal times of the jobs that ended ETIMEDOUT
        self.canceled_jobs = []

    def bind(self, op, code):
        key = f"{op} {errno_name(code)}"
        self.binds[key] = self.binds.get(key, 0) + 1

    def mismatch(self, message):
        self.mismatches += 1
        if self.mismatches <= 20:
            log.error("MISMATCH (seed %d): %s", SEED, message)


class Soak:
    """What the clients share: the system, the job budget, the bus-fault slot, the counts."""

    def __init__(self, system, query):
        self.system, self.query = system, query
        self.stats = Stats()
        self.budget = JOBS
        self.bus_busy = False
        self.faults = system.faults
        self.beat_bytes = system.soc.config.mem_data_width // 8
        self.next_index = 0

    def take(self):
        """Take one job of the budget; False when it is spent."""
        if self.budget <= 0:
            return False
        self.budget -= 1
        self.next_index += 1
        return True

    def now(self):
        return int(self.system.now_ns())


async def errno_of(coroutine):
    """The errno a request fails with, 0 if it succeeds."""
    try:
        await coroutine
    except UapiError as error:
        return error.errno
    return 0


class Tenant:
    """One client slot: a client, its context, its buffers, and the model of them."""

    def __init__(self, soak, slot):
        self.soak, self.slot = soak, slot
        self.system, self.stats = soak.system, soak.stats
        self.rng = random.Random(f"{SEED}/{slot}")
        self.in_flight = deque()
        self.count = 0
        self.last_job = None  # the index of the job settled last

    # --- set-up ------------------------------------------------------------------------------

    async def open(self):
        """A new client, its buffers (random contents) and a context."""
        self.client = self.system.open()
        self.stats.clients += 1
        self.client_hangs = 0
        self.buffers = {}
        self.maps = {}
        for name, pages in (("stream", 3), *DATA_BUFFERS):
            handle = await self.client.bo_create(pages * PAGE)
            self.buffers[name] = Buffer(handle, pages * PAGE, f"{self.slot}.{name}")
            self.maps[name] = await self.client.mmap(handle, pages * PAGE)
        self.handles = [b.handle for b in self.buffers.values()]
        for name, _ in DATA_BUFFERS:
            buf = self.buffers[name]
            data = np.frombuffer(self.rng.randbytes(buf.size), np.uint8)
            await self.maps[name].write(0, data.tobytes())
            buf.store(0, data)
        await self.new_context()

    async def new_context(self):
        """A context with the stream and hang buffers at their fixed VAs, data buffers mapped."""
        self.ctx = await self.client.context_create()
        self.space = Space()
        self.maker = Maker(self.rng, self.space)
        self.ctx_hangs = self.ctx_canceled = 0
        stream, hang = self.buffers["stream"], self.buffers["hang"]
        for buf, va in ((stream, STREAM_VA), (hang, HANG_VA)):
            await self.client.vm_map(self.ctx, buf.handle, va, buf.size)
            assert self.space.map(va, buf, 0, buf.size) == 0
        for name, _ in DATA_BUFFERS:
            for _ in range(self.rng.randint(1, 3)):
                await self.random_map(self.buffers[name])

    # --- VM_BIND and the CPU, with no job in flight -----------------------------------------

    async def random_map(self, buf=None):
        """VM_BIND MAP of a random part of a data buffer at a random VA of the window."""
        rng = self.rng
        if buf is None:
            buf = self.buffers[rng.choice(DATA_BUFFERS)[0]]
        pages = buf.size // PAGE
        first = rng.randrange(pages)
        count = rng.randint(1, min(4, pages - first))
        va = WINDOW_VA + rng.randrange(WINDOW_PAGES - count + 1) * PAGE
        size = count * PAGE
        expected = self.space.map(va, buf, first * PAGE, size)
        got = await errno_of(
            self.client.vm_map(self.ctx, buf.handle, va, size, bo_offset=first * PAGE)
        )
        self.stats.bind("map", got)
        if got != expected:
            self.stats.mismatch(
                f"client {self.slot}: VM_BIND MAP {buf.name}+{first * PAGE:#x} at {va:#x}+"
                f"{size:#x}: {errno_name(got)}, expected {errno_name(expected)}"
            )

    async def random_unmap(self):
        """VM_BIND UNMAP of a random range of the window (ENOENT if nothing is mapped there)."""
        rng = self.rng
        count = rng.randint(1, 6)
        va = WINDOW_VA + rng.randrange(WINDOW_PAGES - count + 1) * PAGE
        mapped = [p for p in self.space.pages if WINDOW_VA <= p < WINDOW_VA + WINDOW_PAGES * PAGE]
        if mapped and rng.random() < 0.6:  # mostly where something is: splits, partial hits
            va = min(rng.choice(mapped) - rng.randrange(2) * PAGE, HANG_VA - count * PAGE)
            va = max(va, WINDOW_VA)
        hit = not self.space.is_unmapped(va, count * PAGE)
        expected = 0 if hit else errno.ENOENT
        got = await errno_of(self.client.vm_unmap(self.ctx, va, count * PAGE))
        self.stats.bind("unmap", got)
        if got != expected:
            self.stats.mismatch(
                f"client {self.slot}: VM_BIND UNMAP {va:#x}+{count * PAGE:#x}: "
                f"{errno_name(got)}, expected {errno_name(expected)}"
            )
        if got == 0:
            self.space.unmap(va, count * PAGE)

    async def cpu_write(self):
        """Random bytes into part of a data buffer through its CPU mapping."""
        rng = self.rng
        name = rng.choice(DATA_BUFFERS)[0]
        buf = self.buffers[name]
        length = rng.randint(1, 1024)
        offset = rng.randrange(buf.size - length + 1)
        data = rng.randbytes(length)
        await self.maps[name].write(offset, data)
        buf.store(offset, np.frombuffer(data, np.uint8))

    async def verify(self, when):
        """Read every buffer back; a known byte that differs is a mismatch (then resynced)."""
        for name, buf in self.buffers.items():
            actual = await self.maps[name].read(0, buf.size)
            diff = buf.compare(actual)
            if diff.size:
                first = int(diff[0])
                self.stats.mismatch(
                    f"client {self.slot} {when}: {diff.size} bytes of {name} differ, first at "
                    f"{first:#x}: {actual[first]:#04x}, model {int(buf.data[first]):#04x} "
                    f"(after job {self.last_job})"
                )
                buf.store(0, np.frombuffer(actual, np.uint8))

    async def idle_phase(self):
        """Wait for every job; read back; then a few VM_BINDs and CPU writes (or a probe)."""
        await self.drain()
        await self.verify("idle")
        hang = self.buffers["hang"]
        if hang.unknown.any() and self.rng.random() < 0.5:  # known again once rewritten
            data = self.rng.randbytes(hang.size)
            await self.maps["hang"].write(0, data)
            hang.store(0, np.frombuffer(data, np.uint8))
        if self.rng.random() < P_PROBE and self.soak.take():
            await self.probe()
            return
        for _ in range(self.rng.randint(1, 4)):
            op = self.rng.random()
            if op < 0.45:
                await self.random_map()
            elif op < 0.85:
                await self.random_unmap()
            else:
                await self.cpu_write()

    # --- jobs --------------------------------------------------------------------------------

    def job(self, kind, cmds, **fields):
        return Job(self.soak.next_index, kind, cmds, **fields)

    async def submit(self, job):
        """Write the job's stream to the next slot and submit it; start its waiter."""
        data = job.stream()
        slot = (self.count % SLOTS) * SLOT_BYTES
        self.count += 1
        await self.maps["stream"].write(slot, data)
        self.buffers["stream"].store(slot, np.frombuffer(data, np.uint8))
        try:
            job.seqno = await self.client.submit(
                self.ctx,
                STREAM_VA + slot,
                len(data),
                handles=self.handles,
                timeout_ns=job.timeout_ns,
            )
        except UapiError as error:
            self.stats.mismatch(f"client {self.slot}: SUBMIT of {job.describe()}: {error}")
            return
        self.stats.jobs += 1
        job.t_submit = self.soak.now()
        job.ctx = self.ctx
        job.task = cocotb.start_soon(self._wait(job))
        self.in_flight.append(job)

    async def _wait(self, job):
        """WAIT for the job's fence; a fence not signaled within LOST_NS is a lost completion."""
        try:
            reply = await self.client.wait(job.ctx, job.seqno, job.t_submit + LOST_NS)
        except UapiError as error:
            if error.errno != errno.ETIMEDOUT:
                raise
            job.lost = True
            self.stats.lost += 1
            log.error("LOST (seed %d): %s not signaled in %d ns", SEED, job.describe(), LOST_NS)
            reply = await self.client.wait(job.ctx, job.seqno, self.soak.now() + 10**9)
        job.t_done = self.soak.now()
        if reply["job_errno"] == errno.ETIMEDOUT:
            self.stats.timeouts.append(job.t_done)
        return reply

    async def settle_oldest(self):
        """Wait for the oldest job in flight; check its reply; apply its effect to the model."""
        job = self.in_flight.popleft()
        reply = job.reply = await job.task
        self.last_job = job.index
        got = reply["job_errno"]
        if got == errno.ECANCELED:
            self.stats.canceled += 1
            self.stats.canceled_jobs.append(job)
            self.ctx_canceled += 1
            if reply["hw_error"] or reply["hw_offset"] or reply["fault_va"]:
                self.stats.mismatch(f"{job.describe()}: ECANCELED with {reply}")
            return
        if got != job.expected or not self._details_match(job, reply):
            self.stats.mismatch(
                f"client {self.slot}: {job.describe()}: got {reply}{self._why(job)}"
            )
            for cmd in job.cmds:
                self._spoil(cmd)
            return
        if got == errno.ETIMEDOUT:
            self.stats.hangs += 1
            self.ctx_hangs += 1
            self.client_hangs += 1
        elif got == errno.EFAULT:
            self.stats.faults += 1
        elif got == errno.EIO:
            self.stats.bus_errors += 1
        self._apply(job, got)

    def _details_match(self, job, reply):
        if job.expected == 0:
            return reply == {"job_errno": 0, "hw_error": 0, "hw_offset": 0, "fault_va": 0}
        if job.expected == errno.ETIMEDOUT:
            return True
        offset = job.offsets[job.fail]
        if job.expected == errno.EIO:
            return reply["hw_error"] == ErrorCode.BUS_ERROR.value and reply["hw_offset"] == offset
        cmd = job.cmds[job.fail]
        region = cmd.operands()[job.operand][1]
        va = reply["fault_va"]
        # The MMU reports the address of the bus beat it could not translate.
        beat = self.soak.beat_bytes
        first = region.va - region.va % beat
        if isinstance(cmd, Gemm | Conv2d):
            where = first <= va < region.va + region.extent
        else:
            where = va == first
        return (
            where
            and reply["hw_error"] == ErrorCode.PAGE_FAULT.value
            and (reply["hw_offset"] == offset)
        )

    def _why(self, job):
        if job.fail is None or job.operand == STREAM:
            return ""
        region = job.cmds[job.fail].operands()[job.operand][1]
        return f"; command at {job.offsets[job.fail]}, its {job.operand} {region}"

    def _spoil(self, cmd):
        for region in write_regions(cmd):
            if self.space.is_mapped(region.va, region.extent):
                self.space.spoil(region)

    def _apply(self, job, got):
        if got == errno.ETIMEDOUT:
            for cmd in job.cmds:
                self._spoil(cmd)
            return
        ran = job.cmds if got == 0 else job.cmds[: job.fail]
        for cmd in ran:
            cmd.apply(self.space)
        if got == errno.EIO and job.operand != STREAM:
            self._spoil(job.cmds[job.fail])

    async def drain(self):
        """Settle every job in flight."""
        while self.in_flight:
            await self.settle_oldest()

    def normal(self):
        cmds = self.maker.stream(self.rng.randint(1, 4))
        if not cmds:  # nothing could be placed: the hang buffer is always mapped
            cmds = [WriteValue(HANG_VA + 8 * self.rng.randrange(512), self.rng.getrandbits(64))]
        return self.job("normal", cmds)

    def faulting(self):
        """Commands, then one with an operand wholly unmapped, then commands that never run."""
        rng = self.rng
        for _ in range(8):
            kind = rng.choice(KINDS)
            operand = rng.choice(OPERANDS[kind])
            cmd = self.maker.command(kind, unmapped=operand)
            if cmd is not None:
                break
        else:
            return self.normal()
        before = self.maker.stream(rng.randint(0, 2))
        after = self.maker.stream(rng.randint(0, 2))
        return self.job(
            "fault",
            [*before, cmd, *after],
            fail=len(before),
            operand=operand,
            expected=errno.EFAULT,
        )

    async def hang(self):
        """A FILL far longer than its timeout. One that may ban the context runs alone."""
        query = self.soak.query
        hangs = sum(job.kind == "hang" for job in self.in_flight)
        may_ban = self.ctx_hangs + hangs + 1 >= query["ban_hangs"] or (
            self.client_hangs + hangs + 1 >= query["client_ban_hangs"]
        )
        if may_ban:
            await self.drain()
        region = Region(HANG_VA, PAGE, HANG_PAGES, PAGE)
        job = self.job(
            "hang",
            [Fill(region, self.rng.getrandbits(32))],
            timeout_ns=HANG_TIMEOUT_NS,
            expected=errno.ETIMEDOUT,
        )
        await self.submit(job)
        if may_ban:
            await self.drain()
            banned = self.ctx_hangs >= query["ban_hangs"]
            if banned or self.client_hangs >= query["client_ban_hangs"]:
                await self.banned()

    async def banned(self):
        """The context (or the client) is banned: check it; replace it."""
        query = self.soak.query
        got = await errno_of(self.client.submit(self.ctx, STREAM_VA, 8))
        if got != errno.ECANCELED:
            self.stats.mismatch(f"client {self.slot}: SUBMIT on a banned context: {got}")
        await self.check_status(banned=1)
        await self.client.context_destroy(self.ctx)
        if self.client_hangs < query["client_ban_hangs"]:
            await self.new_context()
            return
        got = await errno_of(self.client.context_create())
        if got != errno.EPERM:
            self.stats.mismatch(f"client {self.slot}: CONTEXT_CREATE of a banned client: {got}")
        await self.retire()
        await self.open()

    async def check_status(self, banned):
        """GET_RESET_STATUS of the context: its hangs and lost jobs as seen, the client's hangs."""
        status = await self.client.ioctl(Ioctl.GET_RESET_STATUS, context=self.ctx)
        expected = {
            "hangs": self.ctx_hangs,
            "canceled": self.ctx_canceled,
            "banned": banned,
            "client_hangs": self.client_hangs,
        }
        seen = {k: status[k] for k in expected}
        if seen != expected:
            self.stats.mismatch(f"client {self.slot}: reset status {seen}, expected {expected}")

    async def retire(self):
        """Check the buffers a last time and close the client."""
        await self.drain()
        await self.verify("at close")
        await self.client.close()
        self.system.clients.remove(self.client)

    async def bus_error(self):
        """A job whose one command meets a refused beat at its operand's first byte: EIO.

        It runs alone in its context, and one such job at a time over all clients: the fault,
        armed on that byte's physical address, must meet that command and nothing else, and is
        disarmed after the job (a job lost in a reset never reached it).
        """
        faults = self.soak.faults
        if self.soak.bus_busy:
            await self.submit(self.normal())
            return
        self.soak.bus_busy = True
        try:
            await self.drain()
            job, manager, address = self._bus_job()
            if job is None:
                await self.submit(self.normal())
                return
            fired_before = self._refusals()
            faults.bus(manager, address=address, length=1)
            await self.submit(job)
            await self.drain()
            fired = self._refusals() - fired_before
            faults.clear()
            if job.reply is not None and (job.reply["job_errno"] == errno.EIO) != (fired == 1):
                self.stats.mismatch(f"{job.describe()}: {fired} beats refused, {job.reply}")
        finally:
            self.soak.bus_busy = False

    def _refusals(self):
        injected = self.soak.faults.injected
        return injected["refused_reads"] + injected["refused_writes"]

    def _bus_job(self):
        """The job, the manager and the physical address of the beat to refuse."""
        rng = self.rng
        if rng.random() < P_STREAM_FETCH:
            # The firmware's load of the stream itself: no command runs; the offset is 0.
            job = self.job("bus", self.normal().cmds, fail=0, operand=STREAM, expected=errno.EIO)
            slot = (self.count % SLOTS) * SLOT_BYTES  # where submit() will put it
            stream = self.buffers["stream"].handle
            return job, "dma_read", self.soak.faults.buffer_address(self.client, stream, slot)
        cmd = None
        for _ in range(8):
            cmd = self.maker.command(rng.choice(KINDS))
            if cmd is not None:
                break
        if cmd is None:
            return None, None, None
        name = rng.choice(list(cmd.operands()))
        role, region = cmd.operands()[name]
        ((buf, offset, _),) = self.space.pieces(region.va, 1)
        target = [(buf.name, offset, offset + 1)]
        before = []
        for earlier in self.maker.stream(rng.randint(0, 2)):
            widen, regions = (
                (1, write_regions(earlier)) if role == "w" else (BEAT_BLOCK, read_regions(earlier))
            )
            touched = [i for r in regions for i in self.space.intervals(r, widen)]
            if not overlapping(touched, target):
                before.append(earlier)
        after = self.maker.stream(rng.randint(0, 2))
        job = self.job(
            "bus", [*before, cmd, *after], fail=len(before), operand=name, expected=errno.EIO
        )
        manager = "dma_write" if role == "w" else "dma_read"
        address = self.soak.faults.buffer_address(self.client, buf.handle, offset)
        return job, manager, address

    async def probe(self):
        """UNMAP while a job of the context is on the hardware: EBUSY, and nothing unmapped.

        The job's first command writes a marker; once it is seen the job is running, and its
        FILL of the hang buffer keeps it there for tens of microseconds.
        """
        token = self.rng.getrandbits(63) | 1
        region = Region(HANG_VA, PAGE, HANG_PAGES, PAGE)
        cmds = [WriteValue(MARK_VA, token), Fill(region, self.rng.getrandbits(32))]
        job = self.job("probe", cmds)
        await self.submit(job)
        marker = token.to_bytes(8, "little")
        while job.task is not None and not job.task.done():
            if await self.maps["stream"].read(MARK_OFFSET, 8) == marker:
                self.stats.probes += 1
                va, size = self._mapped_range()
                got = await errno_of(self.client.vm_unmap(self.ctx, va, size))
                self.stats.bind("unmap", got)
                if got != errno.EBUSY:
                    self.stats.mismatch(
                        f"client {self.slot}: UNMAP {va:#x}+{size:#x} under running "
                        f"{job.describe()}: {errno_name(got)}, expected EBUSY"
                    )
                    if got == 0:
                        self.space.unmap(va, size)
                break
            await self.system.sleep_ns(500)
        await self.drain()

    def _mapped_range(self):
        runs = self.space.runs(WINDOW_VA, HANG_VA + HANG_PAGES * PAGE)
        va, length = self.rng.choice(runs)
        pages = self.rng.randint(1, length // PAGE)
        return va, pages * PAGE

    # --- the loop -------------------------------------------------------------------------

    async def run(self):
        """Jobs until the budget is spent, then settle them."""
        rng = self.rng
        while True:
            if rng.random() < P_BIND:
                await self.idle_phase()
                continue
            if not self.soak.take():
                break
            r = rng.random()
            if r < P_HANG:
                await self.hang()
                continue
            if r < P_HANG + P_BUS:
                await self.bus_error()
            else:
                await self.submit(
                    self.faulting() if r < P_HANG + P_BUS + P_FAULT else self.normal()
                )
            while len(self.in_flight) >= MAX_IN_FLIGHT:
                await self.settle_oldest()
        await self.drain()
        await self.verify("at the end")
        await self.check_status(banned=0)


#: The operands a faulting command may have unmapped, by kind.
OPERANDS = {
    "copy": ("src", "dst"),
    "fill": ("dst",),
    "write_value": ("addr",),
    "gemm": ("a", "b", "c", "params"),
    "conv2d": ("input", "weights", "output", "params"),
}


def check_cancellations(stats, depth):
    """Every ECANCELED job was in flight at a reset, and no reset lost more than depth - 1."""
    per_reset = {}
    for job in stats.canceled_jobs:
        resets = [
            t for t in stats.timeouts if job.t_submit < t and abs(job.t_done - t) <= SAME_RESET_NS
        ]
        if not resets:
            stats.mismatch(f"{job.describe()}: ECANCELED at {job.t_done} ns, in flight at no reset")
            continue
        per_reset[resets[0]] = per_reset.get(resets[0], 0) + 1
    for t, count in per_reset.items():
        if count > depth - 1:
            stats.mismatch(
                f"the reset at {t} ns canceled {count} jobs, at most {depth - 1} expected"
            )


def leaked_bytes(ledger):
    """Bytes of the driver's pool neither free nor in a live address space's tables."""
    device = ledger.device
    tables = ledger._table_bytes() - ledger.tables
    return ledger.free_bytes - tables - device.memory.free_bytes


@cocotb.test(timeout_time=1_000, timeout_unit="ms")  # MAX_JOBS * SIM_NS_PER_JOB
async def soak(dut):
    """The soak (see the module's docstring)."""
    assert 0 < JOBS <= MAX_JOBS, f"SOAK_JOBS={JOBS}: 1 to {MAX_JOBS} (the simulated-time limit)"
    started = time.monotonic()
    system = await boot(dut)
    ledger = Ledger(system.device)
    witness = system.open()
    query = await witness.query()
    witness_ctx = await witness.context_create()
    soak = Soak(system, query)
    tenants = [Tenant(soak, slot) for slot in range(CLIENTS)]
    for tenant in tenants:
        await tenant.open()
    await system.gather(*(tenant.run() for tenant in tenants))
    stats = soak.stats
    # What hangs and bus errors left unknown, never rewritten since: the bytes not checked.
    unknown = sum(int(b.unknown.sum()) for t in tenants for b in t.buffers.values())
    resets = (await witness.reset_status(witness_ctx))["resets"]
    for client in list(system.clients):
        await client.close()
    system.clients = []
    check_cancellations(stats, query["queue_depth"])
    leaked = leaked_bytes(ledger)
    wall = time.monotonic() - started
    log.info(
        "soak seed %d: jobs %d, faults %d, hangs %d, bus errors %d, resets %d, canceled %d, "
        "probes %d, clients %d, unknown bytes %d, mismatches %d, lost completions %d, "
        "leaked bytes %d, sim %.1f us, wall %.1f s (%.1f jobs/s); VM_BIND %s",
        SEED,
        stats.jobs,
        stats.faults,
        stats.hangs,
        stats.bus_errors,
        resets,
        stats.canceled,
        stats.probes,
        stats.clients,
        unknown,
        stats.mismatches,
        stats.lost,
        leaked,
        system.now_ns() / 1000,
        wall,
        stats.jobs / wall,
        ", ".join(f"{k} {v}" for k, v in sorted(stats.binds.items())),
    )
    assert stats.mismatches == 0, f"{stats.mismatches} mismatches (seed {SEED})"
    assert stats.lost == 0, f"{stats.lost} lost completions (seed {SEED})"
    assert leaked == 0, f"{leaked} bytes leaked (seed {SEED})"
    assert resets == stats.hangs, f"{resets} resets for {stats.hangs} hangs (seed {SEED})"
    sim_ns = system.now_ns()
    assert sim_ns <= JOBS * SIM_NS_PER_JOB, f"{sim_ns:.0f} ns for {JOBS} jobs (seed {SEED})"
    await ledger.finish()
    await system.shutdown()
