"""NpuConfig: parameter validation, slug and digest (pure Python, no simulator)."""

import dataclasses
import re

import pytest
from tinynpu.rtl.config import PARAMETERS, NpuConfig

KiB = 1024

# Parameter -> (lowest, highest, power of two required, unit in the message).
EXPECTED_RANGES = {
    "array_size": (2, 32, True, ""),
    "mem_data_width": (32, 256, True, " bits"),
    "addr_spaces": (1, 16, False, ""),
    "tlb_entries": (2, 64, False, ""),
    "spad_in_bytes": (1 * KiB, 256 * KiB, True, " bytes"),
    "spad_wt_bytes": (2 * KiB, 256 * KiB, True, " bytes"),
    "spad_acc_bytes": (1 * KiB, 1024 * KiB, True, " bytes"),
    "queue_depth": (2, 64, True, ""),
    "dma_queue_depth": (2, 64, False, ""),
}


def _message(name, value):
    lo, hi, pow2, unit = EXPECTED_RANGES[name]
    kind = "a power of two" if pow2 else "an integer"
    return f"Parameter {name} must be {kind} between {lo} and {hi}{unit}, not {value!r}"


def _bad_values():
    """(parameter, value) pairs every one of which is out of range."""
    cases = []
    for name, (lo, hi, pow2, _) in EXPECTED_RANGES.items():
        cases += [(name, lo - 1), (name, hi + 1), (name, 0), (name, -lo), (name, 2 * hi)]
        if pow2:  # in range, but not powers of two
            cases += [(name, lo + 1), (name, 3 * lo), (name, hi - 1)]
    return sorted(set(cases), key=lambda c: (list(EXPECTED_RANGES).index(c[0]), c[1]))


