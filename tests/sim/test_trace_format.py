"""Trace lines of driver tracepoints, the tracepoint registry, and per-job timelines (no sim)."""

import errno
import re
import xml.etree.ElementTree as ET

import pytest
from tinynpu.driver import tracepoints
from tinynpu.rtl.regmap import HOST
from tinynpu.sim.timeline import job_windows, render_svg
from tinynpu.sim.trace import DriverEvent, IrqEvent, Trace, _descriptor, _driver_line, _value

# --- driver tracepoint lines -----------------------------------------------------------------

T = "      1234.5 ns  "  # the time column of every event below

# One example of every tracepoint, with its expected line.
CASES = [
    (
        "ioctl",
        {"request": "BO_CREATE", "args": {"size": 8192, "flags": 0, "handle": 0}},
        "uapi  BO_CREATE(size=0x2000 flags=0 handle=0)",
    ),
    (
        "ioctl",
        {"request": "DEV_QUERY", "args": {}},
        "uapi  DEV_QUERY()",
    ),
    (
        "ioctl_done",
        {"request": "BO_CREATE", "errno": 0, "reply": {"handle": 1, "mmap_offset": 0x100000}},
        "uapi  BO_CREATE = 0 {handle=1 mmap_offset=0x100000}",
    ),
    (
        "ioctl_done",
        {"request": "SUBMIT", "errno": errno.EFAULT, "reply": {}},
        "uapi  SUBMIT = -EFAULT",
    ),
    (
        "ioctl_done",
        {"request": "WAIT", "errno": errno.ETIMEDOUT, "reply": {}},
        "uapi  WAIT = -ETIMEDOUT",
    ),
    (
        "ioctl_done",
        {"request": "CONTEXT_DESTROY", "errno": 0, "reply": {}},
        "uapi  CONTEXT_DESTROY = 0",
    ),
    (
        "bo_create",
        {"bo": 0x100000, "size": 0x3000, "pieces": ((0x8004_0000, 0x3000),)},
        "bo    create bo@0x100000, 0x3000 bytes at 0x80040000",
    ),
    (
        "bo_create",
        {
            "bo": 0x200000,
            "size": 0x5000,
            "pieces": ((0x8004_0000, 0x1000), (0x8010_0000, 0x2000), (0x8020_0000, 0x2000)),
        },
        "bo    create bo@0x200000, 0x5000 bytes in 3 pieces",
    ),
    ("bo_free", {"bo": 0x100000}, "bo    free bo@0x100000"),
    (
        "vm_map",
        {"va": 0x1000_0000, "size": 0x2000, "bo": 0x100000, "offset": 0, "prot": "READ|WRITE"},
        "vm    map 0x10000000+0x2000 -> bo@0x100000+0x0 READ,WRITE",
    ),
    (
        "vm_map",
        {"va": 0x10_0000, "size": 0x1000, "bo": 0x200000, "offset": 0x1000, "prot": "READ|NOEXEC"},
        "vm    map 0x100000+0x1000 -> bo@0x200000+0x1000 READ,NOEXEC",
    ),
    ("vm_unmap", {"va": 0x1000_0000, "size": 0x2000}, "vm    unmap 0x10000000+0x2000"),
    (
        # valid, table, ap_ro (bit 7), sh = 3 (bits 8-9), af (bit 10), xn (bit 54)
        "pte",
        {"level": 3, "table": 0x8000_3000, "index": 5, "value": 0x0040_0000_8000_0783},
        "pte   L3 table 0x80003000 [  5] = 0x0040000080000783 "
        "{addr=0x80000000 page ap_ro sh=0x3 af xn}",
    ),
    (
        "pte",
        {"level": 2, "table": 0x8000_2000, "index": 8, "value": 0x8000_3003},
        "pte   L2 table 0x80002000 [  8] = 0x0000000080003003 {addr=0x80003000 table}",
    ),
    (
        "vm_map",
        {"va": 0x10_0000, "size": 0x1000, "bo": 0x200000, "offset": 0, "prot": ""},
        "vm    map 0x100000+0x1000 -> bo@0x200000+0x0 none",
    ),
    (
        "pte",
        {"level": 1, "table": 0x8000_1000, "index": 511, "value": 0},
        "pte   L1 table 0x80001000 [511] = 0x0000000000000000 {invalid}",
    ),
    (
        "completion",
        {"seqno": 7, "status": "OK", "error": "NONE", "offset": 0, "cycles": 1234},
        "done  ring seqno 7 OK, 1234 cycles",
    ),
    (
        "completion",
        {"seqno": 8, "status": "FAULT", "error": "PAGE_FAULT", "offset": 0x60, "cycles": 99},
        "done  ring seqno 8 FAULT PAGE_FAULT at 0x60, 99 cycles",
    ),
    (
        "completion",
        {"seqno": 9, "status": "ERROR", "error": "BAD_OPCODE", "offset": 0, "cycles": 5},
        "done  ring seqno 9 ERROR BAD_OPCODE at 0x0, 5 cycles",
    ),
    ("job_queued", {"seqno": 3}, "sched job 3 queued"),
    ("job_run", {"seqno": 3, "hw": 17}, "sched job 3 -> ring seqno 17"),
    ("fence", {"seqno": 3, "errno": 0}, "sched fence 3 signaled 0"),
    ("fence", {"seqno": 4, "errno": errno.ECANCELED}, "sched fence 4 signaled -ECANCELED"),
]


