"""The Python register description and its SystemRDL front end (pure Python, no simulator)."""

import difflib
import itertools
import os
import re
from pathlib import Path

import pytest
from tinynpu.rtl.config import PARAMETERS
from tinynpu.rtl.regmap import (
    CP,
    HOST,
    Field,
    Kind,
    Register,
    RegisterMap,
    join_address,
    split_address,
)
from tinynpu.rtl.regmap.export import abi_listing
from tinynpu.rtl.regmap.model import Bank, compile_rdl, from_rdl, load

GOLDEN_DIR = Path(__file__).parent / "golden"

#: Bytes of the host MMIO window (host.rdl: "Host MMIO window (64 KiB, 32-bit registers)").
HOST_WINDOW = 64 * 1024

INTERRUPT_REGISTERS = ("int_raw_status", "int_mask", "int_status", "int_set")

#: Offset of each register in an address-space bank (host.rdl: aspace[16] @ 0x400 += 0x20).
ASPACE_LAYOUT = {
    "ttbr_lo": 0x00,
    "ttbr_hi": 0x04,
    "control": 0x08,
    "fault_status": 0x0C,
    "fault_addr_lo": 0x10,
    "fault_addr_hi": 0x14,
    "fault_ack": 0x18,
}
ASPACE_BASE = 0x400
ASPACE_STRIDE = 0x20
ASPACE_COUNT = 16


# --- (a) golden ABI -----------------------------------------------------------------------------


@pytest.mark.parametrize("regmap", [HOST, CP], ids=["host", "cp"])
def test_abi_matches_golden(regmap):
    name = regmap.name.removeprefix("npu_")
    golden = GOLDEN_DIR / f"{name}.abi.txt"
    actual = abi_listing(regmap)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(actual)
    expected = golden.read_text()
    if actual != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True),
                actual.splitlines(keepends=True),
                fromfile=str(golden),
                tofile=f"abi_listing({name.upper()})",
            )
        )
        pytest.fail(
            f"The {name} register ABI changed (rtl/regmap/{name}.rdl). Review the ABI change: "
            "drivers and firmware built against the old map depend on it. If it is intended, "
            f"regenerate the golden file with UPDATE_GOLDEN=1 and commit it.\n{diff}",
            pytrace=False,
        )


# --- (b) Field, Register and RegisterMap --------------------------------------------------------


@pytest.mark.parametrize(
    ("lsb", "width", "mask"),
    [(0, 1, 0x1), (3, 1, 0x8), (8, 8, 0xFF00), (16, 6, 0x3F_0000), (0, 32, 0xFFFF_FFFF)],
)
def test_field_mask_and_msb(lsb, width, mask):
    field = Field("f", lsb, width, Kind.RW, 0)
    assert field.mask == mask
    assert field.msb == lsb + width - 1


def test_field_get_extracts_only_its_bits():
    field = Field("f", 8, 4, Kind.RW, 0)
    assert field.get(0x0000_0A00) == 0xA
    assert field.get(0xFFFF_F0FF) == 0
    assert field.get(0xFFFF_FFFF) == 0xF


def test_field_put_shifts_into_place():
    field = Field("f", 8, 4, Kind.RW, 0)
    assert field.put(0) == 0
    assert field.put(0xA) == 0xA00
    assert field.put(0xF) == 0xF00


@pytest.mark.parametrize("value", [16, 17, 1 << 32, -1])
def test_field_put_rejects_values_that_do_not_fit(value):
    field = Field("f", 8, 4, Kind.RW, 0)
    with pytest.raises(ValueError) as info:
        field.put(value)
    assert str(info.value) == f"Value {value} does not fit field f of 4 bits"


def test_host_field_objects():
    assert HOST.int_mask.job_done.mask == 0x1
    assert HOST.int_mask.bus_error.mask == 0x8
    assert HOST.version.major.mask == 0x00FF_0000
    assert HOST.cap_mem.addr_width.lsb == 16
    assert HOST.cap_mem.addr_width.width == 6
    assert HOST.cap_mem.addr_width.param == "mem_addr_width"
    assert HOST.id.magic.reset == 0x544E_5055
    assert HOST.int_status.job_done.reset is None


def test_register_mask_and_reset():
    assert HOST.int_mask.mask == 0x3F
    assert HOST.ring_size.reset == 0x1
    assert HOST.cap_mmu.mask == 0x3F_7F1F
    assert HOST.scratch.mask == 0xFFFF_FFFF
    assert HOST.version.reset == 0x0000_0400
    assert HOST.id.reset == 0x544E_5055
    assert HOST.int_status.reset == 0
    assert HOST.tlb_inv_command.mask == 0x7
    assert HOST.tlb_inv_status.mask == 0xFFFF_0001
    assert HOST.tlb_inv_addr_lo.mask == 0xFFFF_F000
    assert HOST.tlb_inv_addr_hi.mask == 0x7F
    assert HOST.tlb_inv_pages.mask == 0x0FFF_FFFF
    assert HOST.mmu_fault_pending.mask == 0xFFFF
    assert HOST.aspace0_ttbr_lo.mask == 0xFFFF_F000
    assert HOST.aspace15_ttbr_hi.mask == 0xFF
    assert HOST.aspace7_control.mask == 0x3
    assert HOST.aspace3_fault_status.mask == 0xFFFF_0337
    assert HOST.aspace3_fault_status.reset == 0
    assert HOST.aspace9_fault_ack.mask == 0x1


