"""The shared memory layouts: sizes, field positions and byte encodings software relies on."""

import re

import pytest
from tinynpu.rtl.layouts import (
    COMMAND_ALIGN,
    CommandHeader,
    Completion,
    CompletionStatus,
    CopyCommand,
    ErrorCode,
    FillCommand,
    NopCommand,
    Opcode,
    RingEntry,
    WriteValueCommand,
    nbytes,
    pack,
    unpack,
)

SIZES = {
    RingEntry: 32,
    Completion: 16,
    CommandHeader: 8,
    NopCommand: 8,
    CopyCommand: 40,
    FillCommand: 32,
    WriteValueCommand: 24,
}


@pytest.mark.parametrize("layout", SIZES, ids=lambda layout: layout.__name__)
def test_sizes(layout):
    assert nbytes(layout) == SIZES[layout]


@pytest.mark.parametrize(
    "layout", [NopCommand, CopyCommand, FillCommand, WriteValueCommand], ids=lambda c: c.__name__
)
def test_commands_are_whole_multiples_of_the_alignment(layout):
    assert nbytes(layout) % COMMAND_ALIGN == 0


def test_ring_entry_bytes():
    raw = pack(
        RingEntry,
        {"seqno": 0x11223344, "asid": 2, "cmd_size": 0x40, "cmd_addr": 0x12_3456_7000},
    )
    assert raw == (
        bytes.fromhex("44332211020000004000000000000000")
        + (0x12_3456_7000).to_bytes(8, "little")
        + bytes(8)
    )
    entry = unpack(RingEntry, raw)
    assert (entry.seqno, entry.asid, entry.flags, entry.cmd_size, entry.cmd_addr) == (
        0x11223344,
        2,
        0,
        0x40,
        0x12_3456_7000,
    )


def test_completion_bytes():
    raw = pack(
        Completion,
        {
            "seqno": 7,
            "status": CompletionStatus.ERROR,
            "error": ErrorCode.BAD_OPCODE,
            "offset": 0x18,
            "cycles": 1000,
        },
    )
    assert raw == bytes.fromhex("0700000001011800e803000000000000")
    record = unpack(Completion, raw)
    assert record.status == CompletionStatus.ERROR
    assert record.error == ErrorCode.BAD_OPCODE
    assert (record.seqno, record.offset, record.cycles) == (7, 0x18, 1000)


def test_copy_command_bytes():
    raw = pack(
        CopyCommand,
        {
            "header": {"opcode": Opcode.COPY, "length": 40},
            "src": 0x1000,
            "dst": 0x2003,
            "row_bytes": 5,
            "rows": 3,
            "src_pitch": 7,
            "dst_pitch": 9,
        },
    )
    assert raw[:8] == bytes.fromhex("0100280000000000")
    assert raw[8:16] == (0x1000).to_bytes(8, "little")
    assert raw[16:24] == (0x2003).to_bytes(8, "little")
    assert raw[24:40] == bytes.fromhex("05000000030000000700000009000000")
    command = unpack(CopyCommand, raw)
    assert command.header.opcode == Opcode.COPY
    assert command.header.length == 40


@pytest.mark.parametrize(
    "opcode, value",
    [(Opcode.NOP, 0), (Opcode.COPY, 1), (Opcode.FILL, 2), (Opcode.WRITE_VALUE, 3)],
)
def test_opcode_values(opcode, value):
    assert opcode.value == value


def test_error_code_values_are_stable():
    assert [(e.name, e.value) for e in ErrorCode] == [
        ("NONE", 0),
        ("BAD_OPCODE", 1),
        ("TRUNCATED", 2),
        ("MISALIGNED", 3),
        ("OVERSIZED", 4),
        ("RESERVED", 5),
        ("BAD_ENTRY", 6),
        ("BUS_ERROR", 7),
        ("PAGE_FAULT", 8),
        ("AS_STOPPED", 9),
        ("BAD_OPERAND", 10),
    ]


def test_unpack_wrong_size():
    with pytest.raises(ValueError, match=r"^RingEntry is 32 bytes, not 31$"):
        unpack(RingEntry, bytes(31))


@pytest.mark.parametrize(
    "layout, fields, message",
    [
        (RingEntry, {"asid": 256}, "asid: 256 does not fit 8 bits"),
        (RingEntry, {"seqno": -1}, "seqno: -1 does not fit 32 bits"),
        (RingEntry, {"bogus": 1}, "bogus: no such field"),
        (CopyCommand, {"header": {"length": 1 << 16}}, "header.length: 65536 does not fit 16 bits"),
        (CopyCommand, {"header": {"opcode": 1}}, "header.opcode: 1 is not a Opcode"),
        (Completion, {"error": CompletionStatus.OK}, "error: <CompletionStatus.OK: 0> is not a"),
    ],
)
def test_pack_rejects_what_does_not_fit(layout, fields, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        pack(layout, fields)


def test_completion_status_values_are_stable():
    assert [(s.name, s.value) for s in CompletionStatus] == [("OK", 0), ("ERROR", 1), ("FAULT", 2)]