@pytest.mark.parametrize(("name", "fields", "line"), CASES)
def test_driver_event_lines(name, fields, line):
    assert DriverEvent(1234.5, name, fields).format(HOST) == T + line


def test_every_documented_tracepoint_has_a_line():
    documented = set(re.findall(r"^``(\w+)``", tracepoints.__doc__, re.MULTILINE))
    assert documented == {
        "ioctl",
        "ioctl_done",
        "bo_create",
        "bo_free",
        "vm_map",
        "vm_unmap",
        "pte",
        "job_queued",
        "job_run",
        "completion",
        "fence",
    }
    assert {name for name, _, _ in CASES} == documented
    for name, fields, _ in CASES:
        assert _driver_line(name, fields)[0] != "drv"


def test_undocumented_events_print_their_fields():
    event = DriverEvent(5.0, "reset", {"engine": 1, "mask": 0xFFFF, "why": "hang"})
    assert event.format(HOST) == "         5.0 ns  drv   reset engine=1 mask=0xffff why=hang"
    assert _driver_line("tick", {}) == ("drv", "tick ")


def test_time_column():
    event = DriverEvent(0.0, "bo_free", {"bo": 0x1000})
    assert event.format(HOST) == "         0.0 ns  bo    free bo@0x1000"
    event = DriverEvent(1234567890.06, "bo_free", {"bo": 0x1000})
    assert event.format(HOST) == "1234567890.1 ns  bo    free bo@0x1000"
    event = DriverEvent(12345678901.0, "bo_free", {"bo": 0x1000})  # wider than the column
    assert event.format(HOST) == "12345678901.0 ns  bo    free bo@0x1000"


def test_unknown_errno_prints_its_number():
    fields = {"request": "SUBMIT", "errno": 4000, "reply": {}}
    assert _driver_line("ioctl_done", fields) == ("uapi", "SUBMIT = -4000")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (1023, "1023"),
        (1024, "0x400"),
        (-1023, "-1023"),
        (-1024, "-0x400"),
        (True, "True"),
        (False, "False"),
        ("READ", "READ"),
        ((1, 2), "(1, 2)"),
    ],
)
def test_field_values(value, text):
    assert _value(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "{invalid}"),
        (0x0000_0000_8000_0782, "{invalid}"),  # every bit but valid
        (0xFFFF_FFFF_FFFF_FFFE, "{invalid}"),
        (0x0000_0000_0040_0401, "{addr=0x400000 af}"),  # a 2 MiB block
        (0x0000_0000_0000_0001, "{addr=0x0}"),
        # attr_index = 5 (bits 2-4), ns, ap_user, ng, contiguous, pxn, software = 0xf,
        # table_attrs = 0x1f
        (
            0xFFF0_0000_0000_0C75,
            "{addr=0x0 attr_index=0x5 ns ap_user af ng contiguous pxn xn software=0xf "
            "table_attrs=0x1f}",
        ),
        # the top address bits (47:12) and the reserved bits 51:48
        (0x000F_FFFF_FFFF_F003, "{addr=0xfffffffff000 table _reserved0=0xf}"),
    ],
)
def test_descriptor(value, text):
    assert _descriptor(value) == text


