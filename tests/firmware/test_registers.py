"""Firmware register access by name: shadowed RW registers, pulse and W1C writes, decoding."""

import asyncio

import pytest
from tinynpu.firmware.bus import CpBus, Registers
from tinynpu.rtl.regmap import CP, Kind


class FakeBus:
    """CP registers keyed by offset; unmapped offsets read as zero. Records every access."""

    def __init__(self, registers=None):
        self.registers = dict(registers or {})
        self.accesses = []

    async def read(self, offset: int) -> int:
        self.accesses.append(("read", offset))
        return self.registers.get(offset, 0)

    async def read_many(self, offsets: list[int]) -> list[int]:
        return [await self.read(offset) for offset in offsets]

    async def write(self, offset: int, value: int) -> None:
        self.accesses.append(("write", offset, value))
        self.registers[offset] = value

    async def wait_irq(self, *, stoppable: bool = True) -> None:
        raise AssertionError("Registers must not wait for the interrupt")

    async def wait_irq_and_read(self, offset: int) -> int:
        raise AssertionError("Registers must not wait for the interrupt")

    async def execute(self, instructions: int) -> None:
        raise AssertionError("Registers must not account for instructions")


def _run(*calls):
    """Await ``calls`` (coroutines) in order in one event loop."""

    async def main():
        return [await call for call in calls]

    return asyncio.run(main())


@pytest.fixture
def bus():
    return FakeBus()


@pytest.fixture
def regs(bus):
    return Registers(bus)


def test_fake_bus_implements_the_protocol():
    assert isinstance(FakeBus(), CpBus)


def test_default_map_is_cp(regs):
    assert regs.map is CP


def test_rw_write_is_shadowed(bus, regs):
    offset = CP.dma_rows.offset
    _run(regs.write("dma_rows", count=5), regs.write("dma_rows", count=5))
    assert bus.accesses == [("write", offset, 5 << CP.dma_rows.count.lsb)]
    _run(regs.write("dma_rows", count=6), regs.write("dma_rows", count=5))
    assert bus.accesses[1:] == [
        ("write", offset, 6 << CP.dma_rows.count.lsb),
        ("write", offset, 5 << CP.dma_rows.count.lsb),
    ]


def test_first_write_always_reaches_the_bus(bus, regs):
    # Nothing is known of the hardware until written: even the reset value is written.
    _run(regs.write("dma_pattern", value=0))
    assert bus.accesses == [("write", CP.dma_pattern.offset, 0)]


def test_shadows_are_per_register(bus, regs):
    _run(
        regs.write("dma_src_pitch", bytes=64),
        regs.write("dma_dst_pitch", bytes=64),
        regs.write("dma_src_pitch", bytes=64),
        regs.write("dma_dst_pitch", bytes=64),
    )
    assert bus.accesses == [
        ("write", CP.dma_src_pitch.offset, 64 << CP.dma_src_pitch.bytes.lsb),
        ("write", CP.dma_dst_pitch.offset, 64 << CP.dma_dst_pitch.bytes.lsb),
    ]


def test_shadow_compares_encoded_values(bus, regs):
    # Unnamed fields are zero: naming a zero field writes the same value.
    reg = CP.fw_version
    _run(regs.write("fw_version", major=1), regs.write("fw_version", major=1, minor=0, patch=0))
    assert bus.accesses == [("write", reg.offset, 1 << reg.major.lsb)]
    _run(regs.write("fw_version", major=1, patch=2))
    assert bus.accesses[1:] == [("write", reg.offset, (1 << reg.major.lsb) | (2 << reg.patch.lsb))]


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("entry_pop", {"pop": 1}),
        ("dma_push", {"push": 1}),
        ("dma_clear", {"clear": 1}),
        ("job_end", {"job_done": 1}),
        ("job_end", {"job_error": 1}),
        ("cp_int_raw_status", {"entry": 1}),
        ("cp_int_raw_status", {"entry": 1, "dma_done": 1}),
    ],
    ids=repr,
)
def test_pulse_and_w1c_writes_are_never_shadowed(bus, regs, name, fields):
    reg = getattr(CP, name)
    assert {field.kind for field in reg.fields} <= {Kind.PULSE, Kind.W1C}
    value = 0
    for field, v in fields.items():
        value |= v << reg.field(field).lsb
    _run(*(regs.write(name, **fields) for _ in range(3)))
    assert bus.accesses == [("write", reg.offset, value)] * 3


def test_forget_drops_shadows(bus, regs):
    _run(regs.write("dma_rows", count=5), regs.write("cp_int_mask", entry=1))
    regs.forget()
    _run(regs.write("dma_rows", count=5), regs.write("cp_int_mask", entry=1))
    expected = [
        ("write", CP.dma_rows.offset, 5 << CP.dma_rows.count.lsb),
        ("write", CP.cp_int_mask.offset, 1 << CP.cp_int_mask.entry.lsb),
    ]
    assert bus.accesses == expected * 2
    _run(regs.write("dma_rows", count=5))  # shadowed again after the write
    assert len(bus.accesses) == 4


def test_shadows_belong_to_one_instance(bus):
    first, second = Registers(bus), Registers(bus)
    _run(first.write("dma_rows", count=5), second.write("dma_rows", count=5))
    assert len(bus.accesses) == 2


def test_reads_are_never_cached(bus, regs):
    bus.registers[CP.dma_rows.offset] = 7
    assert _run(regs.read("dma_rows"), regs.read("dma_rows")) == [7, 7]
    assert bus.accesses == [("read", CP.dma_rows.offset)] * 2


def test_read_is_raw(bus, regs):
    bus.registers[CP.cycles.offset] = 0xFFFF_FFFF
    assert _run(regs.read("cycles")) == [0xFFFF_FFFF]
    assert bus.accesses == [("read", CP.cycles.offset)]


def test_fields_decodes(bus, regs):
    status = CP.dma_status
    bus.registers[status.offset] = (1 << status.busy.lsb) | (5 << status.error.lsb)
    version = CP.fw_version
    bus.registers[version.offset] = (
        (3 << version.major.lsb) | (2 << version.minor.lsb) | (1 << version.patch.lsb)
    )
    assert _run(regs.fields("dma_status"), regs.fields("fw_version")) == [
        {"busy": 1, "full": 0, "error": 5, "completed": 0},
        {"patch": 1, "minor": 2, "major": 3},
    ]
    assert bus.accesses == [("read", status.offset), ("read", version.offset)]


def test_fields_ignores_bits_outside_fields(bus, regs):
    status = CP.dma_status
    bus.registers[status.offset] = ~status.mask & 0xFFFF_FFFF
    assert _run(regs.fields("dma_status")) == [{"busy": 0, "full": 0, "error": 0, "completed": 0}]


def test_bad_names_and_values_access_nothing(bus, regs):
    with pytest.raises(AttributeError, match=rf"^Register map {CP.name} has no register 'bogus'$"):
        _run(regs.write("bogus", value=1))
    with pytest.raises(AttributeError, match=r"^Register dma_rows has no field 'rows'$"):
        _run(regs.write("dma_rows", rows=1))
    with pytest.raises(ValueError, match=r"^Value 256 does not fit field major of 8 bits$"):
        _run(regs.write("fw_version", major=256))
    assert bus.accesses == []