def test_mmu_field_kinds():
    assert HOST.mmu_fault_pending.aspaces.kind is Kind.RO
    assert [f.kind for f in HOST.tlb_inv_command.fields] == [Kind.PULSE] * 3
    assert [f.kind for f in HOST.tlb_inv_status.fields] == [Kind.RO, Kind.RO]
    assert HOST.mmu_walk_reads.count.kind is Kind.RO
    bank = HOST.bank("aspace", 5)
    assert bank.ttbr_lo.addr.kind is Kind.RW
    assert bank.control.bypass.kind is Kind.RW
    assert [f.kind for f in bank.fault_status.fields] == [Kind.RO] * 4
    assert bank.fault_addr_lo.addr.kind is Kind.RO
    assert bank.fault_ack.ack.kind is Kind.PULSE


def test_cp_mmu_fields():
    assert CP.dma_control.field_names() == ["kind", "translate", "fetch", "notify", "asid"]
    assert CP.dma_control.mask == 0xF77
    assert CP.dma_control.encode(kind=1, translate=1, fetch=1, asid=0xA) == 0xA31
    assert CP.dma_control.encode(kind=2, notify=1) == 0x42
    assert (CP.mmu_info.offset, CP.mmu_info.mask) == (0xC0, 0x1F)
    assert (CP.mmu_stopped.offset, CP.mmu_stopped.mask) == (0xC4, 0xFFFF)
    assert CP.mmu_info.addr_spaces.kind is CP.mmu_stopped.aspaces.kind is Kind.RO


@pytest.mark.parametrize(
    ("reg", "fields"),
    [
        ("version", {"patch": 3, "minor": 0x12, "major": 0xAB}),
        ("cap_mem", {"data_width": 256, "addr_width": 40}),
        ("cap_mmu", {"addr_spaces": 16, "tlb_entries": 64}),
        ("int_raw_status", {"job_done": 1, "job_error": 0, "mmu_fault": 1, "bus_error": 0}),
        ("int_set", {"tlb_inv_done": 1, "queue_error": 1}),
        ("scratch", {"value": 0xDEAD_BEEF}),
        ("tlb_inv_status", {"busy": 1, "count": 0xFFFF}),
        ("aspace3_fault_status", {"kind": 6, "table_level": 3, "access": 2, "count": 0x1234}),
        ("aspace15_control", {"enable": 1, "bypass": 1}),
    ],
)
def test_encode_decode_round_trip(reg, fields):
    register = getattr(HOST, reg)
    value = register.encode(**fields)
    assert value & ~register.mask == 0
    assert register.decode(value) == dict.fromkeys(register.field_names(), 0) | fields
    assert register.encode(**register.decode(value)) == value


def test_encode_values():
    assert HOST.version.encode(patch=3, minor=2, major=1) == 0x0001_0203
    assert HOST.cap_mem.encode(data_width=64, addr_width=40) == (40 << 16) | 64
    assert HOST.int_mask.encode() == 0
    assert HOST.int_mask.encode(job_done=1, bus_error=1) == 0b1001
    assert HOST.int_mask.encode(tlb_inv_done=1) == 0b10_0000
    assert HOST.tlb_inv_command.encode(by_range=1) == 0x4
    assert HOST.aspace2_fault_status.encode(kind=3, table_level=2, access=1, count=7) == 0x0007_0123
    assert HOST.aspace2_ttbr_lo.encode(addr=0xABCDE) == 0xABCD_E000


def test_decode_ignores_bits_outside_fields():
    assert HOST.cap_array.decode(0xFFFF_FFC8) == {"n": 8}


def test_encode_unknown_field_raises_attribute_error():
    with pytest.raises(AttributeError, match=r"^Register int_mask has no field 'bogus'$"):
        HOST.int_mask.encode(job_done=1, bogus=1)


def test_encode_value_too_wide_raises_value_error():
    with pytest.raises(ValueError, match=r"^Value 2 does not fit field job_done of 1 bits$"):
        HOST.int_mask.encode(job_done=2)


@pytest.mark.parametrize("name", ["offset", "width", "name", "reset"])
def test_encode_with_register_attribute_name_names_missing_field(name):
    with pytest.raises(AttributeError) as info:
        HOST.scratch.encode(**{name: 1})
    assert str(info.value) == f"Register scratch has no field {name!r}"


def test_field_names_in_bit_order():
    assert HOST.version.field_names() == ["patch", "minor", "major"]
    assert HOST.int_status.field_names() == [
        "job_done",
        "job_error",
        "mmu_fault",
        "bus_error",
        "queue_error",
        "tlb_inv_done",
    ]
    assert HOST.aspace0_fault_status.field_names() == ["kind", "table_level", "access", "count"]
    assert HOST.tlb_inv_command.field_names() == ["everything", "by_asid", "by_range"]


def test_register_attribute_errors():
    with pytest.raises(AttributeError, match=r"^Register int_mask has no field 'bogus'$"):
        _ = HOST.int_mask.bogus
    with pytest.raises(AttributeError, match=r"^Register map npu_host has no register 'bogus'$"):
        _ = HOST.bogus
    assert not hasattr(HOST.int_mask, "irq")
    assert not hasattr(HOST, "int_enable")


