"""The local address map and scratchpad geometry (``tinynpu.rtl.localmap``), and the minimum
scratchpad sizes of ``tinynpu.rtl.config.NpuConfig``.

Every expected value is a literal worked out by hand.
"""

import dataclasses

import pytest
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.localmap import (
    K_SLOT,
    LOCAL_ADDR_WIDTH,
    PARAM_BYTES,
    REGION_SHIFT,
    Geometry,
    Region,
    local_address,
)

KiB = 1024

# --- the local address space ------------------------------------------------------------------


def test_constants():
    assert (LOCAL_ADDR_WIDTH, REGION_SHIFT, K_SLOT, PARAM_BYTES) == (24, 20, 256, 16)


def test_region_numbers():
    assert [(r.name, r.value) for r in Region] == [
        ("SRAM", 0),
        ("PERF", 1),
        ("INPUT", 2),
        ("WEIGHT", 3),
        ("PARAMS", 4),
        ("ACC8", 5),
        ("ACC32", 6),
    ]


@pytest.mark.parametrize(
    ("region", "offset", "address"),
    [
        (Region.SRAM, 0, 0x00_0000),
        (Region.SRAM, 0x3FFF, 0x00_3FFF),
        (Region.PERF, 0x3C, 0x10_003C),
        (Region.INPUT, 0x1234, 0x20_1234),
        (Region.WEIGHT, 0x4000, 0x30_4000),
        (Region.PARAMS, 0x1000, 0x40_1000),
        (Region.ACC8, 0xF_FFFF, 0x5F_FFFF),
        (Region.ACC32, 0x8000, 0x60_8000),
    ],
)
def test_local_address(region, offset, address):
    assert local_address(region, offset) == address


def test_local_address_default_offset():
    assert local_address(Region.ACC32) == 0x60_0000
    assert local_address(Region.INPUT) == 0x20_0000


def test_readable_and_writable_regions():
    assert [r for r in Region if Geometry.readable(r)] == [
        Region.SRAM,
        Region.PERF,
        Region.ACC8,
        Region.ACC32,
    ]
    assert [r for r in Region if Geometry.writable(r)] == [
        Region.SRAM,
        Region.INPUT,
        Region.WEIGHT,
        Region.PARAMS,
    ]


# --- geometries ---------------------------------------------------------------------------------

#: N = 8, 64-bit bus, 32 KiB / 32 KiB / 64 KiB (the default NpuConfig).
G8 = Geometry(array_size=8, bus_bytes=8, input_bytes=32768, weight_bytes=32768, acc_bytes=65536)
#: N = 4, 32-bit bus, 4 KiB / 8 KiB / 32 KiB.
G4 = Geometry(array_size=4, bus_bytes=4, input_bytes=4096, weight_bytes=8192, acc_bytes=32768)
#: N = 16, 256-bit bus (wider than N), 8 KiB / 16 KiB / 64 KiB, a 4 KiB SRAM.
G16 = Geometry(
    array_size=16,
    bus_bytes=32,
    input_bytes=8192,
    weight_bytes=16384,
    acc_bytes=65536,
    sram_bytes=4096,
)
#: N = 32, 32-bit bus (N wider than the bus), 16 KiB / 16 KiB / 8 KiB.
G32 = Geometry(array_size=32, bus_bytes=4, input_bytes=16384, weight_bytes=16384, acc_bytes=8192)

PROPERTIES = (
    "input_slots",
    "input_bank_words",
    "weight_word_bytes",
    "params_word_bytes",
    "params_bytes",
    "param_channels",
    "acc_lanes",
    "acc_elements",
    "acc_words",
)


@pytest.mark.parametrize(
    ("g", "values"),
    [
        # 32768 / 256 = 128 slots; 32768 / 8 banks / 8 bytes = 512 words; max(8, 8) = 8;
        # 8 channels * 16 = 128; 512 * 16 = 8192; 65536 / 4 = 16384 elements / 8 = 2048 words
        (G8, (128, 512, 8, 128, 8192, 512, 8, 16384, 2048)),
        # 4096 / 256 = 16; 4096 / 4 / 4 = 256; 4; 4 * 16 = 64; 8192; 512; 4; 8192; 8192 / 4
        (G4, (16, 256, 4, 64, 8192, 512, 4, 8192, 2048)),
        # 8192 / 256 = 32; 8192 / 16 / 32 = 16; max(16, 32) = 32; 32 * 16 = 512; 16384 / 32
        (G16, (32, 16, 32, 512, 8192, 512, 32, 16384, 512)),
        # 16384 / 256 = 64; 16384 / 32 / 4 = 128; max(32, 4) = 32; 4 * 16 = 64; 2048 / 32
        (G32, (64, 128, 32, 64, 8192, 512, 32, 2048, 64)),
    ],
    ids=["n8-w8", "n4-w4", "n16-w32", "n32-w4"],
)
def test_geometry_properties(g, values):
    assert {p: getattr(g, p) for p in PROPERTIES} == dict(zip(PROPERTIES, values, strict=True))