def _good_values():
    """(parameter, value) pairs that are valid with every other parameter at its default."""
    cases = []
    for name, (lo, hi, pow2, _) in EXPECTED_RANGES.items():
        cases += [(name, lo), (name, hi)]
        if not pow2:
            cases.append((name, (lo + hi) // 2 | 1))  # an odd value in the middle
    return cases


def test_parameters_table_matches_the_dataclass():
    fields = [f.name for f in dataclasses.fields(NpuConfig)]
    assert list(PARAMETERS) == fields
    assert list(EXPECTED_RANGES) == fields


def test_default_config_is_valid():
    config = NpuConfig()
    assert config.as_dict() == {
        "array_size": 8,
        "mem_data_width": 64,
        "addr_spaces": 4,
        "tlb_entries": 16,
        "spad_in_bytes": 32 * KiB,
        "spad_wt_bytes": 32 * KiB,
        "spad_acc_bytes": 64 * KiB,
        "queue_depth": 8,
        "dma_queue_depth": 16,
    }


def test_config_is_frozen():
    config = NpuConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.array_size = 16


@pytest.mark.parametrize(("name", "value"), _good_values())
def test_values_in_range_are_accepted(name, value):
    # The smallest scratchpads need the smallest array and bus (their minimums scale with both).
    small = {"array_size": 2, "mem_data_width": 32} if name.startswith("spad") else {}
    config = NpuConfig(**{**small, name: value})
    assert getattr(config, name) == value


@pytest.mark.parametrize(("name", "value"), _bad_values())
def test_out_of_range_value_names_parameter_and_range(name, value):
    with pytest.raises(ValueError) as info:
        NpuConfig(**{name: value})
    assert str(info.value) == _message(name, value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("array_size", 3, "Parameter array_size must be a power of two between 2 and 32, not 3"),
        ("array_size", 64, "Parameter array_size must be a power of two between 2 and 32, not 64"),
        (
            "mem_data_width",
            48,
            "Parameter mem_data_width must be a power of two between 32 and 256 bits, not 48",
        ),
        ("addr_spaces", 17, "Parameter addr_spaces must be an integer between 1 and 16, not 17"),
        ("tlb_entries", 1, "Parameter tlb_entries must be an integer between 2 and 64, not 1"),
        (
            "spad_in_bytes",
            3 * KiB,
            "Parameter spad_in_bytes must be a power of two between 1024 and 262144 bytes, "
            "not 3072",
        ),
        (
            "spad_acc_bytes",
            2048 * KiB,
            "Parameter spad_acc_bytes must be a power of two between 1024 and 1048576 bytes, "
            "not 2097152",
        ),
        ("queue_depth", 1, "Parameter queue_depth must be a power of two between 2 and 64, not 1"),
    ],
)
def test_range_messages_verbatim(name, value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        NpuConfig(**{name: value})


@pytest.mark.parametrize("name", list(EXPECTED_RANGES))
@pytest.mark.parametrize("value", [True, False, "8", 8.0, None], ids=repr)
def test_non_integer_value_raises_type_error(name, value):
    with pytest.raises(TypeError) as info:
        NpuConfig(**{name: value})
    assert str(info.value) == f"Parameter {name} must be an integer, not {value!r}"


@pytest.mark.parametrize(
    ("params", "name", "need"),
    [
        # 2 halves x N row slots of 256 bytes.
        ({"array_size": 32, "spad_in_bytes": 8 * KiB}, "spad_in_bytes", 16384),
        # 2 halves x 256 rows of max(N, bus bytes) weights.
        ({"array_size": 32, "spad_wt_bytes": 8 * KiB}, "spad_wt_bytes", 16384),
        (
            {"array_size": 2, "mem_data_width": 256, "spad_wt_bytes": 8 * KiB},
            "spad_wt_bytes",
            16384,
        ),
        # 2 halves x N rows of max(N, bus bytes) int32.
        ({"array_size": 32, "spad_acc_bytes": 4 * KiB}, "spad_acc_bytes", 8192),
        ({"array_size": 16, "spad_acc_bytes": 1 * KiB}, "spad_acc_bytes", 2048),
    ],
)
def test_scratchpads_must_hold_two_halves(params, name, need):
    n, width = params["array_size"], params.get("mem_data_width", 64)
    with pytest.raises(ValueError) as info:
        NpuConfig(**params)
    assert str(info.value) == (
        f"Parameter {name} must hold two halves of one tile for array_size {n} and a "
        f"{width}-bit bus: at least {need} bytes, not {params[name]}"
    )


@pytest.mark.parametrize(
    "params",
    [
        {"array_size": 32, "spad_acc_bytes": 8 * KiB},
        {"array_size": 32, "spad_in_bytes": 16 * KiB, "spad_wt_bytes": 16 * KiB},
        {"array_size": 16, "spad_acc_bytes": 2 * KiB},
    ],
)
def test_scratchpads_of_exactly_two_halves_are_accepted(params):
    config = NpuConfig(**params)
    assert {name: getattr(config, name) for name in params} == params


def test_default_slug():
    assert NpuConfig().slug == "n8-w64-as4-tlb16-in32k-wt32k-acc64k-q8-dq16"


def test_slug_of_a_non_default_config():
    config = NpuConfig(
        array_size=4,
        mem_data_width=32,
        addr_spaces=2,
        tlb_entries=8,
        spad_in_bytes=4 * KiB,
        spad_wt_bytes=8 * KiB,
        spad_acc_bytes=1024 * KiB,
        queue_depth=4,
        dma_queue_depth=5,
    )
    assert config.slug == "n4-w32-as2-tlb8-in4k-wt8k-acc1024k-q4-dq5"


def test_digest_is_stable():
    # Build directories are keyed by this hash: it must not change between runs or releases
    # unless the set of parameters changes.
    default = NpuConfig()
    assert re.fullmatch(r"[0-9a-f]{64}", default.digest())
    assert default.digest() == NpuConfig().digest()
    assert default.digest() == NpuConfig(**default.as_dict()).digest()
    assert default.digest() == "963b09fa9530b13103ce1b33d284e6370412fc93517ce2be6e39f1c2fe71500b"


@pytest.mark.parametrize("name", list(EXPECTED_RANGES))
def test_digest_changes_with_each_parameter(name):
    default = NpuConfig()
    lo, hi, _, _ = EXPECTED_RANGES[name]
    other = lo if getattr(default, name) != lo else hi
    if name.startswith("spad"):  # the smallest scratchpads need a small array
        default = dataclasses.replace(default, array_size=2, mem_data_width=32)
    changed = dataclasses.replace(default, **{name: other})
    assert changed.digest() != default.digest()
    assert changed.slug != default.slug


def test_the_smallest_configuration_holds_every_parameter_at_its_lower_bound():
    smallest = NpuConfig.smallest()
    assert smallest == NpuConfig(
        array_size=2,
        mem_data_width=32,
        addr_spaces=1,
        tlb_entries=2,
        spad_in_bytes=1024,
        spad_wt_bytes=2048,
        spad_acc_bytes=1024,
        queue_depth=2,
        dma_queue_depth=2,
    )
    # One step below any of them is refused (the next power of two down, where they are such).
    for name, (allowed, _) in PARAMETERS.items():
        value = getattr(smallest, name)
        with pytest.raises(ValueError):
            dataclasses.replace(smallest, **{name: value // 2 if allowed.pow2 else value - 1})