def test_register_map_lookup_by_name_and_offset():
    assert HOST.name == "npu_host"
    assert len(HOST) == len(list(HOST)) == 165
    assert HOST.at(HOST.scratch.offset) is HOST.scratch
    for reg in HOST:
        assert HOST.at(reg.offset) is reg
        assert getattr(HOST, reg.name) is reg


@pytest.mark.parametrize(
    "offset",
    [
        *(0x00C, 0x030, 0x03C, 0x050, 0x138, 0x1FC, 0x204, 0x20C, 0x228, 0x23C),
        *(0x3FC, 0x41C, 0x5DC, 0x5FC, 0x600, 0x0FFC, 0xFFFC, 0x10000),
    ],
)
def test_at_returns_none_for_unmapped_offsets(offset):
    assert HOST.at(offset) is None


def test_at_returns_none_inside_a_register():
    assert HOST.at(HOST.scratch.offset + 1) is None
    assert HOST.at(HOST.scratch.offset + 2) is None


def test_span():
    assert HOST.span == HOST.aspace15_fault_ack.offset + 4 == 0x5FC


# --- (b2) the address-space banks of the host map -----------------------------------------------


def test_host_global_mmu_offsets():
    assert {
        name: getattr(HOST, name).offset
        for name in [
            "mmu_fault_pending",
            "tlb_inv_asid",
            "tlb_inv_addr_lo",
            "tlb_inv_addr_hi",
            "tlb_inv_pages",
            "tlb_inv_command",
            "tlb_inv_status",
            "mmu_tlb_hits",
            "mmu_tlb_misses",
            "mmu_walk_reads",
        ]
    } == {
        "mmu_fault_pending": 0x200,
        "tlb_inv_asid": 0x210,
        "tlb_inv_addr_lo": 0x214,
        "tlb_inv_addr_hi": 0x218,
        "tlb_inv_pages": 0x21C,
        "tlb_inv_command": 0x220,
        "tlb_inv_status": 0x224,
        "mmu_tlb_hits": 0x230,
        "mmu_tlb_misses": 0x234,
        "mmu_walk_reads": 0x238,
    }


def test_host_bank_registers():
    expected = [
        (f"aspace{i}_{local}", ASPACE_BASE + i * ASPACE_STRIDE + offset, ("aspace", i), local)
        for i in range(ASPACE_COUNT)
        for local, offset in ASPACE_LAYOUT.items()
    ]
    assert [(r.name, r.offset, r.bank, r.local) for r in HOST if r.bank] == expected
    assert len(expected) == 112
    assert expected[-1] == ("aspace15_fault_ack", 0x5F8, ("aspace", 15), "fault_ack")


def test_host_global_registers_have_no_bank():
    for reg in HOST:
        if reg.offset < ASPACE_BASE:
            assert (reg.bank, reg.local) == (None, None), reg.name


def test_host_bank_count():
    assert HOST.bank_count("aspace") == 16


@pytest.mark.parametrize("index", [0, 3, 15])
def test_host_bank_by_local_name(index):
    bank = HOST.bank("aspace", index)
    assert isinstance(bank, Bank)
    assert (bank.name, bank.index) == ("aspace", index)
    assert [r.local for r in bank] == list(ASPACE_LAYOUT)
    for local, offset in ASPACE_LAYOUT.items():
        reg = getattr(bank, local)
        assert reg is getattr(HOST, f"aspace{index}_{local}")
        assert reg.offset == ASPACE_BASE + index * ASPACE_STRIDE + offset


def test_host_bank_literals():
    assert HOST.bank("aspace", 3).ttbr_lo.offset == 0x460
    assert HOST.bank("aspace", 15).fault_ack.offset == 0x5F8
    assert HOST.bank("aspace", 0).fault_addr_hi.offset == 0x414
    assert HOST.at(0x4EC) is HOST.aspace7_fault_status


@pytest.mark.parametrize("index", [16, -1, 100, "3", 1.0])
def test_host_bank_index_out_of_range(index):
    with pytest.raises(IndexError) as info:
        HOST.bank("aspace", index)
    assert str(info.value) == f"Bank aspace has elements 0 to 15, not {index!r}"


def _assert_missing_lookups(regmap, bank, *, index, member, unknown, register, past_end):
    """Looking up what a map or its bank ``bank`` does not hold raises AttributeError, by name.

    ``member`` is a register of element ``index`` by its full name (a bank knows its registers by
    their short names), ``unknown`` no bank, ``register`` a plain register (no bank either) and
    ``past_end`` a register of the element after the bank's last.
    """
    name = regmap.name
    with pytest.raises(AttributeError, match=rf"^Bank {bank} has no register 'bogus'$"):
        _ = regmap.bank(bank, index).bogus
    with pytest.raises(AttributeError, match=rf"^Bank {bank} has no register '{member}'$"):
        getattr(regmap.bank(bank, index), member)
    with pytest.raises(AttributeError, match=rf"^Register map {name} has no bank '{unknown}'$"):
        regmap.bank(unknown, 0)
    for not_a_bank in (unknown, register):
        with pytest.raises(
            AttributeError, match=rf"^Register map {name} has no bank '{not_a_bank}'$"
        ):
            regmap.bank_count(not_a_bank)
    for not_a_register in (bank, past_end):
        with pytest.raises(
            AttributeError, match=rf"^Register map {name} has no register '{not_a_register}'$"
        ):
            getattr(regmap, not_a_register)


