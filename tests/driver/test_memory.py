"""The driver's physical allocator: page rounding, alignment, first fit, coalescing, errors."""

import errno
import itertools

import pytest
from tinynpu.driver.device import DeviceError
from tinynpu.driver.memory import PAGE_SIZE, PhysicalAllocator

PAGE = 4096
BASE = 0x8000_0000
SIZE = 16 * PAGE


@pytest.fixture
def heap():
    return PhysicalAllocator(BASE, SIZE)


def _errno(function, *args, **kwargs):
    with pytest.raises(DeviceError) as info:
        function(*args, **kwargs)
    return info.value.errno


def test_page_size():
    assert PAGE_SIZE == PAGE


def test_new_allocator_is_all_free(heap):
    assert (heap.base, heap.size, heap.free_bytes) == (BASE, SIZE, SIZE)


@pytest.mark.parametrize(
    ("size", "pages"), [(1, 1), (PAGE - 1, 1), (PAGE, 1), (PAGE + 1, 2), (3 * PAGE, 3)]
)
def test_sizes_round_up_to_pages(heap, size, pages):
    assert heap.alloc(size) == BASE
    assert heap.free_bytes == SIZE - pages * PAGE
    assert heap.alloc(1) == BASE + pages * PAGE


def test_consecutive_allocations_are_adjacent(heap):
    assert [heap.alloc(PAGE) for _ in range(3)] == [BASE, BASE + PAGE, BASE + 2 * PAGE]


@pytest.mark.parametrize("align", [2 * PAGE, 4 * PAGE, 8 * PAGE])
def test_alignment(align):
    heap = PhysicalAllocator(BASE + PAGE, SIZE)  # base aligned to one page only
    address = heap.alloc(PAGE, align=align)
    assert address == BASE + align
    assert heap.free_bytes == SIZE - PAGE
    # The pages skipped for alignment stay free and are found first.
    assert heap.alloc(PAGE) == BASE + PAGE


def test_alignment_larger_than_the_region_is_enomem():
    heap = PhysicalAllocator(PAGE, 4 * PAGE)
    assert _errno(heap.alloc, PAGE, align=8 * PAGE) == errno.ENOMEM
    assert heap.alloc(PAGE, align=4 * PAGE) == 4 * PAGE


def test_first_fit(heap):
    a, b, c, d = (heap.alloc(size) for size in (PAGE, 2 * PAGE, PAGE, 3 * PAGE))
    assert (a, b, c, d) == (BASE, BASE + PAGE, BASE + 3 * PAGE, BASE + 4 * PAGE)
    heap.free(a)  # a one-page hole
    heap.free(c)  # another one-page hole, after b
    assert heap.alloc(2 * PAGE) == BASE + 7 * PAGE  # neither hole fits: after d
    assert heap.alloc(PAGE) == a  # the lowest hole that fits
    assert heap.alloc(PAGE) == c


def test_hole_split(heap):
    a = heap.alloc(4 * PAGE)
    heap.alloc(PAGE)
    heap.free(a)
    assert heap.alloc(PAGE) == BASE
    assert heap.alloc(3 * PAGE) == BASE + PAGE
    assert heap.alloc(PAGE) == BASE + 5 * PAGE


@pytest.mark.parametrize("order", list(itertools.permutations(range(4))), ids=str)
def test_frees_in_any_order_coalesce(heap, order):
    addresses = [heap.alloc(size) for size in (PAGE, 3 * PAGE, 2 * PAGE, 10 * PAGE)]
    assert heap.free_bytes == 0
    for i in order:
        heap.free(addresses[i])
    assert heap.free_bytes == SIZE
    assert heap.alloc(SIZE) == BASE  # all of it again, in one piece
    assert heap.free_bytes == 0


def test_coalesce_with_alignment_remainders():
    heap = PhysicalAllocator(BASE + PAGE, SIZE)
    a = heap.alloc(PAGE, align=8 * PAGE)
    b = heap.alloc(PAGE)
    heap.free(a)
    heap.free(b)
    assert heap.alloc(SIZE) == BASE + PAGE


def test_exhaustion(heap):
    assert [heap.alloc(PAGE) for _ in range(16)] == [BASE + i * PAGE for i in range(16)]
    assert heap.free_bytes == 0
    assert _errno(heap.alloc, 1) == errno.ENOMEM
    heap.free(BASE + 5 * PAGE)
    assert heap.alloc(1) == BASE + 5 * PAGE


def test_too_large_is_enomem(heap):
    assert _errno(heap.alloc, SIZE + 1) == errno.ENOMEM
    assert heap.free_bytes == SIZE


def test_fragmentation_is_enomem(heap):
    addresses = [heap.alloc(PAGE) for _ in range(16)]
    for address in addresses[::2]:
        heap.free(address)
    assert heap.free_bytes == SIZE // 2
    assert _errno(heap.alloc, 2 * PAGE) == errno.ENOMEM


def test_enomem_message(heap):
    with pytest.raises(DeviceError) as info:
        heap.alloc(SIZE + 1)
    assert info.value.strerror == f"No {SIZE + PAGE} free bytes aligned to {PAGE}"


@pytest.mark.parametrize(
    ("size", "align"),
    [(0, PAGE), (-1, PAGE), (PAGE, 0), (PAGE, 8), (PAGE, PAGE // 2), (PAGE, 3 * PAGE), (1, -PAGE)],
)
def test_bad_alloc_arguments_are_einval(heap, size, align):
    assert _errno(heap.alloc, size, align=align) == errno.EINVAL
    assert heap.free_bytes == SIZE


def test_double_free_is_einval(heap):
    a = heap.alloc(PAGE)
    heap.free(a)
    assert _errno(heap.free, a) == errno.EINVAL
    assert heap.free_bytes == SIZE


@pytest.mark.parametrize("offset", [PAGE, 2 * PAGE, 1, -PAGE, SIZE])
def test_free_of_no_allocation_is_einval(heap, offset):
    heap.alloc(3 * PAGE)  # at BASE: BASE + PAGE is inside it, not its start
    with pytest.raises(DeviceError) as info:
        heap.free(BASE + offset)
    assert info.value.errno == errno.EINVAL
    assert info.value.strerror == f"{BASE + offset:#x} is not an allocation"
    assert heap.free_bytes == SIZE - 3 * PAGE


@pytest.mark.parametrize(
    ("base", "size"), [(1, PAGE), (PAGE // 2, PAGE), (0, 0), (0, -PAGE), (0, 1), (0, PAGE + 1)]
)
def test_bad_region_is_value_error(base, size):
    with pytest.raises(ValueError, match=r"is not a non-empty set of whole pages$"):
        PhysicalAllocator(base, size)
