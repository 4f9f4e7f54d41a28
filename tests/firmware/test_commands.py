"""Firmware command checks: every error code and its trigger, accepted limits, decoded values.

Inputs are built by hand, little-endian, fields from the least significant byte up, so that the
tests do not depend on ``tinynpu.rtl.layouts.pack``.
"""

import pytest
from tinynpu.firmware.commands import CommandError, check_command, check_entry, decode_header
from tinynpu.rtl.layouts import (
    CopyCommand,
    ErrorCode,
    FillCommand,
    NopCommand,
    Opcode,
    WriteValueCommand,
)

LIMIT = 1 << 40  # physical address space
MAX_ROW_BYTES = (1 << 24) - 1
MAX_ROWS = 65535
STREAM_LIMIT = 4096
ADDR_SPACES = 4


def le(value, size):
    return value.to_bytes(size, "little")


def entry(*, seqno=0, asid=0, flags=0, r0=0, size=64, r1=0, addr=0x1000, r2=0):
    """A 32-byte RingEntry."""
    return (
        le(seqno, 4) + le(asid, 1) + le(flags, 1) + le(r0, 2)
        + le(size, 4) + le(r1, 4) + le(addr, 8) + le(r2, 8)
    )  # fmt: skip


def header(opcode, length, *, flags=0, reserved=0):
    """An 8-byte CommandHeader."""
    return le(opcode, 1) + le(flags, 1) + le(length, 2) + le(reserved, 4)


def copy(src, dst, row_bytes, rows, src_pitch, dst_pitch):
    return (
        header(1, 40) + le(src, 8) + le(dst, 8)
        + le(row_bytes, 4) + le(rows, 4) + le(src_pitch, 4) + le(dst_pitch, 4)
    )  # fmt: skip


def fill(dst, row_bytes, rows, dst_pitch, pattern=0):
    return (
        header(2, 32) + le(dst, 8)
        + le(row_bytes, 4) + le(rows, 4) + le(dst_pitch, 4) + le(pattern, 4)
    )  # fmt: skip


def write_value(addr, value=0):
    return header(3, 24) + le(addr, 8) + le(value, 8)


def _raises(code, function, *args):
    with pytest.raises(CommandError) as info:
        function(*args)
    assert info.value.code is code
    return str(info.value)


def test_helpers_match_the_layout_sizes():
    assert len(entry()) == 32
    assert len(header(0, 8)) == 8
    assert len(copy(0, 0, 0, 0, 0, 0)) == 40
    assert len(fill(0, 0, 0, 0)) == 32
    assert len(write_value(0)) == 24


# --- ring entries ----------------------------------------------------------------------------


def test_entry_decoded():
    raw = entry(seqno=0xDEAD_BEEF, asid=3, size=0x48, addr=0x12_3456_7008)
    e = check_entry(raw, STREAM_LIMIT, ADDR_SPACES)
    assert (e.seqno, e.asid, e.flags, e.cmd_size, e.cmd_addr) == (
        0xDEAD_BEEF,
        3,
        0,
        0x48,
        0x12_3456_7008,
    )


@pytest.mark.parametrize(
    ("size", "addr"),
    [
        (8, 0),
        (STREAM_LIMIT, 0x1000),  # exactly the limit
        (64, LIMIT - 64),  # ends exactly at 2**40
        (8, LIMIT - 8),
    ],
)
def test_entry_accepted(size, addr):
    e = check_entry(entry(size=size, addr=addr), STREAM_LIMIT, ADDR_SPACES)
    assert (e.cmd_size, e.cmd_addr) == (size, addr)


@pytest.mark.parametrize(
    "fields",
    [
        {"flags": 1},
        {"flags": 0x80},
        {"r0": 1},
        {"r0": 0x8000},
        {"r1": 1},
        {"r1": 1 << 31},
        {"r2": 1},
        {"r2": 1 << 63},
        {"size": 0},
        {"size": 4},
        {"size": 12},
        {"size": STREAM_LIMIT + 8},
        {"size": (1 << 32) - 8},
        {"addr": 0x1004},
        {"addr": 0x1001},
        {"addr": LIMIT - 56},  # 64 bytes from 2**40 - 56: one word past the end
        {"addr": LIMIT},
        {"addr": (1 << 64) - 8},
        {"asid": ADDR_SPACES},  # the first address space the MMU does not have
        {"asid": 0xFF},
    ],
    ids=repr,
)
def test_entry_bad(fields):
    _raises(ErrorCode.BAD_ENTRY, check_entry, entry(**fields), STREAM_LIMIT, ADDR_SPACES)


def test_entry_stream_limit_is_a_parameter():
    assert check_entry(entry(size=16), 16, ADDR_SPACES).cmd_size == 16
    _raises(ErrorCode.BAD_ENTRY, check_entry, entry(size=16), 8, ADDR_SPACES)


def test_entry_address_spaces_are_a_parameter():
    assert check_entry(entry(asid=15), STREAM_LIMIT, 16).asid == 15
    _raises(ErrorCode.BAD_ENTRY, check_entry, entry(asid=1), STREAM_LIMIT, 1)