def test_host_bank_attribute_errors():
    _assert_missing_lookups(
        HOST,
        "aspace",
        index=2,
        member="aspace2_ttbr_lo",
        unknown="bogus",
        register="aspace3",
        past_end="aspace16_ttbr_lo",
    )
    with pytest.raises(AttributeError, match=r"^Register map npu_cp has no bank 'aspace'$"):
        CP.bank_count("aspace")


@pytest.mark.parametrize(
    ("reg", "value", "text"),
    [
        ("scratch", 0x1234_5678, "scratch = 0x12345678"),
        ("id", 0x544E_5055, "id = 0x544e5055"),
        ("version", 0x0000_0200, "version = 0x00000200 {patch=0x0 minor=0x2 major=0x0}"),
        ("cap_array", 0x8, "cap_array = 0x00000008 {n=0x8}"),
        ("cap_mem", 0x0028_0040, "cap_mem = 0x00280040 {data_width=0x40 addr_width=0x28}"),
        (
            "int_raw_status",
            0x5,
            "int_raw_status = 0x00000005 {job_done=0x1 job_error=0x0 mmu_fault=0x1 "
            "bus_error=0x0 queue_error=0x0 tlb_inv_done=0x0}",
        ),
        (
            "int_set",
            0x20,
            "int_set = 0x00000020 {job_done=0x0 job_error=0x0 mmu_fault=0x0 "
            "bus_error=0x0 queue_error=0x0 tlb_inv_done=0x1}",
        ),
        ("mmu_tlb_hits", 0x0001_0002, "mmu_tlb_hits = 0x00010002"),
        ("tlb_inv_asid", 0x7, "tlb_inv_asid = 0x00000007 {asid=0x7}"),
        (
            "tlb_inv_status",
            0x0003_0001,
            "tlb_inv_status = 0x00030001 {busy=0x1 count=0x3}",
        ),
        ("aspace3_ttbr_lo", 0x1234_5000, "aspace3_ttbr_lo = 0x12345000 {addr=0x12345}"),
        ("aspace15_fault_addr_lo", 0xDEAD_BEEF, "aspace15_fault_addr_lo = 0xdeadbeef"),
        (
            "aspace0_fault_status",
            0x0002_0213,
            "aspace0_fault_status = 0x00020213 {kind=0x3 table_level=0x1 access=0x2 count=0x2}",
        ),
    ],
)
def test_format_access_mapped(reg, value, text):
    assert HOST.format_access(getattr(HOST, reg).offset, value) == text


@pytest.mark.parametrize(
    ("offset", "value", "text"),
    [
        (0x0FC, 0x1, "<unmapped 0x00fc> = 0x00000001"),
        (0x41C, 0x1, "<unmapped 0x041c> = 0x00000001"),
        (0x5FC, 0x2, "<unmapped 0x05fc> = 0x00000002"),
        (0x00C, 0xDEAD_BEEF, "<unmapped 0x000c> = 0xdeadbeef"),
        (0xFFFC, 0, "<unmapped 0xfffc> = 0x00000000"),
    ],
)
def test_format_access_unmapped(offset, value, text):
    assert HOST.format_access(offset, value) == text


def test_hand_built_register_map():
    go = Field("go", 0, 1, Kind.PULSE, 0)
    mode = Field("mode", 4, 3, Kind.RW, 2)
    ctrl = Register("ctrl", 0x10, (go, mode))
    regmap = RegisterMap("m", (ctrl,))
    assert regmap.ctrl is ctrl
    assert regmap.ctrl.mode is mode
    assert ctrl.reset == 0x20
    assert ctrl.mask == 0x71
    assert regmap.span == 0x14
    assert regmap.format_access(0x10, 0x51) == "ctrl = 0x00000051 {go=0x1 mode=0x5}"


# --- (c) layout invariants of the host map -----------------------------------------------------


def test_register_offsets_are_aligned_and_in_the_window():
    for reg in HOST:
        assert reg.width == 32, reg.name
        assert reg.offset % 4 == 0, f"{reg.name} at {reg.offset:#x} is not 4-byte aligned"
        assert 0 <= reg.offset <= HOST_WINDOW - 4, reg.name


def test_registers_do_not_overlap():
    regs = sorted(HOST, key=lambda r: r.offset)
    for a, b in itertools.pairwise(regs):
        assert a.offset + a.width // 8 <= b.offset, f"{a.name} overlaps {b.name}"


def test_register_names_are_unique():
    names = [reg.name for reg in HOST]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("reg", list(HOST), ids=lambda r: r.name)
def test_fields_do_not_overlap_and_fit(reg):
    assert reg.fields, f"{reg.name} has no fields"
    names = reg.field_names()
    assert len(names) == len(set(names)), f"{reg.name} has duplicate field names"
    used = 0
    for field in reg.fields:
        assert field.width >= 1
        assert 0 <= field.lsb <= field.msb < reg.width, f"{reg.name}.{field.name}"
        assert used & field.mask == 0, f"{reg.name}.{field.name} overlaps another field"
        used |= field.mask
    assert used == reg.mask


