"""The LPAE descriptor layout: field positions as the Arm architecture fixes them."""

import pytest
from amaranth.lib import data
from tinynpu.rtl.layouts import nbytes
from tinynpu.rtl.pte import Descriptor, block_size, level_index

#: Field -> (first bit, width), from the Armv8-A VMSAv8-64 stage-1 descriptor formats.
BITS = {
    "valid": (0, 1),
    "table": (1, 1),
    "attr_index": (2, 3),
    "ns": (5, 1),
    "ap_user": (6, 1),
    "ap_ro": (7, 1),
    "sh": (8, 2),
    "af": (10, 1),
    "ng": (11, 1),
    "address": (12, 36),
    "contiguous": (52, 1),
    "pxn": (53, 1),
    "xn": (54, 1),
    "software": (55, 4),
    "table_attrs": (59, 5),
}


@pytest.mark.parametrize("name", list(BITS))
def test_field_positions(name):
    field = data.Layout.cast(Descriptor)[name]
    assert (field.offset, field.width) == BITS[name]


def test_descriptor_is_64_bits():
    assert nbytes(Descriptor) == 8


def test_levels():
    assert [block_size(level) for level in (1, 2, 3)] == [1 << 30, 1 << 21, 1 << 12]
    iova = (0x1AB << 30) | (0x0CD << 21) | (0x1EF << 12) | 0x123
    assert [level_index(iova, level) for level in (1, 2, 3)] == [0x1AB, 0x0CD, 0x1EF]