def test_entry_error_lists_every_problem():
    message = _raises(
        ErrorCode.BAD_ENTRY, check_entry, entry(flags=1, size=0, addr=4), 64, ADDR_SPACES
    )
    assert message == (
        "flags or reserved fields set; stream size 0 is not a positive multiple of 8; "
        "stream address 0x4 misaligned or out of range"
    )


# --- command headers -------------------------------------------------------------------------

LAYOUT_SIZES = [
    (Opcode.NOP, NopCommand, 8),
    (Opcode.COPY, CopyCommand, 40),
    (Opcode.FILL, FillCommand, 32),
    (Opcode.WRITE_VALUE, WriteValueCommand, 24),
]

LAYOUT_SIZES_BY_OPCODE = {opcode: size for opcode, _, size in LAYOUT_SIZES}


@pytest.mark.parametrize(("opcode", "layout", "size"), LAYOUT_SIZES, ids=lambda v: str(v))
def test_header_decoded(opcode, layout, size):
    assert decode_header(header(opcode.value, size), size) == (opcode, layout)
    assert decode_header(header(opcode.value, size), 4096) == (opcode, layout)


@pytest.mark.parametrize("opcode", [7, 0x80, 0xFF])
def test_header_bad_opcode(opcode):
    message = _raises(ErrorCode.BAD_OPCODE, decode_header, header(opcode, 8), 64)
    assert message == f"unknown opcode {opcode:#04x}"


def test_bad_opcode_comes_first():
    raw = header(7, 0, flags=1, reserved=1)
    _raises(ErrorCode.BAD_OPCODE, decode_header, raw, 0)


@pytest.mark.parametrize(
    ("opcode", "length", "remaining"),
    [
        (Opcode.NOP, 0, 64),
        (Opcode.COPY, 8, 64),
        (Opcode.COPY, 32, 64),
        (Opcode.COPY, 39, 64),
        (Opcode.FILL, 24, 64),
        (Opcode.WRITE_VALUE, 16, 64),
        (Opcode.NOP, 8, 0),  # past the end of the stream
        (Opcode.COPY, 40, 32),
        (Opcode.FILL, 32, 24),
        (Opcode.WRITE_VALUE, 24, 16),
        (Opcode.COPY, 48, 40),  # longer than the layout and past the end
    ],
)
def test_header_truncated(opcode, length, remaining):
    _raises(ErrorCode.TRUNCATED, decode_header, header(opcode.value, length), remaining)


def test_truncated_message():
    message = _raises(ErrorCode.TRUNCATED, decode_header, header(1, 32), 64)
    assert message == "COPY length 32: needs 40, 64 bytes left in the stream"


@pytest.mark.parametrize(
    ("opcode", "length"),
    [(Opcode.NOP, 16), (Opcode.COPY, 41), (Opcode.COPY, 48), (Opcode.FILL, 0xFFFF)],
)
def test_header_oversized(opcode, length):
    message = _raises(ErrorCode.OVERSIZED, decode_header, header(opcode.value, length), 0x10000)
    size = LAYOUT_SIZES_BY_OPCODE[opcode]
    assert message == f"{opcode.name} length {length} exceeds {size}"


@pytest.mark.parametrize(
    "fields", [{"flags": 1}, {"flags": 0x80}, {"reserved": 1}, {"reserved": 1 << 31}], ids=repr
)
@pytest.mark.parametrize("opcode", [Opcode.NOP, Opcode.COPY], ids=str)
def test_header_reserved(opcode, fields):
    size = LAYOUT_SIZES_BY_OPCODE[opcode]
    _raises(ErrorCode.RESERVED, decode_header, header(opcode.value, size, **fields), size)


# --- whole commands --------------------------------------------------------------------------


def test_copy_decoded():
    raw = copy(0x12_0000_0001, 0xFF_FFFF_0003, 0x123, 7, 0x1000, 0x2000)
    cmd = check_command(Opcode.COPY, raw)
    assert cmd.header.opcode is Opcode.COPY
    assert cmd.header.length == 40
    assert (cmd.src, cmd.dst, cmd.row_bytes, cmd.rows, cmd.src_pitch, cmd.dst_pitch) == (
        0x12_0000_0001,
        0xFF_FFFF_0003,
        0x123,
        7,
        0x1000,
        0x2000,
    )


def test_fill_decoded():
    cmd = check_command(Opcode.FILL, fill(0x8000_0005, 100, 3, 128, 0xA1B2_C3D4))
    assert cmd.header.opcode is Opcode.FILL
    assert (cmd.dst, cmd.row_bytes, cmd.rows, cmd.dst_pitch, cmd.pattern) == (
        0x8000_0005,
        100,
        3,
        128,
        0xA1B2_C3D4,
    )


def test_write_value_decoded():
    cmd = check_command(Opcode.WRITE_VALUE, write_value(LIMIT - 8, (1 << 64) - 1))
    assert cmd.header.opcode is Opcode.WRITE_VALUE
    assert (cmd.addr, cmd.value) == (LIMIT - 8, (1 << 64) - 1)