@pytest.mark.parametrize("reg", list(HOST), ids=lambda r: r.name)
def test_reset_values_fit_and_hw_fields_have_none(reg):
    for field in reg.fields:
        if field.kind is Kind.RO:
            assert field.reset is None, f"{reg.name}.{field.name}"
        else:
            assert 0 <= field.reset < (1 << field.width), f"{reg.name}.{field.name}"


def test_interrupt_registers_share_one_layout():
    # The driver clears int_raw_status by writing back what it read from int_status.
    layouts = {
        name: [(f.name, f.lsb, f.width) for f in getattr(HOST, name).fields]
        for name in INTERRUPT_REGISTERS
    }
    first = layouts[INTERRUPT_REGISTERS[0]]
    assert all(layout == first for layout in layouts.values()), layouts
    assert [getattr(HOST, name).fields[0].kind for name in INTERRUPT_REGISTERS] == [
        Kind.W1C,
        Kind.RW,
        Kind.RO,
        Kind.PULSE,
    ]


def test_capability_fields_cover_every_parameter():
    params = [f.param for reg in HOST for f in reg.fields if f.param]
    assert len(params) == len(set(params)), "a parameter is reported twice"
    constants = {"mem_addr_width", "va_width", "ring_log2_min", "ring_log2_max"}
    assert set(params) == set(PARAMETERS) | constants
    # The firmware's view: the DMA and matrix queues' depths, and the address spaces again.
    cp_params = [f.param for reg in CP for f in reg.fields if f.param]
    assert cp_params == ["dma_queue_depth", "addr_spaces", "matrix_queue_depth"]


def test_capability_fields_can_hold_every_allowed_value():
    for reg in HOST:
        for field in reg.fields:
            if field.param in PARAMETERS:
                allowed = PARAMETERS[field.param][0]
                assert allowed.hi < (1 << field.width), f"{reg.name}.{field.name}"
                assert field.kind is Kind.RO, f"{reg.name}.{field.name}"


# --- (d) the SystemRDL front end ---------------------------------------------------------------


def _write_rdl(tmp_path, name, body):
    path = tmp_path / f"{name}.rdl"
    path.write_text(f"addrmap m_{name} {{\n    default regwidth = 32;\n{body}\n}};\n")
    return path


SUPPORTED = """
    reg {
        field { sw = rw; hw = r; } rw_f[7:0] = 5;
        field { sw = r; hw = w; } ro_f[15:8];
        field { sw = r; hw = na; } const_f[23:16] = 0x2a;
    } a @ 0x0;
    reg {
        field { sw = rw; onwrite = woclr; intr; } w1c_f[0:0] = 0;
        field { sw = w; hw = r; singlepulse; } pulse_f[1:1] = 0;
    } b @ 0x8;
"""


@pytest.mark.parametrize("via", ["load", "compile_rdl"])
def test_supported_field_kinds(tmp_path, via):
    path = _write_rdl(tmp_path, f"supported_{via}", SUPPORTED)
    regmap = load(path) if via == "load" else from_rdl(compile_rdl(path))
    assert regmap.name == f"m_supported_{via}"
    assert [(r.name, r.offset) for r in regmap] == [("a", 0x0), ("b", 0x8)]
    kinds = {f.name: (f.kind, f.reset) for r in regmap for f in r.fields}
    assert kinds == {
        "rw_f": (Kind.RW, 5),
        "ro_f": (Kind.RO, None),
        "const_f": (Kind.CONST, 0x2A),
        "w1c_f": (Kind.W1C, 0),
        "pulse_f": (Kind.PULSE, 0),
    }
    assert regmap.a.reset == 0x2A_0005
    assert [kind.sw_writable for kind in Kind] == [True, False, False, True, True]


def test_compile_rdl_by_name_is_the_host_map():
    assert from_rdl(compile_rdl("host")) == HOST


def test_woclr_with_hwset_is_w1c(tmp_path):
    body = "    reg { field { sw = rw; onwrite = woclr; hwset; } f[0:0] = 0; } r0 @ 0x0;"
    assert load(_write_rdl(tmp_path, "hwset", body)).r0.f.kind is Kind.W1C


