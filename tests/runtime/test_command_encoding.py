"""Command stream encodings built by the driver, byte for byte (``rtl.layouts``)."""

import pytest
from tinynpu.rtl.layouts import ChannelParams, nbytes, unpack
from tinynpu.runtime.commands import channel_params, copy, fill, nop, stream, write_value

NOP = bytes.fromhex("0000080000000000")


def test_nop():
    assert nop() == NOP


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "expected"),
    [
        pytest.param(
            copy,
            (0x12_3456_7890, 0xAB_CDEF_0123, 0x100),
            {"rows": 3, "src_pitch": 0x200, "dst_pitch": 0x180},
            "0100280000000000"  # header: COPY, length 40
            "9078563412000000"  # src
            "2301efcdab000000"  # dst
            "00010000"  # row_bytes
            "03000000"  # rows
            "00020000"  # src_pitch
            "80010000",  # dst_pitch
            id="copy",
        ),
        pytest.param(
            fill,
            (0xFF_0000_0008, 0x20, 0xA1B2C3D4),
            {"rows": 2, "dst_pitch": 0x40},
            "0200200000000000"  # header: FILL, length 32
            "08000000ff000000"  # dst
            "20000000"  # row_bytes
            "02000000"  # rows
            "40000000"  # dst_pitch
            "d4c3b2a1",  # pattern
            id="fill",
        ),
        pytest.param(
            write_value,
            (0x10_0000_0008, 0x0123_4567_89AB_CDEF),
            {},
            "0300180000000000"  # header: WRITE_VALUE, length 24
            "0800000010000000"  # addr
            "efcdab8967452301",  # value
            id="write_value",
        ),
    ],
)
def test_encoding_field_by_field(function, args, kwargs, expected):
    assert function(*args, **kwargs) == bytes.fromhex(expected)


def test_copy_defaults_to_one_packed_row():
    assert copy(0x1000, 0x2000, 64) == bytes.fromhex(
        "0100280000000000" "0010000000000000" "0020000000000000"
        "40000000" "01000000" "40000000" "40000000"
    )  # fmt: skip


def test_copy_default_pitches_are_the_row_length():
    raw = copy(0, 0, 0x30, rows=5)
    assert raw[24:] == bytes.fromhex("30000000050000003000000030000000")
    raw = copy(0, 0, 0x30, rows=5, src_pitch=0x40)
    assert raw[24:] == bytes.fromhex("30000000050000004000000030000000")
    raw = copy(0, 0, 0x30, rows=5, dst_pitch=0x50)
    assert raw[24:] == bytes.fromhex("30000000050000003000000050000000")


def test_copy_explicit_zero_pitch_is_kept():
    assert copy(0, 0, 8, src_pitch=0, dst_pitch=0)[32:] == bytes(8)


def test_fill_defaults():
    assert fill(0x3000, 12, 0x55) == bytes.fromhex(
        "0200200000000000" "0030000000000000" "0c000000" "01000000" "0c000000" "55000000"
    )  # fmt: skip


def test_stream_concatenates():
    fence = write_value(8, 1)
    assert stream(nop(), fence, nop()) == NOP + fence + NOP
    assert stream() == b""


@pytest.mark.parametrize(
    ("function", "args", "kwargs", "field"),
    [
        (copy, (-1, 0, 8), {}, "src"),
        (copy, (1 << 64, 0, 8), {}, "src"),
        (copy, (0, 1 << 64, 8), {}, "dst"),
        (copy, (0, 0, 1 << 32), {}, "row_bytes"),
        (copy, (0, 0, -8), {}, "row_bytes"),
        (copy, (0, 0, 8), {"rows": 1 << 32}, "rows"),
        (copy, (0, 0, 8), {"rows": -1}, "rows"),
        (copy, (0, 0, 8), {"src_pitch": 1 << 32}, "src_pitch"),
        (copy, (0, 0, 8), {"dst_pitch": -1}, "dst_pitch"),
        (fill, (1 << 64, 8, 0), {}, "dst"),
        (fill, (0, 1 << 32, 0), {}, "row_bytes"),
        (fill, (0, 8, 1 << 32), {}, "pattern"),
        (fill, (0, 8, -1), {}, "pattern"),
        (fill, (0, 8, 0), {"rows": 1 << 32}, "rows"),
        (fill, (0, 8, 0), {"dst_pitch": 1 << 32}, "dst_pitch"),
        (write_value, (1 << 64, 0), {}, "addr"),
        (write_value, (-8, 0), {}, "addr"),
        (write_value, (0, 1 << 64), {}, "value"),
        (write_value, (0, -1), {}, "value"),
        (write_value, (0, 1.0), {}, "value"),
    ],
    ids=lambda v: v.__name__ if callable(v) else repr(v),
)
def test_out_of_range_is_value_error(function, args, kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}: .* does not fit \d+ bits$"):
        function(*args, **kwargs)


def test_largest_values_fit():
    top64, top32 = (1 << 64) - 1, (1 << 32) - 1
    raw = copy(top64, top64, top32, rows=top32, src_pitch=top32, dst_pitch=top32)
    assert raw == bytes.fromhex("0100280000000000") + b"\xff" * 32
    assert write_value(top64, top64) == bytes.fromhex("0300180000000000") + b"\xff" * 16


def test_channel_params_one_record_per_channel():
    raw = channel_params([-5, 7], [1 << 30, (1 << 31) - 1], [0, 31])
    size = nbytes(ChannelParams)
    assert len(raw) == 2 * size
    records = [unpack(ChannelParams, raw[i * size : (i + 1) * size]) for i in range(2)]
    assert [(r.bias, r.multiplier, r.shift) for r in records] == [
        (-5, 1 << 30, 0),
        (7, (1 << 31) - 1, 31),
    ]
    with pytest.raises(ValueError):
        channel_params([1, 2], [1 << 30], [0, 0])
