"""Unit tests of the DMA engine in amaranth.sim, against the AXI4 memory model of axi_model.py.

Each simulation runs a list of commands back to back on ``DmaEngine`` with a real
``lib.memory.Memory`` as its SRAM (connected with ``wiring.connect``) and checks every command
against a Python reference: the whole of host memory and of the SRAM (pre-filled with seeded
random bytes, so a stray write shows), the exact list of AR and AW bursts, how many W beats
strobed each byte, the error code, and that nothing is outstanding at ``done``. Random commands
come from seeded ``random.Random`` instances: every run is the same.
"""

import random
from dataclasses import dataclass, field

import pytest
from amaranth.back import verilog
from amaranth.hdl import ClockDomain, Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from axi_model import AxiMemory, AxiProtocolError, ErrorRange
from rtl_kit import construction_error, simulate
from tinynpu.rtl.axi import AXI4Signature, Burst, Resp
from tinynpu.rtl.dma import MAX_WRITES, DmaCommand, DmaEngine
from tinynpu.rtl.layouts import DmaError, DmaKind

#: Host memory of the model: a 40-bit address with high bits set, 128 KiB.
BASE = 0xA5_4320_0000
SIZE = 128 * 1024
#: Source rows are drawn in the first half, destination rows in the second.
SRC, DST = BASE, BASE + SIZE // 2
COPY, LOAD, STORE, FILL = DmaKind.COPY, DmaKind.LOAD, DmaKind.STORE, DmaKind.FILL


#: The fields of a command that the tests set; the others are zero.
FIELDS = (
    "src",
    "dst",
    "row_bytes",
    "rows",
    "src_pitch",
    "dst_pitch",
    "pattern",
    "src_plane_pitch",
    "dst_plane_pitch",
    "src_volume_pitch",
    "dst_volume_pitch",
)


def cmd(kind, **fields):
    """A command as a dict of :class:`DmaCommand` fields: one row, plane and volume unless
    ``rows``, ``planes`` and ``volumes`` say."""
    fields = {"rows": 1, "planes": 1, "volumes": 1, **fields}
    return {"kind": kind, **dict.fromkeys(FIELDS, 0), **fields}


# --- reference ------------------------------------------------------------------------------------


def rows_of(c, side):
    """``(start, length)`` of each row of side ``"src"`` or ``"dst"`` of command ``c``, plane
    after plane, volume after volume."""
    pitches = [c[f"{side}_volume_pitch"], c[f"{side}_plane_pitch"], c[f"{side}_pitch"]]
    return [
        (c[side] + v * pitches[0] + p * pitches[1] + r * pitches[2], c["row_bytes"])
        for v in range(c["volumes"])
        for p in range(c["planes"])
        for r in range(c["rows"])
    ]