REJECTED = {
    "onwrite_wzc": (
        "reg { field { sw = rw; hw = r; onwrite = wzc; } f[0:0] = 0; } r0 @ 0x0;",
        "Field m_onwrite_wzc.r0.f: onwrite=wzc is not supported",
    ),
    "onwrite_woset": (
        "reg { field { sw = rw; hw = r; onwrite = woset; } f[0:0] = 0; } r0 @ 0x0;",
        "Field m_onwrite_woset.r0.f: onwrite=woset is not supported",
    ),
    "write_only_without_singlepulse": (
        "reg { field { sw = w; hw = r; } go[0:0] = 0; } r0 @ 0x0;",
        "Field m_write_only_without_singlepulse.r0.go: sw=w hw=r is not a supported field kind",
    ),
    "singlepulse_rw": (
        "reg { field { sw = rw; hw = r; singlepulse; } go[0:0] = 0; } r0 @ 0x0;",
        "Field m_singlepulse_rw.r0.go: singlepulse fields must be sw=w",
    ),
    "register_array": (
        "reg { field { sw = rw; hw = r; } f[31:0] = 0; } r0[4] @ 0x0;",
        "Register m_register_array.r0[0]: register arrays are not supported",
    ),
    "register_array_in_regfile": (
        "regfile { reg { field { sw = rw; hw = r; } f[31:0] = 0; } q[2] @ 0x0; } rf @ 0x0;",
        "Register m_register_array_in_regfile.rf.q[0]: register arrays are not supported",
    ),
    "register_array_in_regfile_array": (
        "regfile { reg { field { sw = rw; hw = r; } f[31:0] = 0; } q[2] @ 0x0; } "
        "rf[2] @ 0x0 += 0x10;",
        "Register m_register_array_in_regfile_array.rf[0].q[0]: register arrays are not supported",
    ),
    "regwidth_64_in_regfile": (
        "regfile { reg { regwidth = 64; field { sw = rw; hw = r; } f[63:0] = 0; } a @ 0x0; } "
        "rf[2] @ 0x0 += 0x10;",
        "Register m_regwidth_64_in_regfile.rf[0].a: only 32-bit registers are supported",
    ),
    "onwrite_wzc_in_regfile": (
        "regfile { reg { field { sw = rw; hw = r; onwrite = wzc; } f[0:0] = 0; } a @ 0x0; } "
        "rf[2] @ 0x0 += 0x10;",
        "Field m_onwrite_wzc_in_regfile.rf[0].a.f: onwrite=wzc is not supported",
    ),
    "regfile_in_regfile": (
        "regfile { regfile { reg { field { sw = rw; hw = r; } f[0:0] = 0; } inner @ 0x0; } "
        "deep @ 0x0; } rf @ 0x10;\n    reg { field { sw = rw; hw = r; } g[0:0] = 0; } r0 @ 0x0;",
        "m_regfile_in_regfile.rf.deep: only registers may sit in a regfile",
    ),
    "regfile_in_regfile_array": (
        "regfile { regfile { reg { field { sw = rw; hw = r; } f[0:0] = 0; } inner @ 0x0; } "
        "deep @ 0x0; } rf[2] @ 0x0 += 0x10;",
        "m_regfile_in_regfile_array.rf[0].deep: only registers may sit in a regfile",
    ),
    "nested_addrmap": (
        "addrmap { reg { field { sw = rw; hw = r; } f[0:0] = 0; } inner @ 0x0; } sub @ 0x100;",
        "m_nested_addrmap.sub: only registers and register files are supported, not nested "
        "address maps or memories",
    ),
    "nested_addrmap_array": (
        "addrmap { reg { field { sw = rw; hw = r; } f[0:0] = 0; } inner @ 0x0; } "
        "sub[2] @ 0x100 += 0x100;",
        "m_nested_addrmap_array.sub[0]: only registers and register files are supported, not "
        "nested address maps or memories",
    ),
    "regwidth_64": (
        "reg { regwidth = 64; field { sw = rw; hw = r; } f[63:0] = 0; } r0 @ 0x0;",
        "Register m_regwidth_64.r0: only 32-bit registers are supported",
    ),
    "regwidth_16": (
        "reg { regwidth = 16; field { sw = rw; hw = r; } f[15:0] = 0; } r0 @ 0x0;",
        "Register m_regwidth_16.r0: only 32-bit registers are supported",
    ),
    "woclr_without_intr": (
        "reg { field { sw = rw; hw = r; onwrite = woclr; } f[0:0] = 0; } r0 @ 0x0;",
        "Field m_woclr_without_intr.r0.f: woclr fields must be intr or hwset",
    ),
    "const_without_reset": (
        "reg { field { sw = r; hw = na; } f[7:0]; } r0 @ 0x0;",
        "Field m_const_without_reset.r0.f: a constant field needs a reset value",
    ),
    "rw_hw_rw": (
        "reg { field { sw = rw; hw = rw; } f[0:0] = 0; } r0 @ 0x0;",
        "Field m_rw_hw_rw.r0.f: sw=rw hw=rw is not a supported field kind",
    ),
    "rw_hw_w": (
        "reg { field { sw = rw; hw = w; } f[0:0] = 0; } r0 @ 0x0;",
        "Field m_rw_hw_w.r0.f: sw=rw hw=w is not a supported field kind",
    ),
}


@pytest.mark.parametrize("case", list(REJECTED))
def test_unsupported_constructs_rejected_by_load(tmp_path, case):
    body, message = REJECTED[case]
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        load(_write_rdl(tmp_path, case, "    " + body))


@pytest.mark.parametrize("case", list(REJECTED))
def test_unsupported_constructs_rejected_by_from_rdl(tmp_path, case):
    body, message = REJECTED[case]
    top = compile_rdl(_write_rdl(tmp_path, case, "    " + body))
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        from_rdl(top)