def test_irq_and_trace():
    trace = Trace(HOST)
    trace.record(IrqEvent(10.0, "npu_irq"))
    trace.record(DriverEvent(12.0, "job_queued", {"seqno": 1}))
    assert trace.lines() == [
        "        10.0 ns  irq  npu_irq asserted",
        "        12.0 ns  sched job 1 queued",
    ]
    quiet = Trace(HOST, enabled=False)
    quiet.record(IrqEvent(1.0, "npu_irq"))
    assert quiet.events == []
    assert quiet.lines() == []


# --- tracepoints registry --------------------------------------------------------------------


def test_tracepoints_reach_probes_until_unregistered():
    first, second = [], []

    def probe_one(name, fields):
        first.append((name, fields))

    def probe_two(name, fields):
        second.append((name, dict(fields)))

    tracepoints.register(probe_one)
    try:
        tracepoints.trace("job_queued", seqno=4)
        tracepoints.register(probe_two)
        try:
            tracepoints.trace("fence", seqno=4, errno=0)
        finally:
            tracepoints.unregister(probe_two)
        tracepoints.trace("bo_free", bo=0x1000)
    finally:
        tracepoints.unregister(probe_one)
    tracepoints.trace("bo_free", bo=0x2000)
    assert first == [
        ("job_queued", {"seqno": 4}),
        ("fence", {"seqno": 4, "errno": 0}),
        ("bo_free", {"bo": 0x1000}),
    ]
    assert second == [("fence", {"seqno": 4, "errno": 0})]


def test_unregistering_an_unknown_probe_raises():
    with pytest.raises(ValueError):
        tracepoints.unregister(lambda name, fields: None)


def test_trace_without_probes_does_nothing():
    tracepoints.trace("job_queued", seqno=1)  # no listener: no error, nothing to see


# --- timelines -------------------------------------------------------------------------------

DOORBELLS = [100.0, 1000.0]
COMPLETIONS = [500.0, 1600.0]
BUSY = {
    "fetch": [[50.0, 150.0], [200.0, 300.0], [450.0, 700.0]],
    "dma": [[90.0, 1100.0]],
    "array": [[600.0, 900.0]],  # between the jobs
    "walk": [[500.0, 1000.0]],  # touches both windows, overlaps neither
    "ppu": [[1100.0, 1200.0]],  # a lane without a colour of its own
}
IRQS = [480.0, 500.0, 510.0, 1000.0, 1550.0, 2000.0]


def test_job_windows_need_one_end_per_start():
    with pytest.raises(ValueError, match="zip"):
        job_windows([100.0, 1000.0, 3000.0], COMPLETIONS, BUSY, IRQS)


def test_job_windows_clip_an_interval_still_open():
    (job,) = job_windows([100.0], [400.0], {"dma": [[50.0, 80.0], [300.0, None]]}, [])
    assert job["lanes"] == {"dma": [(300.0, 400.0)]}


def test_job_windows_clip_and_assign():
    jobs = job_windows(DOORBELLS, COMPLETIONS, BUSY, IRQS)
    assert jobs == [
        {
            "start": 100.0,
            "end": 500.0,
            "lanes": {
                "fetch": [(100.0, 150.0), (200.0, 300.0), (450.0, 500.0)],
                "dma": [(100.0, 500.0)],
                "array": [],
                "walk": [],
                "ppu": [],
            },
            "irqs": [480.0, 500.0],  # the window's ends are inclusive
        },
        {
            "start": 1000.0,
            "end": 1600.0,
            "lanes": {
                "fetch": [],
                "dma": [(1000.0, 1100.0)],
                "array": [],
                "walk": [],
                "ppu": [(1100.0, 1200.0)],
            },
            "irqs": [1000.0, 1550.0],
        },
    ]
    assert list(jobs[0]["lanes"]) == list(BUSY)


def test_job_windows_without_jobs():
    assert job_windows([], [], BUSY, IRQS) == []
    assert job_windows([0.0], [10.0], {}, []) == [
        {"start": 0.0, "end": 10.0, "lanes": {}, "irqs": []}
    ]


SVG = "{http://www.w3.org/2000/svg}"


def _svg(jobs, titles):
    return ET.fromstring(render_svg(jobs, titles))