@pytest.mark.parametrize(
    ("g", "sizes"),
    [
        (G8, (16384, 64, 32768, 32768, 8192, 16384, 65536)),
        (G4, (16384, 64, 4096, 8192, 8192, 8192, 32768)),
        (G16, (4096, 64, 8192, 16384, 8192, 16384, 65536)),
        (G32, (16384, 64, 16384, 16384, 8192, 2048, 8192)),
    ],
    ids=["n8-w8", "n4-w4", "n16-w32", "n32-w4"],
)
def test_region_bytes(g, sizes):
    # order: SRAM, PERF, INPUT, WEIGHT, PARAMS, ACC8 (one byte per element), ACC32
    assert [g.region_bytes(r) for r in Region] == list(sizes)


def test_geometry_of_config():
    assert Geometry.of(NpuConfig()) == G8
    config = NpuConfig(
        array_size=32,
        mem_data_width=32,
        spad_in_bytes=16 * KiB,
        spad_wt_bytes=16 * KiB,
        spad_acc_bytes=8 * KiB,
    )
    assert Geometry.of(config) == G32
    config = NpuConfig(
        array_size=16, mem_data_width=256, spad_in_bytes=8 * KiB, spad_wt_bytes=16 * KiB
    )
    assert Geometry.of(config, sram_bytes=4096) == G16


def test_geometry_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        G8.array_size = 4


@pytest.mark.parametrize(("n", "log"), [(1, 0), (2, 1), (32, 5), (256, 8), (4096, 12)])
def test_log2(n, log):
    assert G8.log2(n) == log


# --- minimum scratchpad sizes -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "width", "name", "size", "need"),
    [
        # input: 2 * N * 256
        (32, 256, "spad_in_bytes", 8 * KiB, 16384),
        (4, 32, "spad_in_bytes", 1 * KiB, 2048),
        (16, 64, "spad_in_bytes", 4 * KiB, 8192),
        # weights: 2 * 256 * max(N, W)
        (2, 256, "spad_wt_bytes", 8 * KiB, 16384),
        (32, 32, "spad_wt_bytes", 8 * KiB, 16384),
        (8, 64, "spad_wt_bytes", 2 * KiB, 4096),
        # accumulators: 2 * N * max(N, W) * 4
        (16, 64, "spad_acc_bytes", 1 * KiB, 2048),
        (8, 256, "spad_acc_bytes", 1 * KiB, 2048),
        (32, 128, "spad_acc_bytes", 4 * KiB, 8192),
    ],
)
def test_scratchpad_too_small(n, width, name, size, need):
    with pytest.raises(ValueError) as info:
        NpuConfig(array_size=n, mem_data_width=width, **{name: size})
    assert str(info.value) == (
        f"Parameter {name} must hold two halves of one tile for array_size {n} and a "
        f"{width}-bit bus: at least {need} bytes, not {size}"
    )


def test_scratchpad_too_small_literal():
    with pytest.raises(ValueError) as info:
        NpuConfig(array_size=2, mem_data_width=256, spad_wt_bytes=8192)
    assert str(info.value) == (
        "Parameter spad_wt_bytes must hold two halves of one tile for array_size 2 and a "
        "256-bit bus: at least 16384 bytes, not 8192"
    )


def test_first_too_small_scratchpad_is_reported():
    """Input before weights before accumulators."""
    with pytest.raises(ValueError) as info:
        NpuConfig(
            array_size=32,
            mem_data_width=256,
            spad_in_bytes=1 * KiB,
            spad_wt_bytes=2 * KiB,
            spad_acc_bytes=1 * KiB,
        )
    assert str(info.value) == (
        "Parameter spad_in_bytes must hold two halves of one tile for array_size 32 and a "
        "256-bit bus: at least 16384 bytes, not 1024"
    )
    with pytest.raises(ValueError) as info:
        NpuConfig(array_size=32, mem_data_width=256, spad_wt_bytes=2 * KiB, spad_acc_bytes=1 * KiB)
    assert str(info.value).startswith("Parameter spad_wt_bytes must hold two halves")


def test_range_checked_before_minimum():
    with pytest.raises(ValueError) as info:
        NpuConfig(array_size=32, mem_data_width=256, spad_in_bytes=512)
    assert str(info.value) == (
        "Parameter spad_in_bytes must be a power of two between 1024 and 262144 bytes, not 512"
    )


@pytest.mark.parametrize(
    ("n", "width", "spad_in", "spad_wt", "spad_acc"),
    [
        (32, 256, 16384, 16384, 8192),
        (2, 32, 1024, 2048, 1024),  # the accumulator minimum (64) is below the range (1 KiB)
        (4, 32, 2048, 2048, 1024),
        (8, 256, 4096, 16384, 2048),
        (16, 64, 8192, 8192, 2048),
    ],
)
def test_exact_minimum_sizes_are_accepted(n, width, spad_in, spad_wt, spad_acc):
    config = NpuConfig(
        array_size=n,
        mem_data_width=width,
        spad_in_bytes=spad_in,
        spad_wt_bytes=spad_wt,
        spad_acc_bytes=spad_acc,
    )
    assert (config.spad_in_bytes, config.spad_wt_bytes, config.spad_acc_bytes) == (
        spad_in,
        spad_wt,
        spad_acc,
    )
    # and each is the minimum: half of it is refused (or out of range)
    for name, size in (
        ("spad_in_bytes", spad_in),
        ("spad_wt_bytes", spad_wt),
        ("spad_acc_bytes", spad_acc),
    ):
        with pytest.raises(ValueError):
            dataclasses.replace(config, **{name: size // 2})