# Constructs the model cannot represent faithfully: a nested map or memory would lose its
# registers, a read side effect would be lost, a reserved name would be unreachable.
UNREPRESENTABLE = {
    "two_dimensional_regfile_array": (
        "regfile { reg { field { sw = rw; hw = r; } f[0:0] = 0; } a @ 0x0; }"
        " rf[2][2] @ 0x0 += 0x10;",
        r"only one-dimensional regfile arrays",
    ),
    "flattened_names_clash": (
        "reg { field { sw = rw; hw = r; } f[0:0] = 0; } rf_a @ 0x0;\n"
        "    regfile { reg { field { sw = rw; hw = r; } f[0:0] = 0; } a @ 0x0; } rf @ 0x10;",
        r"names \['rf_a'\] are given twice",
    ),
    "register_in_nested_addrmap": (
        "addrmap { reg { field { sw = rw; hw = r; } f[0:0] = 0; } inner @ 0x0; } sub @ 0x100;\n"
        "    reg { field { sw = rw; hw = r; } g[0:0] = 0; } r0 @ 0x0;",
        r"\.sub: only registers and register files are supported, not nested address maps or "
        r"memories$",
    ),
    "memory": (
        "external mem { mementries = 4; memwidth = 32; } mm @ 0x100;\n"
        "    reg { field { sw = rw; hw = r; } g[0:0] = 0; } r0 @ 0x0;",
        r"\.mm: only registers and register files are supported, not nested address maps or "
        r"memories$",
    ),
    "read_clear_field": (
        "reg { field { sw = r; hw = w; rclr; } f[0:0]; } r0 @ 0x0;",
        r"r0\.f: read side effects \(onread\) are not supported",
    ),
    "field_named_like_register_attribute": (
        "reg { field { sw = rw; hw = r; } reset[3:0] = 0; } r0 @ 0x0;",
        r"r0\.reset: the name 'reset' is reserved by the register model",
    ),
    "register_named_like_map_attribute": (
        "reg { field { sw = rw; hw = r; } f[0:0] = 0; } span @ 0x0;",
        r"\.span: the name 'span' is reserved by the register model",
    ),
    "field_in_regfile_named_like_register_attribute": (
        "regfile { reg { field { sw = rw; hw = r; } reset[3:0] = 0; } a @ 0x0; } rf[2] @ 0x0 "
        "+= 0x10;",
        r"\.rf\[0\]\.a\.reset: the name 'reset' is reserved by the register model$",
    ),
}


@pytest.mark.parametrize("case", list(UNREPRESENTABLE))
def test_unrepresentable_constructs_are_rejected(tmp_path, case):
    body, message = UNREPRESENTABLE[case]
    top = compile_rdl(_write_rdl(tmp_path, case, "    " + body))
    with pytest.raises(ValueError, match=message):
        from_rdl(top)


# --- (d2) register files -----------------------------------------------------------------------

REGFILE = """
    reg { field { sw = rw; hw = r; } g[0:0] = 0; } r0 @ 0x0;
    regfile {
        reg { field { sw = rw; hw = r; } f[31:0] = 0; } a @ 0x0;
        reg { field { sw = r; hw = w; } s[3:0]; } b @ 0x4;
    } rf @ 0x10;
"""

# Three banks, whose registers are declared out of address order, between two plain registers.
REGFILE_ARRAY = """
    reg { field { sw = rw; hw = r; } g[0:0] = 0; } tail @ 0x200;
    regfile {
        reg { field { sw = rw; hw = r; } addr[31:12] = 0; } base @ 0x4;
        reg { field { sw = w; hw = r; singlepulse; } go[0:0] = 0; } kick @ 0x0;
        reg {
            field { sw = r; hw = w; } busy[0:0];
            field { sw = r; hw = na; } id[15:8] = 0x5a;
        } info @ 0x8;
    } ch[3] @ 0x100 += 0x40;
    reg { field { sw = rw; hw = r; } g[0:0] = 0; } head @ 0x0;
"""


def test_single_regfile_registers(tmp_path):
    regmap = load(_write_rdl(tmp_path, "regfile", REGFILE))
    assert [(r.name, r.offset, r.bank, r.local) for r in regmap] == [
        ("r0", 0x0, None, None),
        ("rf_a", 0x10, ("rf", 0), "a"),
        ("rf_b", 0x14, ("rf", 0), "b"),
    ]
    assert regmap.rf_a.f.mask == 0xFFFF_FFFF
    assert regmap.rf_b.s.kind is Kind.RO
    assert regmap.at(0x14) is regmap.rf_b
    assert regmap.span == 0x18
    assert regmap.format_access(0x14, 0x3) == "rf_b = 0x00000003 {s=0x3}"
    with pytest.raises(AttributeError, match=r"^Register map m_regfile has no register 'a'$"):
        _ = regmap.a


def test_single_regfile_bank_holds_its_registers(tmp_path):
    """A single regfile is a bank of one element."""
    regmap = load(_write_rdl(tmp_path, "regfile_bank", REGFILE))
    assert regmap.bank_count("rf") == 1
    assert [r.name for r in regmap.bank("rf", 0)] == ["rf_a", "rf_b"]