def test_render_svg_structure():
    jobs = job_windows(DOORBELLS, COMPLETIONS, BUSY, IRQS)
    titles = ["job 1 <mlp> & co", "job 2"]
    root = _svg(jobs, titles)
    assert root.tag == SVG + "svg"
    # 7 rows (doorbell, 5 lanes, irq) of 18 px and 40 px per panel, below a 34 px top margin.
    assert (root.get("width"), root.get("height")) == ("890", str(34 + 2 * (7 * 18 + 40)))
    texts = root.findall(SVG + "text")
    bold = [t.text for t in texts if t.get("font-weight") == "bold"]
    assert bold == titles
    labels = [t.text for t in texts if t.get("x") == "4" and t.get("font-weight") is None]
    rows = ["doorbell", "fetch", "dma", "array", "walk", "ppu", "irq"]
    assert labels == rows + rows
    ticks = [t.text for t in texts if t.get("text-anchor") == "middle"]
    assert ticks == [
        *("0.0 µs", "0.1 µs", "0.2 µs", "0.3 µs", "0.4 µs"),  # 400 ns
        *("0.0 µs", "0.1 µs", "0.3 µs", "0.5 µs", "0.6 µs"),  # 600 ns: 0.15 and 0.45 in binary
    ]
    lines = root.findall(SVG + "line")
    assert len(lines) == 14


def test_render_svg_marks():
    jobs = job_windows(DOORBELLS, COMPLETIONS, BUSY, IRQS)
    root = _svg(jobs, ["a", "b"])
    rects = root.findall(SVG + "rect")
    # The background; job 1: a doorbell, 3 fetch + 1 dma intervals, 2 irqs;
    # job 2: a doorbell, 1 dma + 1 ppu interval, 2 irqs.
    assert len(rects) == 1 + (1 + 4 + 2) + (1 + 2 + 2)
    fills = [r.get("fill") for r in rects]
    assert fills.count("white") == 1
    assert fills.count("#444444") == 2  # doorbells
    assert fills.count("#4e79a7") == 3  # fetch
    assert fills.count("#f28e2b") == 2  # dma
    assert fills.count("#888888") == 1  # ppu: the default colour
    assert fills.count("#e15759") == 4  # irqs
    assert fills.count("#59a14f") == fills.count("#b07aa1") == 0  # nothing left in the windows

    # Job 1 spans 400 ns over 760 px from x = 90: 1.9 px per ns; its rows start at y = 34.
    def geometry(rect):
        return tuple(rect.get(k) for k in ("x", "y", "width", "height"))

    first = [geometry(r) for r in rects[1:8]]
    assert first == [
        ("89.0", "36", "3", "12"),  # doorbell at the window's start, row 0
        ("90.0", "54", "95.0", "12"),  # fetch 100..150
        ("280.0", "54", "190.0", "12"),  # fetch 200..300
        ("755.0", "54", "95.0", "12"),  # fetch 450..500
        ("90.0", "72", "760.0", "12"),  # dma over the whole window
        ("811.0", "144", "3", "12"),  # irq at 480, row 6
        ("849.0", "144", "3", "12"),  # irq at 500
    ]
    # Job 2's panel starts 166 px lower (y = 200): 600 ns over 760 px.
    second = [geometry(r) for r in rects[8:]]
    assert second == [
        ("89.0", "202", "3", "12"),
        ("90.0", "238", "126.7", "12"),  # dma 1000..1100
        ("216.7", "292", "126.7", "12"),  # ppu 1100..1200, row 5
        ("89.0", "310", "3", "12"),  # irq at 1000
        ("785.7", "310", "3", "12"),  # irq at 1550
    ]


def test_render_svg_short_intervals_stay_visible():
    job = {"start": 0.0, "end": 1000.0, "lanes": {"dma": [(500.0, 500.0)]}, "irqs": []}
    rects = _svg([job], ["t"]).findall(SVG + "rect")
    assert [(r.get("x"), r.get("width")) for r in rects[2:]] == [("470.0", "0.8")]


def test_render_svg_empty_window_and_no_jobs():
    job = {"start": 5.0, "end": 5.0, "lanes": {}, "irqs": [5.0]}
    root = _svg([job], ["zero"])
    rects = root.findall(SVG + "rect")
    assert [r.get("x") for r in rects[1:]] == ["89.0", "89.0"]  # doorbell and irq, 1 ns span
    empty = _svg([], [])
    assert empty.get("height") == "34"
    assert len(empty.findall(SVG + "rect")) == 1
    assert empty.findall(SVG + "text") == []


def test_render_svg_needs_one_title_per_job():
    jobs = job_windows(DOORBELLS, COMPLETIONS, BUSY, IRQS)
    with pytest.raises(ValueError, match="zip"):
        render_svg(jobs, ["only one"])