def split(rows, nbytes, max_burst):
    """The bursts ``(addr, beats)`` the engine must issue for ``rows``, in order."""
    bursts = []
    for start, length in rows:
        addr = start - start % nbytes
        beats = -(-(start % nbytes + length) // nbytes)
        while beats:
            n = min(beats, max_burst, (4096 - addr % 4096) // nbytes)
            bursts.append((addr, n))
            addr, beats = addr + n * nbytes, beats - n
    return bursts


def reference(c, mem, sram, sram_bytes):
    """Apply ``c`` to copies of ``mem`` (at BASE) and ``sram``; return them and the error."""
    mem, sram = bytearray(mem), bytearray(sram)
    if not c["volumes"] or not c["planes"] or not c["rows"] or not c["row_bytes"]:
        return mem, sram, DmaError.NONE
    sram_side = {LOAD: "dst", STORE: "src"}.get(c["kind"])
    if sram_side and rows_of(c, sram_side)[-1][0] + c["row_bytes"] > sram_bytes:
        return mem, sram, DmaError.SRAM_RANGE
    for (s, n), (d, _) in zip(rows_of(c, "src"), rows_of(c, "dst"), strict=True):
        if c["kind"] == FILL:
            data = (c["pattern"].to_bytes(4, "little") * (n // 4 + 1))[:n]
        elif c["kind"] == STORE:
            data = sram[s : s + n]
        else:
            data = mem[s - BASE : s - BASE + n]
        if c["kind"] == LOAD:
            sram[d : d + n] = data
        else:
            mem[d - BASE : d - BASE + n] = data
    return mem, sram, DmaError.NONE


# --- simulation -------------------------------------------------------------------------------


class System(wiring.Component):
    """The engine and its SRAM, wired as the NPU wires them."""

    def __init__(self, sram_init, **params):
        self.dma = DmaEngine(**params)
        self.sram = Memory(
            shape=unsigned(self.dma.data_width),
            depth=self.dma.sram_bytes * 8 // self.dma.data_width,
            init=sram_init,
        )
        super().__init__({})

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = self.dma
        m.submodules.sram = self.sram
        wiring.connect(m, self.dma.sram_rd, self.sram.read_port())
        wiring.connect(m, self.dma.sram_wr, self.sram.write_port(granularity=8))
        return m


@dataclass
class Result:
    error: DmaError
    cycles: int  # from the cycle after acceptance to the done pulse, inclusive
    ar: list  # bursts of this command
    aw: list
    outstanding: tuple  # (reads, writes) in the model at done


@dataclass
class Run:
    model: AxiMemory
    results: list = field(default_factory=list)
    mem_before: bytes = b""
    sram_before: bytes = b""
    sram_after: bytes = b""


def run_commands(commands, *, data_width=64, max_burst=64, sram_bytes=16384, seed=0, **model_args):
    """Run ``commands`` back to back; return the model, per-command results and the SRAMs.

    The bench checks, every cycle of a command, that ``busy`` is high and ``cmd.ready`` low and
    ``done`` low until the single ``done`` pulse; a command that has not finished after a generous
    number of cycles fails the test as a hang.
    """
    rng = random.Random(seed)
    nbytes = data_width // 8
    sram_before = rng.randbytes(sram_bytes)
    words = [
        int.from_bytes(sram_before[i : i + nbytes], "little") for i in range(0, sram_bytes, nbytes)
    ]
    dut = System(
        words,
        data_width=data_width,
        max_burst=max_burst,
        sram_bytes=sram_bytes,
    )
    dma = dut.dma
    model = AxiMemory(dma.mem, base=BASE, size=SIZE, seed=seed, max_len=max_burst, **model_args)
    model.mem[:] = rng.randbytes(SIZE)
    run = Run(model, mem_before=bytes(model.mem), sram_before=sram_before)

    async def bench(ctx):
        for c in commands:
            assert ctx.get(dma.cmd.ready) and not ctx.get(dma.busy)
            ctx.set(dma.cmd.payload, c)
            ctx.set(dma.cmd.valid, 1)
            n_ar, n_aw = len(model.ar_log), len(model.aw_log)
            await ctx.tick()
            ctx.set(dma.cmd.valid, 0)
            rows = c["volumes"] * c["planes"] * c["rows"]
            limit = 200 + 40 * rows * (c["row_bytes"] // nbytes + 2)
            for cycles in range(1, limit):
                _, _, done, busy, ready = await ctx.tick().sample(dma.done, dma.busy, dma.cmd.ready)
                if done:
                    break
                assert busy and not ready, f"cycle {cycles}: busy={busy} cmd.ready={ready}"
            else:
                pytest.fail(f"command {c} hung")
            assert not busy and ready, "done without busy falling"
            run.results.append(
                Result(
                    ctx.get(dma.error),
                    cycles,
                    model.ar_log[n_ar:],
                    model.aw_log[n_aw:],
                    (model.reads_outstanding, model.writes_outstanding),
                )
            )
            # The error holds until the next command, and done is a single pulse.
            await ctx.tick()
            assert ctx.get(dma.error) == run.results[-1].error
            assert not ctx.get(dma.done)
        run.sram_after = b"".join(
            ctx.get(dut.sram.data[i]).to_bytes(nbytes, "little") for i in range(len(words))
        )

    simulate(dut, bench, background=[model.run])
    return run


def check(run, commands, *, data_width=64, max_burst=64, sram_bytes=16384):
    """Compare a clean run (no injected errors) with the reference, command by command."""
    nbytes = data_width // 8
    mem, sram = bytearray(run.mem_before), bytearray(run.sram_before)
    strobes = bytearray(SIZE)
    for i, (c, res) in enumerate(zip(commands, run.results, strict=True)):
        mem, sram, error = reference(c, mem, sram, sram_bytes)
        assert res.error == error, f"command {i}: {c}"
        assert res.outstanding == (0, 0), f"command {i}"
        moved = error == DmaError.NONE and rows_of(c, "dst") and c["row_bytes"]
        reads = moved and c["kind"] in (COPY, LOAD)
        writes = moved and c["kind"] != LOAD
        assert res.ar == (split(rows_of(c, "src"), nbytes, max_burst) if reads else []), i
        assert res.aw == (split(rows_of(c, "dst"), nbytes, max_burst) if writes else []), i
        if writes:
            for d, n in rows_of(c, "dst"):
                for a in range(d - BASE, d - BASE + n):
                    strobes[a] += 1
    assert run.model.mem == mem, first_difference(run.model.mem, mem, BASE)
    assert run.sram_after == sram, first_difference(run.sram_after, sram, 0)
    assert run.model.strobes == strobes, first_difference(run.model.strobes, strobes, BASE)


def first_difference(got, want, base):
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        if a != b:
            return f"first difference at {base + i:#x}: got {a:#04x}, want {b:#04x}"
    return "equal"


def simulate_and_check(commands, **params):
    model_args = {
        k: params.pop(k) for k in ("stall", "read_latency", "write_latency") if k in params
    }
    run = run_commands(commands, **params, **model_args)
    check(run, commands, **{k: v for k, v in params.items() if k != "seed"})
    return run


# --- random commands --------------------------------------------------------------------------


def random_row_bytes(rng, rows):
    """Mostly short rows, some up to 3000 bytes; a 2-D command stays within about 12 KiB."""
    top = rng.choice([16, 64, 300, 3000])
    return rng.randint(1, max(1, min(top, 12000 // rows)))


def random_pitch(rng, row_bytes, *, overlap):
    choices = [row_bytes, row_bytes + rng.randrange(1, 200, 2), row_bytes + rng.randint(1, 64)]
    if overlap:  # source rows may overlap: nothing is written there
        choices.append(rng.randint(1, row_bytes))
    return rng.choice(choices)


def random_command(rng, kind, *, sram_bytes=16384):
    """A random command of ``kind``: 1 to 7 rows of 1 to 3 planes of 1 to 2 volumes, within
    about 12 KiB."""
    rows = rng.choice([1, 1, rng.randint(2, 7)])
    planes = rng.choice([1, 1, 1, rng.randint(2, 3)])
    volumes = rng.choice([1, 1, 1, 2])
    count = rows * planes * volumes
    n = random_row_bytes(rng, count)
    if kind in (LOAD, STORE):
        n = min(n, sram_bytes // 2 // count)
    c = cmd(kind, row_bytes=n, rows=rows, planes=planes, volumes=volumes)
    c["pattern"] = rng.getrandbits(32)
    c["src_pitch"] = random_pitch(rng, n, overlap=True)
    c["dst_pitch"] = random_pitch(rng, n, overlap=False)
    # Source planes may overlap (or step back); destination planes follow each other.
    c["src_plane_pitch"] = rng.choice([0, rng.randint(1, 3 * n), (rows - 1) * c["src_pitch"] + n])
    c["dst_plane_pitch"] = (rows - 1) * c["dst_pitch"] + n + rng.choice([0, rng.randint(1, 99)])
    c["src_volume_pitch"] = rng.choice([0, rng.randint(1, 2000)])
    c["dst_volume_pitch"] = (planes - 1) * c["dst_plane_pitch"] + c["dst_plane_pitch"] + 5
    c["src"] = SRC + rng.randrange(4096)
    c["dst"] = DST + rng.randrange(4096)
    # The SRAM side is an offset that keeps every row inside the SRAM.
    for side in {LOAD: ["dst"], STORE: ["src"]}.get(kind, []):
        extent = max(start for start, _ in rows_of({**c, side: 0}, side)) + n
        c[side] = rng.randrange(max(1, sram_bytes - extent + 1))
    return c


# --- 1. copies ------------------------------------------------------------------------------------


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_all_alignments_1d(data_width):
    """Every (src % 8, dst % 8) pair, with row lengths that start, end and span beats."""
    lengths = [1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100]
    commands = []
    for i in range(64):
        s, d = i % 8, i // 8
        extra = 8 * (i % 3) if data_width == 128 else 0  # lanes 8..15 of a 16-byte beat too
        n = lengths[i % len(lengths)]
        commands.append(cmd(COPY, src=SRC + 64 * i + s + extra, dst=DST + 192 * i + d, row_bytes=n))
    simulate_and_check(commands, data_width=data_width)


#: (data width, seed, commands, backpressure, read latency)
RANDOM_CASES = [
    (32, 1, 14, 0.0, 1),
    (64, 2, 14, 0.0, 2),
    (128, 6, 10, 0.0, 3),
    (64, 3, 12, 0.3, 5),
    (32, 4, 10, 0.5, 3),
    (64, 7, 10, 0.6, 12),
    (128, 5, 8, 0.25, 4),
]


@pytest.mark.parametrize(
    ("data_width", "seed", "count", "stall", "latency"),
    RANDOM_CASES,
    ids=[f"dw{c[0]}-seed{c[1]}-stall{c[3]}" for c in RANDOM_CASES],
)
def test_random_copies(data_width, seed, count, stall, latency):
    rng = random.Random(seed)
    commands = [random_command(rng, COPY) for _ in range(count)]
    simulate_and_check(
        commands, data_width=data_width, seed=seed, stall=stall, read_latency=latency
    )


def test_pitch_equals_row_bytes_and_odd_pitches():
    commands = [
        cmd(COPY, src=SRC + 3, dst=DST + 6, row_bytes=37, rows=7, src_pitch=37, dst_pitch=37),
        cmd(COPY, src=SRC + 1, dst=DST + 2, row_bytes=21, rows=5, src_pitch=333, dst_pitch=21),
        cmd(COPY, src=SRC + 4000, dst=DST + 5, row_bytes=150, rows=6, src_pitch=151, dst_pitch=999),
        cmd(COPY, src=SRC + 7, dst=DST + 8, row_bytes=9, rows=7, src_pitch=3, dst_pitch=11),
    ]
    simulate_and_check(commands, data_width=32)


@pytest.mark.parametrize(
    ("data_width", "max_burst"), [(32, 256), (64, 16), (128, 256), (256, 4), (64, 1)]
)
def test_burst_shapes(data_width, max_burst):
    """Bursts split at max_burst and at every 4 KiB boundary, checked burst by burst."""
    commands = [
        cmd(COPY, src=SRC + 0xFF3, dst=DST + 0x1FFD, row_bytes=9000),
        cmd(
            COPY,
            src=SRC + 0xF00,
            dst=DST + 0xFE1,
            row_bytes=700,
            rows=3,
            src_pitch=0x1003,
            dst_pitch=0x1000,
        ),
    ]
    run = simulate_and_check(commands, data_width=data_width, max_burst=max_burst)
    bursts = run.results[0].ar + run.results[0].aw
    assert max(beats for _, beats in bursts) == min(max_burst, 4096 * 8 // data_width)
    assert run.model.max_reads_outstanding > 1


# --- 2. SRAM --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data_width", "seed"), [(32, 11), (64, 12), (128, 13)])
def test_load_store(data_width, seed):
    """LOAD and STORE, 1-D and 2-D at any alignment, through a Memory joined with connect()."""
    rng = random.Random(seed)
    commands = [random_command(rng, rng.choice([LOAD, STORE])) for _ in range(16)]
    commands += [
        cmd(LOAD, src=SRC + 5, dst=16384 - 11, row_bytes=11),  # ends at the SRAM's last byte
        cmd(STORE, src=1, dst=DST + 7, row_bytes=30, rows=3, src_pitch=31, dst_pitch=40),
        cmd(LOAD, src=SRC + 0x7FE, dst=3, row_bytes=5000),
        cmd(STORE, src=16384 - 5000, dst=DST + 0xFFF, row_bytes=5000),
    ]
    simulate_and_check(commands, data_width=data_width, seed=seed, stall=0.2, read_latency=3)


def test_planes():
    """3-D commands: planes that overlap or leave gaps on the source, odd plane pitches whose
    lanes differ from the row pitch's, single-row planes, 4 KiB crossings, LOAD, STORE, FILL
    and a command with no planes. Pitches are unsigned: planes never step back."""
    three_d = [
        cmd(
            COPY,
            src=SRC + 5,
            dst=DST + 3,
            row_bytes=13,
            rows=3,
            src_pitch=40,
            dst_pitch=13,
            planes=4,
            src_plane_pitch=7,
            dst_plane_pitch=45,
        ),
        cmd(
            COPY,
            src=SRC + 900,
            dst=DST + 1,
            row_bytes=70,
            rows=1,
            src_pitch=0,
            dst_pitch=0,
            planes=5,
            src_plane_pitch=3,
            dst_plane_pitch=71,
        ),  # source planes overlapping
        cmd(
            COPY,
            src=SRC + 4090,
            dst=DST + 4093,
            row_bytes=9,
            rows=2,
            src_pitch=4096,
            dst_pitch=9,
            planes=3,
            src_plane_pitch=11,
            dst_plane_pitch=4099,
        ),  # across 4 KiB
        cmd(
            LOAD,
            src=SRC + 2,
            dst=3,
            row_bytes=16,
            rows=4,
            src_pitch=48,
            dst_pitch=256,
            planes=3,
            src_plane_pitch=480,
            dst_plane_pitch=1029,
        ),
        cmd(
            STORE,
            src=7,
            dst=DST + 11,
            row_bytes=21,
            rows=2,
            src_pitch=30,
            dst_pitch=23,
            planes=3,
            src_plane_pitch=61,
            dst_plane_pitch=50,
        ),
        cmd(
            FILL,
            dst=DST + 0x803,
            row_bytes=6,
            rows=2,
            dst_pitch=7,
            planes=3,
            dst_plane_pitch=17,
            pattern=0x0102_0304,
        ),
        cmd(COPY, src=SRC, dst=DST, row_bytes=8, rows=2, planes=0),  # no planes: nothing
        cmd(COPY, src=SRC, dst=DST, row_bytes=8, rows=2, planes=2, volumes=0),  # nor volumes
        # Volumes: 2 x 3 planes x 2 rows, volumes overlapping on the source, odd pitches.
        cmd(
            COPY,
            src=SRC + 3,
            dst=DST + 5,
            row_bytes=11,
            rows=2,
            src_pitch=13,
            dst_pitch=11,
            planes=3,
            src_plane_pitch=29,
            dst_plane_pitch=23,
            volumes=2,
            src_volume_pitch=31,
            dst_volume_pitch=77,
        ),
        cmd(
            LOAD,
            src=SRC + 700,
            dst=9,
            row_bytes=24,
            rows=3,
            src_pitch=48,
            dst_pitch=256,
            planes=2,
            src_plane_pitch=768,
            dst_plane_pitch=2048,
            volumes=3,
            src_volume_pitch=1536,
            dst_volume_pitch=4096 + 3,
        ),
    ]
    for data_width in (32, 64, 128):
        simulate_and_check(three_d, data_width=data_width, max_burst=4)


#: (kind, sram offset, row_bytes, rows, pitch, in range)
RANGE_CASES = [
    (LOAD, 4096 - 100, 100, 1, 0, True),
    (LOAD, 4096 - 100, 101, 1, 0, False),
    (STORE, 4096 - 99, 100, 1, 0, False),
    (LOAD, 0, 10, 5, 1000, True),  # last row ends at 4010
    (STORE, 87, 10, 5, 1000, False),  # last row ends at 4097
    (LOAD, 0, 1, 2, 4095, True),
    (STORE, 0, 1, 2, 4096, False),
    (LOAD, 1 << 39, 1, 1, 0, False),
    (STORE, 0, 1, 65535, 0xFFFF_FFFF, False),  # far past: no overflow of the check
    (LOAD, 0, 1 << 23, 1, 0, False),
]


@pytest.mark.parametrize(
    ("kind", "offset", "row_bytes", "rows", "pitch", "ok"),
    RANGE_CASES,
    ids=[f"{c[0].name}-{c[1]:#x}-{c[2]}x{c[3]}" for c in RANGE_CASES],
)
def test_sram_range(kind, offset, row_bytes, rows, pitch, ok):
    """An SRAM row past the end fails at once, with no traffic; the next command runs."""
    mem_side, sram_side = ("src", "dst") if kind == LOAD else ("dst", "src")
    c = cmd(kind, row_bytes=row_bytes, rows=rows)
    c[mem_side], c[f"{mem_side}_pitch"] = (SRC if kind == LOAD else DST), 0
    c[sram_side], c[f"{sram_side}_pitch"] = offset, pitch
    if ok:
        c[f"{mem_side}_pitch"] = pitch  # keep the mem side inside the model too
    after = cmd(LOAD, src=SRC + 3, dst=5, row_bytes=20)
    run = simulate_and_check([c, after], data_width=32, sram_bytes=4096)
    if not ok:
        assert run.results[0].error == DmaError.SRAM_RANGE
        assert run.results[0].cycles == 2  # the check cycle, then the done pulse


@pytest.mark.parametrize(("kind", "end", "ok"), [(LOAD, 4096, True), (STORE, 4097, False)])
def test_sram_range_counts_the_last_plane(kind, end, ok):
    """The local side's last byte is that of the last row of the last plane."""
    mem_side, sram_side = ("src", "dst") if kind == LOAD else ("dst", "src")
    c = cmd(kind, row_bytes=16, rows=2, planes=3)
    c[mem_side], c[f"{mem_side}_pitch"], c[f"{mem_side}_plane_pitch"] = SRC + 1, 16, 32
    c[sram_side], c[f"{sram_side}_pitch"], c[f"{sram_side}_plane_pitch"] = 0, 100, 1000
    c[sram_side] = end - (2 * 1000 + 100 + 16)
    if kind == STORE:
        c[mem_side] = DST + 1
    run = simulate_and_check([c], data_width=32, sram_bytes=4096)
    assert run.results[0].error == (DmaError.NONE if ok else DmaError.SRAM_RANGE)


# --- 3. FILL and zero-size commands ---------------------------------------------------------------


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_fill(data_width):
    rng = random.Random(data_width)
    commands = [
        cmd(FILL, dst=DST + 0x8000 + 256 * i + d, row_bytes=n, pattern=0x44332211)
        for i, (d, n) in enumerate([(0, 1), (1, 1), (3, 5), (5, 16), (7, 33), (6, 100)])
    ]
    commands += [random_command(rng, FILL) for _ in range(6)]
    commands.append(
        cmd(FILL, dst=DST + 0xFFD, row_bytes=13, rows=7, dst_pitch=4095, pattern=0xDEADBEEF)
    )
    run = simulate_and_check(commands, data_width=data_width, stall=0.2)
    assert run.model.ar_log == []
    assert run.model.read(DST + 0x8000 + 512 + 3, 5) == bytes([0x11, 0x22, 0x33, 0x44, 0x11])


@pytest.mark.parametrize("kind", list(DmaKind), ids=lambda k: k.name)
def test_zero_size(kind):
    commands = [
        cmd(kind, src=SRC, dst=DST if kind != LOAD else 0, row_bytes=0, rows=5, dst_pitch=9),
        cmd(kind, src=SRC, dst=DST if kind != LOAD else 0, row_bytes=100, rows=0),
        cmd(kind, src=1 << 39, dst=1 << 39, row_bytes=0, rows=0),  # no range check either
    ]
    run = simulate_and_check(commands, data_width=64)
    assert [r.cycles for r in run.results] == [2, 2, 2]
    assert run.model.ar_log == run.model.aw_log == []


# --- 4. errors ------------------------------------------------------------------------------------

#: (kind, on reads?, error ranges (lo, hi, resp) relative to the side's base, expected error)
ERROR_CASES = [
    (COPY, True, [(0x1000, 0x1008, Resp.SLVERR)], DmaError.READ_SLVERR),
    (COPY, True, [(0x1333, 0x1334, Resp.DECERR)], DmaError.READ_DECERR),
    (COPY, True, [(0x0, 0x10, Resp.SLVERR)], DmaError.READ_SLVERR),  # the very first beat
    (LOAD, True, [(0x0800, 0x0900, Resp.DECERR)], DmaError.READ_DECERR),
    (COPY, False, [(0x0800, 0x0804, Resp.SLVERR)], DmaError.WRITE_SLVERR),
    (COPY, False, [(0x1FFF, 0x2000, Resp.DECERR)], DmaError.WRITE_DECERR),  # the last beat
    (STORE, False, [(0x0400, 0x0410, Resp.SLVERR)], DmaError.WRITE_SLVERR),
    (FILL, False, [(0x0100, 0x0101, Resp.DECERR)], DmaError.WRITE_DECERR),
    # Two errors in one burst: the first is reported.
    (
        COPY,
        True,
        [(0x0A00, 0x0A01, Resp.DECERR), (0x0A08, 0x0A10, Resp.SLVERR)],
        DmaError.READ_DECERR,
    ),
]
ERROR_BYTES = 0x2000


@pytest.mark.parametrize(
    ("kind", "on_read", "spans", "error"),
    ERROR_CASES,
    ids=[f"{c[0].name}-{c[3].name}-{c[2][0][0]:#x}-{len(c[2])}" for c in ERROR_CASES],
)
@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_errors(kind, on_read, spans, error, stall):
    """The first error response stops new bursts; all responses drain; the next command runs.

    Bytes of the failed command's destination hold either their old value or the value the
    command was to write: data read with an error is never written.
    """
    side = SRC if on_read else DST
    errors = [
        ErrorRange(side + lo, side + hi, r, read=on_read, write=not on_read) for lo, hi, r in spans
    ]
    span = spans[0]
    bad = cmd(
        kind,
        src=SRC if kind != STORE else 0,
        dst=DST if kind != LOAD else 0,
        row_bytes=ERROR_BYTES,
        pattern=0x01020304,
    )
    good = cmd(
        COPY,
        src=SRC + 0x4001,
        dst=DST + 0x4003,
        row_bytes=1000,
        rows=2,
        src_pitch=1100,
        dst_pitch=1001,
    )
    run = run_commands(
        [bad, good], data_width=64, seed=7, stall=stall, read_latency=4, errors=errors
    )
    first, second = run.results
    assert (first.error, first.outstanding) == (error, (0, 0))
    assert (second.error, second.outstanding) == (DmaError.NONE, (0, 0))
    bursts = first.ar if on_read else first.aw
    if span[0] < ERROR_BYTES // 2:  # stopped early: the second half was never requested
        assert bursts and all(addr < side + ERROR_BYTES // 2 + 0x400 for addr, _ in bursts)

    # The good command, exactly; the failed one's destination, byte by byte.
    mem = bytearray(run.mem_before)
    for r in range(2):
        s, d = 0x4001 + 1100 * r, SIZE // 2 + 0x4003 + 1001 * r
        mem[d : d + 1000] = run.mem_before[s : s + 1000]
    intended = {
        COPY: run.mem_before[:ERROR_BYTES],
        LOAD: run.mem_before[:ERROR_BYTES],
        STORE: run.sram_before[:ERROR_BYTES],
        FILL: bytes([4, 3, 2, 1]) * (ERROR_BYTES // 4),
    }[kind]
    if kind == LOAD:
        assert run.model.mem == mem
        got, before = run.sram_after[:ERROR_BYTES], run.sram_before[:ERROR_BYTES]
    else:
        assert run.sram_after == run.sram_before
        region = slice(SIZE // 2, SIZE // 2 + ERROR_BYTES)
        got, before = run.model.mem[region], mem[region]
        outside = bytearray(run.model.mem)
        outside[region] = before
        assert outside == mem
    for i in range(ERROR_BYTES):
        assert got[i] in (before[i], intended[i]), f"byte {i:#x}"
    if not on_read:  # the bursts before the failing one all land
        assert got[: span[0] & ~0x1FF] == intended[: span[0] & ~0x1FF]


def test_write_error_with_writes_in_flight():
    """A write error while later AWs are in flight: every issued AW still gets all its W beats."""
    errors = [ErrorRange(DST + 0x200, DST + 0x208, Resp.SLVERR, read=False)]
    c = cmd(COPY, src=SRC, dst=DST, row_bytes=0x1000)
    run = run_commands([c], data_width=64, max_burst=8, seed=3, write_latency=30, errors=errors)
    res = run.results[0]
    assert res.error == DmaError.WRITE_SLVERR
    assert res.outstanding == (0, 0)
    assert len(res.aw) > 2  # writes behind the failing one were in flight, and completed
    assert run.model.max_writes_outstanding > 2


# --- 5. throughput and handshakes -----------------------------------------------------------------


def test_throughput():
    """A 64 KiB aligned copy at 64 bits overlaps reads and writes at >= 0.9 beats per cycle."""
    beats = 65536 // 8
    c = cmd(COPY, src=BASE, dst=BASE + 65536, row_bytes=65536)
    run = run_commands([c], data_width=64, read_latency=2)
    res = run.results[0]
    assert res.error == DmaError.NONE
    assert run.model.mem[65536:] == run.mem_before[:65536]
    assert res.cycles <= 1.12 * beats + 60, res.cycles
    assert res.cycles <= beats + 100, res.cycles  # measured: beats + 75
    r, w = run.model.r_cycles, run.model.w_cycles
    assert len(r) == len(w) == beats
    # Steady state: the middle 90% of the beats, on each channel.
    for times in (r, w):
        lo, hi = beats // 20, beats - beats // 20
        assert (hi - lo) / (times[hi] - times[lo]) >= 0.9
    assert w[0] < r[-1] - beats // 2  # writing starts long before reading ends
    assert run.model.max_reads_outstanding >= 2


def test_back_to_back_commands_and_handshake():
    """cmd.ready is ~busy; a command offered in the done cycle is taken at once."""
    dut = DmaEngine(data_width=32)
    model = AxiMemory(dut.mem, base=BASE, size=SIZE, max_len=64)
    model.mem[:] = random.Random(1).randbytes(SIZE)
    c = cmd(COPY, src=SRC + 1, dst=DST + 2, row_bytes=10)
    trace = []

    async def bench(ctx):
        ctx.set(dut.cmd.payload, c)
        ctx.set(dut.cmd.valid, 1)
        for _ in range(60):
            _, _, ready, busy, done = await ctx.tick().sample(dut.cmd.ready, dut.busy, dut.done)
            trace.append((ready, busy, done))
        ctx.set(dut.cmd.valid, 0)

    simulate(dut, bench, background=[model.run])
    assert all(ready == (not busy) for ready, busy, _ in trace)
    done_at = [i for i, (_, _, done) in enumerate(trace) if done]
    assert len(done_at) >= 3
    for i in done_at[:-1]:  # taken again in the done cycle, busy the next
        assert trace[i][0] and trace[i + 1][1]
    assert model.read(DST + 2, 10) == model.read(SRC + 1, 10)


# --- 6. the model's own checks --------------------------------------------------------------------


def drive_model(manager, **model_args):
    """Run ``manager(ctx, port)`` against a model on a bare 64-bit AXI4 port."""
    port = AXI4Signature(addr_width=40, data_width=64, id_width=4).create()
    model = AxiMemory(port, base=0, size=8192, **model_args)
    m = Module()
    m.domains.sync = ClockDomain()

    async def bench(ctx):
        await manager(ctx, port)
        for _ in range(4):
            await ctx.tick()

    simulate(m, bench, background=[model.run])
    return model


@pytest.mark.parametrize(
    ("ch", "addr", "length", "size", "message"),
    [
        ("ar", 0xFF8, 1, 3, "crosses a 4 KiB boundary"),
        ("aw", 0x1F80, 16, 3, "longer than 16"),
        ("ar", 0x0, 0, 2, "not the bus width"),
        ("aw", 0x4, 0, 3, "not aligned"),
    ],
)
def test_model_rejects_bad_bursts(ch, addr, length, size, message):
    async def manager(ctx, port):
        for name, value in [("addr", addr), ("len", length), ("size", size), ("valid", 1)]:
            ctx.set(getattr(port, ch + name), value)
        ctx.set(getattr(port, ch + "burst"), Burst.INCR)
        for _ in range(4):
            await ctx.tick()

    with pytest.raises(AxiProtocolError, match=message):
        drive_model(manager, max_len=16)


@pytest.mark.parametrize(("beats", "wlast_on"), [(2, 0), (2, 2), (1, None)])
def test_model_rejects_misplaced_wlast(beats, wlast_on):
    """wlast early, late (a W beat too many) or missing."""

    async def handshake(ctx, valid, ready):
        # ctx.tick().until() would leave an async generator open when the model raises.
        ctx.set(valid, 1)
        while not (await ctx.tick().sample(ready))[2]:
            pass

    async def manager(ctx, port):
        for name, value in [("addr", 0x100), ("len", beats - 1), ("size", 3)]:
            ctx.set(getattr(port, "aw" + name), value)
        ctx.set(port.awburst, Burst.INCR)
        await handshake(ctx, port.awvalid, port.awready)
        ctx.set(port.awvalid, 0)
        ctx.set(port.bready, 1)
        for beat in range(beats + 1):
            ctx.set(port.wlast, beat == wlast_on)
            await handshake(ctx, port.wvalid, port.wready)
        ctx.set(port.wvalid, 0)

    with pytest.raises(AxiProtocolError, match="wlast"):
        drive_model(manager, stall=0.3)


def test_model_rejects_withdrawn_valid():
    async def manager(ctx, port):
        ctx.set(port.arvalid, 1)
        ctx.set(port.arsize, 3)
        await ctx.tick()
        ctx.set(port.arvalid, 0)
        await ctx.tick()

    with pytest.raises(AxiProtocolError, match="withdrawn"):
        drive_model(manager, stall={"ar": 1.0})


def test_model_reads_and_writes():
    """A write then a read of the same beats, with an error beat; latencies as documented."""

    async def manager(ctx, port):
        ctx.set(port.bready, 1)
        ctx.set(port.rready, 1)
        for name, value in [("addr", 0x1000), ("len", 1), ("size", 3), ("valid", 1), ("id", 5)]:
            ctx.set(getattr(port, "aw" + name), value)
            ctx.set(getattr(port, "ar" + name), value)
        ctx.set(port.awburst, Burst.INCR)
        ctx.set(port.arburst, Burst.INCR)
        ctx.set(port.wvalid, 1)
        ctx.set(port.wdata, 0x1122334455667788)
        ctx.set(port.wstrb, 0x0F)
        trace = []
        for _ in range(8):
            _, _, *values = await ctx.tick().sample(
                port.awready,
                port.arready,
                port.wready,
                port.wlast,
                port.bvalid,
                port.bresp.as_value(),
                port.bid,
                port.rvalid,
                port.rdata,
                port.rresp.as_value(),
                port.rlast,
            )
            trace.append(values)
            awready, arready, wready, wlast = values[:4]
            if awready:
                ctx.set(port.awvalid, 0)
            if arready:
                ctx.set(port.arvalid, 0)
            if wready:
                ctx.set(port.wlast, 1)
                if wlast:
                    ctx.set(port.wvalid, 0)
        manager.trace = trace

    errors = [ErrorRange(0x1008, 0x1009, Resp.SLVERR, write=False)]
    model = drive_model(manager, read_latency=3, write_latency=2, errors=errors)
    trace = manager.trace
    # Ready to AR and AW from cycle 1; W only after the AW, in cycles 2 and 3.
    assert [t[:3] for t in trace[:4]] == [[0, 0, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]]
    # R three cycles after the AR (cycle 1), the second beat in error; B two after the last W.
    b = [(i, t[5], t[6]) for i, t in enumerate(trace) if t[4]]
    r = [(i, t[8], t[9], t[10]) for i, t in enumerate(trace) if t[7]]
    assert b == [(5, Resp.OKAY.value, 5)]
    assert r == [(4, 0x55667788, Resp.OKAY.value, 0), (5, 0, Resp.SLVERR.value, 1)]
    assert model.read(0x1000, 16) == bytes([0x88, 0x77, 0x66, 0x55, 0, 0, 0, 0]) * 2
    assert model.max_reads_outstanding == model.max_writes_outstanding == 1
    assert model.ar_log == model.aw_log == [(0x1000, 2)]


# --- 7. construction ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"data_width": 7}, "Data width must be one of (32, 64, 128, 256), not 7"),
        ({"sram_bytes": 3000}, "SRAM size must be a power of two of at least 32 bytes, not 3000"),
        ({"sram_bytes": 16}, "SRAM size must be a power of two of at least 32 bytes, not 16"),
        ({"max_burst": 0}, "Maximum burst must be a power of two between 1 and 256, not 0"),
        ({"max_burst": 48}, "Maximum burst must be a power of two between 1 and 256, not 48"),
        ({"max_burst": 512}, "Maximum burst must be a power of two between 1 and 256, not 512"),
    ],
)
def test_bad_parameters(params, message):
    assert construction_error(DmaEngine, **params) == message


def test_command_layout():
    # kind, src, dst, row_bytes, rows, pitches, pattern, planes, plane pitches, volumes, volume
    # pitches, translate, fetch, asid, notify
    size = 3 + 40 + 40 + 24 + 16 + 32 + 32 + 32 + 16 + 32 + 32 + 16 + 32 + 32 + 1 + 1 + 4 + 1
    assert DmaCommand.as_shape().size == size
    assert MAX_WRITES >= 2


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_converts_to_verilog(data_width):
    text = verilog.convert(DmaEngine(data_width=data_width), name="dma")
    assert "module dma" in text
    assert "mem__wstrb" in text and "sram_wr__en" in text


@pytest.mark.parametrize("on_read", [True, False], ids=["AR", "AW"])
def test_error_keeps_presented_address_valid(on_read):
    """An AR or AW presented when an error arrives stays valid until taken (AXI forbids
    withdrawing it); the model admits one transaction at a time, so the next is always waiting."""
    side = SRC if on_read else DST
    errors = [ErrorRange(side + 0x10, side + 0x18, Resp.SLVERR, read=on_read, write=not on_read)]
    c = cmd(COPY, src=SRC, dst=DST, row_bytes=0x400)
    limit = {"max_reads": 1} if on_read else {"max_writes": 1}
    run = run_commands([c, c], data_width=64, max_burst=8, errors=errors, **limit)
    expected = DmaError.READ_SLVERR if on_read else DmaError.WRITE_SLVERR
    assert [r.error for r in run.results] == [expected, expected]
    # The burst after the failing one was presented, and completed, before done.
    assert len(run.results[0].ar if on_read else run.results[0].aw) >= 2