@pytest.mark.parametrize("via", ["load", "compile_rdl"])
def test_regfile_array_registers(tmp_path, via):
    path = _write_rdl(tmp_path, f"regfile_array_{via}", REGFILE_ARRAY)
    regmap = load(path) if via == "load" else from_rdl(compile_rdl(path))
    assert [(r.name, r.offset, r.bank, r.local) for r in regmap] == [
        ("head", 0x000, None, None),
        ("ch0_kick", 0x100, ("ch", 0), "kick"),
        ("ch0_base", 0x104, ("ch", 0), "base"),
        ("ch0_info", 0x108, ("ch", 0), "info"),
        ("ch1_kick", 0x140, ("ch", 1), "kick"),
        ("ch1_base", 0x144, ("ch", 1), "base"),
        ("ch1_info", 0x148, ("ch", 1), "info"),
        ("ch2_kick", 0x180, ("ch", 2), "kick"),
        ("ch2_base", 0x184, ("ch", 2), "base"),
        ("ch2_info", 0x188, ("ch", 2), "info"),
        ("tail", 0x200, None, None),
    ]
    assert regmap.span == 0x204
    assert regmap.ch1_base.addr.mask == 0xFFFF_F000
    assert regmap.ch2_kick.go.kind is Kind.PULSE
    assert regmap.ch0_info.reset == 0x5A00
    assert regmap.ch0_info.busy.reset is None
    assert regmap.at(0x148) is regmap.ch1_info
    assert regmap.at(0x10C) is None
    assert regmap.at(0x1C0) is None
    assert regmap.format_access(0x144, 0x3000) == "ch1_base = 0x00003000 {addr=0x3}"
    assert regmap.format_access(0x14C, 0x1) == "<unmapped 0x014c> = 0x00000001"


def test_regfile_array_banks(tmp_path):
    regmap = load(_write_rdl(tmp_path, "banks", REGFILE_ARRAY))
    assert regmap.bank_count("ch") == 3
    bank = regmap.bank("ch", 1)
    assert isinstance(bank, Bank)
    assert (bank.name, bank.index) == ("ch", 1)
    assert [r.name for r in bank] == ["ch1_kick", "ch1_base", "ch1_info"]
    assert bank.base is regmap.ch1_base
    assert bank.kick is regmap.ch1_kick
    assert bank.info is regmap.ch1_info
    assert regmap.bank("ch", 0).base.offset == 0x104
    assert regmap.bank("ch", 2).info.offset == 0x188
    assert regmap.bank("ch", 2) == Bank(
        "ch", 2, (regmap.ch2_kick, regmap.ch2_base, regmap.ch2_info)
    )


def test_regfile_array_bank_errors(tmp_path):
    regmap = load(_write_rdl(tmp_path, "bank_errors", REGFILE_ARRAY))
    with pytest.raises(IndexError, match=r"^Bank ch has elements 0 to 2, not 3$"):
        regmap.bank("ch", 3)
    with pytest.raises(IndexError, match=r"^Bank ch has elements 0 to 2, not -1$"):
        regmap.bank("ch", -1)
    _assert_missing_lookups(
        regmap,
        "ch",
        index=0,
        member="ch0_base",
        unknown="dma",
        register="head",
        past_end="ch3_base",
    )


# --- (e) addresses split over a lo/hi register pair -------------------------------------------


@pytest.mark.parametrize(
    ("address", "lo", "hi"),
    [(0, 0, 0), (0xAB_1234_5660, 0x1234_5660, 0xAB), (0xFF_FFFF_FFE0, 0xFFFF_FFE0, 0xFF)],
)
def test_split_and_join_address(address, lo, hi):
    assert split_address(HOST.ring_base_lo, HOST.ring_base_hi, address) == (lo, hi)
    assert join_address(HOST.ring_base_lo, HOST.ring_base_hi, lo, hi) == address


@pytest.mark.parametrize("address", [0x10, 1 << 40, 0x1_0000_0001])
def test_split_address_refuses_what_does_not_fit(address):
    with pytest.raises(ValueError, match=r"does not fit registers ring_base_lo/ring_base_hi$"):
        split_address(HOST.ring_base_lo, HOST.ring_base_hi, address)


@pytest.mark.parametrize(
    ("address", "lo", "hi"),
    [(0, 0, 0), (0xAB_1234_5000, 0x1234_5000, 0xAB), (0xFF_FFFF_F000, 0xFFFF_F000, 0xFF)],
)
def test_split_and_join_table_base(address, lo, hi):
    bank = HOST.bank("aspace", 9)
    assert split_address(bank.ttbr_lo, bank.ttbr_hi, address) == (lo, hi)
    assert join_address(bank.ttbr_lo, bank.ttbr_hi, lo, hi) == address


@pytest.mark.parametrize("address", [0x800, 1 << 40, 0x1_0000_0010])
def test_split_table_base_refuses_what_does_not_fit(address):
    bank = HOST.bank("aspace", 9)
    with pytest.raises(ValueError) as info:
        split_address(bank.ttbr_lo, bank.ttbr_hi, address)
    assert str(info.value) == (
        f"Address {address:#x} does not fit registers aspace9_ttbr_lo/aspace9_ttbr_hi"
    )


def test_split_invalidation_address_is_39_bits():
    lo, hi = HOST.tlb_inv_addr_lo, HOST.tlb_inv_addr_hi
    assert split_address(lo, hi, 0x7F_FFFF_F000) == (0xFFFF_F000, 0x7F)
    assert join_address(lo, hi, 0x1234_5FFF, 0xFF) == 0x7F_1234_5000
    with pytest.raises(ValueError, match=r"^Address 0x8000000000 does not fit registers "):
        split_address(lo, hi, 1 << 39)


def test_join_address_ignores_bits_outside_the_fields():
    assert (
        join_address(HOST.cq_base_lo, HOST.cq_base_hi, 0x1234_567F, 0xFFFF_FF12) == 0x12_1234_5670
    )