def test_nop_decoded():
    cmd = check_command(Opcode.NOP, header(0, 8))
    assert (cmd.header.opcode, cmd.header.length) == (Opcode.NOP, 8)


def test_command_of_the_wrong_size_is_a_value_error():
    with pytest.raises(ValueError, match=r"^CopyCommand is 40 bytes, not 32$"):
        check_command(Opcode.COPY, fill(0, 8, 1, 8))


def _copy_and_fill(base, row_bytes, rows, pitch):
    """The same region as COPY source, COPY destination and FILL destination."""
    return [
        (Opcode.COPY, copy(base, 0, row_bytes, rows, pitch, row_bytes)),
        (Opcode.COPY, copy(0, base, row_bytes, rows, row_bytes, pitch)),
        (Opcode.FILL, fill(base, row_bytes, rows, pitch)),
    ]


ACCEPTED = [
    (0, MAX_ROW_BYTES, 1, 0),  # longest row, rows == 1 with pitch 0
    (0, MAX_ROW_BYTES, 2, MAX_ROW_BYTES),
    (0, 1, MAX_ROWS, 1),  # most rows
    (0, 16, 3, 16),  # pitch == row_bytes
    (LIMIT - 256, 256, 1, 0),  # ends exactly at 2**40
    (LIMIT - 3 * 0x1000 - 64, 64, 4, 0x1000),  # last row ends exactly at 2**40
    (LIMIT - 1, 1, 1, 0),
    (0, 0, 0, 0),  # zero rows of zero bytes
    ((1 << 64) - 1, 64, 0, 0),  # zero rows: no region, anywhere
    ((1 << 64) - 1, 0, 5, 0),  # zero-length rows: no region, anywhere
    (LIMIT, 0, MAX_ROWS, 0),
]


@pytest.mark.parametrize(("base", "row_bytes", "rows", "pitch"), ACCEPTED)
def test_region_accepted(base, row_bytes, rows, pitch):
    for opcode, raw in _copy_and_fill(base, row_bytes, rows, pitch):
        cmd = check_command(opcode, raw)
        assert (cmd.row_bytes, cmd.rows) == (row_bytes, rows)


REJECTED = [
    (ErrorCode.OVERSIZED, (0, MAX_ROW_BYTES + 1, 1, 0)),
    (ErrorCode.OVERSIZED, (0, (1 << 32) - 1, 1, 0)),
    (ErrorCode.OVERSIZED, (0, 1, MAX_ROWS + 1, 1)),
    (ErrorCode.OVERSIZED, (0, 1, (1 << 32) - 1, 1)),
    (ErrorCode.OVERSIZED, (0, 0, MAX_ROWS + 1, 0)),  # limits hold even for a no-op
    (ErrorCode.OVERSIZED, (LIMIT - 255, 256, 1, 0)),  # one byte past 2**40
    (ErrorCode.OVERSIZED, (LIMIT - 3 * 0x1000 - 63, 64, 4, 0x1000)),
    (ErrorCode.OVERSIZED, (LIMIT, 1, 1, 0)),
    (ErrorCode.OVERSIZED, (0, 1, MAX_ROWS, (1 << 32) - 1)),  # the pitch reaches past 2**40
    (ErrorCode.MISALIGNED, (0, 16, 2, 15)),  # rows would overlap
    (ErrorCode.MISALIGNED, (0, 16, 2, 0)),
    (ErrorCode.MISALIGNED, (0, MAX_ROW_BYTES, MAX_ROWS, MAX_ROW_BYTES - 1)),
]


@pytest.mark.parametrize(("code", "region"), REJECTED, ids=repr)
def test_region_rejected(code, region):
    for opcode, raw in _copy_and_fill(*region):
        _raises(code, check_command, opcode, raw)


def test_region_messages():
    message = _raises(ErrorCode.MISALIGNED, check_command, Opcode.COPY, copy(0, 0, 16, 2, 8, 16))
    assert message == "source: pitch 8 is shorter than a row of 16"
    message = _raises(ErrorCode.OVERSIZED, check_command, Opcode.FILL, fill(LIMIT, 8, 1, 8))
    assert message == "destination: region ends past the address space"


@pytest.mark.parametrize(
    ("addr", "code"),
    [
        (1, ErrorCode.MISALIGNED),
        (4, ErrorCode.MISALIGNED),
        (0x1007, ErrorCode.MISALIGNED),
        (LIMIT - 4, ErrorCode.MISALIGNED),
        (LIMIT, ErrorCode.OVERSIZED),
        ((1 << 64) - 8, ErrorCode.OVERSIZED),
    ],
)
def test_write_value_rejected(addr, code):
    _raises(code, check_command, Opcode.WRITE_VALUE, write_value(addr, 1))


@pytest.mark.parametrize("addr", [0, 8, 0x1000, LIMIT - 8])
def test_write_value_accepted(addr):
    assert check_command(Opcode.WRITE_VALUE, write_value(addr, 5)).addr == addr
