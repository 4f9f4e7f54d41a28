"""The store-only LZ4 encoder behind WAVES=1 writes blocks the reference decoder reads."""

import ctypes
import os
import random
import subprocess

import lz4.block
import pytest
from tinynpu.sim.build import CSRC_DIR

SIZES = [0, 1, 14, 15, 16, 269, 270, 271, 524, 525, 4096, 100_000]


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    library = tmp_path_factory.mktemp("lz4") / "liblz4_store.so"
    compiler = os.environ.get("CC", "cc")
    source = CSRC_DIR / "lz4_store.c"
    command = [compiler, "-O2", "-shared", "-fPIC", "-I", str(CSRC_DIR), str(source)]
    subprocess.run([*command, "-o", str(library)], check=True)
    lib = ctypes.CDLL(str(library))
    lib.LZ4_compressBound.argtypes = [ctypes.c_int]
    int_ = ctypes.c_int
    lib.LZ4_compress_default.argtypes = [ctypes.c_char_p, ctypes.c_char_p, int_, int_]
    return lib


def compress(lib, data, capacity=None):
    capacity = lib.LZ4_compressBound(len(data)) if capacity is None else capacity
    out = ctypes.create_string_buffer(max(capacity, 1))
    written = lib.LZ4_compress_default(data, out, len(data), capacity)
    return out.raw[:written], written


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_through_reference_decoder(encoder, size):
    data = random.Random(size).randbytes(size)
    block, written = compress(encoder, data)
    extra = (size - 15) // 255 + 1 if size >= 15 else 0
    assert written == 1 + extra + size
    assert lz4.block.decompress(block, uncompressed_size=size) == data


@pytest.mark.parametrize("size", SIZES)
def test_bound_covers_output(encoder, size):
    _, written = compress(encoder, bytes(size))
    assert encoder.LZ4_compressBound(size) == size + size // 255 + 16 >= written


@pytest.mark.parametrize("size", [1, 15, 300])
def test_too_small_destination_fails_with_zero(encoder, size):
    data = bytes(range(256)) * 2
    data = data[:size]
    needed = len(compress(encoder, data)[0])
    assert compress(encoder, data, capacity=needed - 1) == (b"", 0)
    assert compress(encoder, data, capacity=needed)[1] == needed


def test_out_of_range_sizes(encoder):
    assert encoder.LZ4_compressBound(-1) == 0
    assert encoder.LZ4_compressBound(0x7E00_0001) == 0
