"""Driver probe, interrupt helpers and the backend's bring-up against a fake platform."""

import asyncio
import errno

import pytest
from tinynpu.driver.device import DeviceError, DeviceInfo, host_registers, probe
from tinynpu.driver.interrupts import SOURCES, acknowledge, set_enabled
from tinynpu.driver.memory import PhysicalAllocator
from tinynpu.driver.npu import FIRMWARE_MAJOR, NpuBackend
from tinynpu.driver.platform import Platform
from tinynpu.rtl.config import MEM_ADDR_WIDTH, PARAMETERS, NpuConfig
from tinynpu.rtl.regmap import HOST

KiB = 1024

CONFIG = NpuConfig(
    array_size=16,
    mem_data_width=128,
    addr_spaces=2,
    tlb_entries=32,
    spad_in_bytes=64 * KiB,
    spad_wt_bytes=32 * KiB,
    spad_acc_bytes=128 * KiB,
    queue_depth=16,
    dma_queue_depth=7,
)


class FakePlatform:
    """A register file keyed by offset; unmapped offsets read as zero. Records every access."""

    def __init__(self, registers=None):
        self.registers = dict(registers or {})
        self.accesses = []

    async def mmio_read(self, offset: int) -> int:
        self.accesses.append(("read", offset))
        return self.registers.get(offset, 0)

    async def mmio_write(self, offset: int, value: int) -> None:
        self.accesses.append(("write", offset, value))
        self.registers[offset] = value

    async def mem_read(self, address: int, length: int) -> bytes:
        raise AssertionError("the code under test must not touch host memory")

    async def mem_write(self, address: int, data: bytes) -> None:
        raise AssertionError("the code under test must not touch host memory")

    async def wait_irq(self, timeout_ns: float | None = None) -> bool:
        raise AssertionError("the code under test must not wait for the interrupt")

    async def reset(self) -> None:
        raise AssertionError("the code under test must not reset the device")

    async def sleep_ns(self, duration: float) -> None:
        raise AssertionError("the code under test must not sleep")

    def now_ns(self) -> float:
        return 0.0

    def spawn(self, coroutine):
        raise AssertionError("the code under test must not start tasks")

    def event(self):
        raise AssertionError("the code under test must not sleep on events")

    @property
    def writes(self):
        return [a[1:] for a in self.accesses if a[0] == "write"]

    @property
    def reads(self):
        return [a[1] for a in self.accesses if a[0] == "read"]


def _npu_registers(config=CONFIG, *, ident=None, version=(0, 1, 0)):
    """Register values of an NPU built with ``config``, as the hardware reports them."""
    major, minor, patch = version
    return {
        HOST.id.offset: HOST.id.magic.reset if ident is None else ident,
        HOST.version.offset: HOST.version.encode(major=major, minor=minor, patch=patch),
        HOST.cap_array.offset: HOST.cap_array.encode(n=config.array_size),
        HOST.cap_mem.offset: HOST.cap_mem.encode(
            data_width=config.mem_data_width, addr_width=MEM_ADDR_WIDTH
        ),
        HOST.cap_mmu.offset: HOST.cap_mmu.encode(
            addr_spaces=config.addr_spaces, tlb_entries=config.tlb_entries, va_width=39
        ),
        HOST.cap_queue.offset: HOST.cap_queue.encode(
            depth=config.queue_depth, ring_log2_min=1, ring_log2_max=12
        ),
        HOST.cap_spad_in.offset: HOST.cap_spad_in.encode(bytes=config.spad_in_bytes),
        HOST.cap_spad_wt.offset: HOST.cap_spad_wt.encode(bytes=config.spad_wt_bytes),
        HOST.cap_spad_acc.offset: HOST.cap_spad_acc.encode(bytes=config.spad_acc_bytes),
        HOST.cap_dma.offset: HOST.cap_dma.encode(queue_depth=config.dma_queue_depth),
    }


def _expected_caps(config=CONFIG):
    # The design constants the hardware reports beside its parameters, as literals.
    constants = {"mem_addr_width": 40, "va_width": 39, "ring_log2_min": 1, "ring_log2_max": 12}
    return config.as_dict() | constants


def test_fake_platform_implements_the_protocol():
    assert isinstance(FakePlatform(), Platform)


def test_probe_reads_version_and_capabilities():
    platform = FakePlatform(_npu_registers())
    info = asyncio.run(probe(platform))
    assert isinstance(info, DeviceInfo)
    assert info.version == (0, 1, 0)
    params_in_map = {f.param for reg in HOST for f in reg.fields if f.param}
    assert set(info.caps) == params_in_map
    assert set(PARAMETERS) <= set(info.caps)
    assert info.caps == _expected_caps()
    assert platform.writes == []
    assert platform.reads[:2] == [HOST.id.offset, HOST.version.offset]


@pytest.mark.parametrize(
    "config",
    [NpuConfig(), CONFIG, NpuConfig(array_size=2, spad_in_bytes=1 * KiB, queue_depth=64)],
    ids=lambda c: c.slug,
)
def test_probe_reports_each_configuration(config):
    info = asyncio.run(probe(FakePlatform(_npu_registers(config))))
    assert info.caps == _expected_caps(config)


def test_probe_ignores_bits_outside_capability_fields():
    registers = _npu_registers()
    for reg in HOST:
        if reg.offset in registers and any(f.param for f in reg.fields):
            registers[reg.offset] |= ~reg.mask & 0xFFFF_FFFF
    info = asyncio.run(probe(FakePlatform(registers)))
    assert info.caps == _expected_caps()


def test_probe_accepts_other_minor_and_patch_versions():
    platform = FakePlatform(_npu_registers(version=(0, 7, 3)))
    assert asyncio.run(probe(platform)).version == (0, 7, 3)


@pytest.mark.parametrize("ident", [0, 0xFFFF_FFFF, 0x544E_5054, 0x5550_4E54])
def test_probe_wrong_id_is_enodev(ident):
    platform = FakePlatform(_npu_registers(ident=ident))
    with pytest.raises(DeviceError) as info:
        asyncio.run(probe(platform))
    assert info.value.errno == errno.ENODEV
    assert info.value.strerror == f"No tinynpu: id reads {ident:#010x}, expected 0x544e5055"
    assert platform.accesses == [("read", HOST.id.offset)]


def test_probe_absent_device_is_enodev():
    with pytest.raises(DeviceError) as info:
        asyncio.run(probe(FakePlatform()))
    assert info.value.errno == errno.ENODEV


@pytest.mark.parametrize("version", [(1, 1, 0), (1, 0, 0), (0xFF, 1, 0)])
def test_probe_wrong_major_is_enodev(version):
    platform = FakePlatform(_npu_registers(version=version))
    with pytest.raises(DeviceError) as info:
        asyncio.run(probe(platform))
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ENODEV
    assert info.value.strerror == (
        f"Unsupported tinynpu version {'.'.join(map(str, version))}: "
        "this driver supports major version 0"
    )
    assert platform.reads == [HOST.id.offset, HOST.version.offset]


def test_device_info_capability_attributes():
    info = asyncio.run(probe(FakePlatform(_npu_registers())))
    assert info.array_size == 16
    assert info.mem_data_width == 128
    assert info.spad_acc_bytes == 128 * KiB
    assert info.mem_addr_width == MEM_ADDR_WIDTH
    with pytest.raises(AttributeError, match=r"^DeviceInfo has no .* capability 'bogus'$"):
        _ = info.bogus
    assert not hasattr(info, "bogus")


def test_interrupt_sources():
    assert SOURCES == (
        "job_done",
        "job_error",
        "mmu_fault",
        "bus_error",
        "queue_error",
        "tlb_inv_done",
    )


@pytest.mark.parametrize(
    "pending",
    [["job_done"], ["job_error", "mmu_fault"], list(SOURCES)],
    ids="+".join,
)
def test_acknowledge_clears_and_returns_pending_sources(pending):
    status = HOST.int_status.encode(**dict.fromkeys(pending, 1))
    platform = FakePlatform({HOST.int_status.offset: status})
    assert asyncio.run(acknowledge(host_registers(platform))) == pending
    assert platform.accesses == [
        ("read", HOST.int_status.offset),
        ("write", HOST.int_raw_status.offset, status),
    ]
    assert status == HOST.int_raw_status.encode(**dict.fromkeys(pending, 1))


def test_acknowledge_spurious_interrupt_writes_nothing():
    platform = FakePlatform({HOST.int_status.offset: 0})
    assert asyncio.run(acknowledge(host_registers(platform))) == []
    assert platform.accesses == [("read", HOST.int_status.offset)]


@pytest.mark.parametrize(
    "sources", [[], ["job_done"], ["job_done", "bus_error"], list(SOURCES)], ids=repr
)
def test_set_enabled_writes_the_mask(sources):
    platform = FakePlatform()
    asyncio.run(set_enabled(host_registers(platform), sources))
    expected = 0
    for name in sources:
        expected |= getattr(HOST.int_mask, name).mask
    assert platform.accesses == [("write", HOST.int_mask.offset, expected)]
    assert HOST.int_mask.decode(expected) == {name: int(name in sources) for name in SOURCES}


def test_set_enabled_unknown_source_raises_and_writes_nothing():
    platform = FakePlatform()
    with pytest.raises(AttributeError, match=r"^Register int_mask has no field 'irq'$"):
        asyncio.run(set_enabled(host_registers(platform), ["job_done", "irq"]))
    assert platform.accesses == []


# --- the backend's bring-up -----------------------------------------------------------------


def _ready_registers(*, ring_log2_min=1, ring_log2_max=12, va_width=39):
    """An NPU whose firmware (major FIRMWARE_MAJOR) has booted, with the given design limits."""
    registers = _npu_registers()
    registers[HOST.cap_mmu.offset] = HOST.cap_mmu.encode(
        addr_spaces=CONFIG.addr_spaces, tlb_entries=CONFIG.tlb_entries, va_width=va_width
    )
    registers[HOST.cap_queue.offset] = HOST.cap_queue.encode(
        depth=CONFIG.queue_depth, ring_log2_min=ring_log2_min, ring_log2_max=ring_log2_max
    )
    registers[HOST.fw_status.offset] = HOST.fw_status.encode(ready=1)
    registers[HOST.fw_version.offset] = HOST.fw_version.encode(major=FIRMWARE_MAJOR, minor=3)
    return registers


def test_backend_init_reports_limits_from_the_capability_registers():
    platform = FakePlatform(_ready_registers(va_width=36))
    backend = NpuBackend(platform, PhysicalAllocator(0x10_0000, 1 << 20), ring_log2=3)
    asyncio.run(backend.init())
    assert backend.limits == {
        "array_size": 16,
        "hw_version": 0x0100,
        "max_contexts": 2,
        "max_cmd_size": 8 * KiB,  # half of the CP's 16 KiB SRAM
        "queue_depth": 8,
        "va_end": 1 << 36,
    }
    assert backend.firmware_version == (FIRMWARE_MAJOR, 3, 0)
    # The ring is programmed (cleared, both bases, its size, an empty tail), then interrupts.
    names = [HOST.at(offset).name for offset, _ in platform.writes]
    assert names == [
        "ring_control",
        "ring_base_lo",
        "ring_base_hi",
        "cq_base_lo",
        "cq_base_hi",
        "ring_size",
        "ring_tail",
        "int_mask",
    ]
    assert platform.registers[HOST.ring_size.offset] == HOST.ring_size.encode(log2=3)
    assert platform.registers[HOST.int_mask.offset] == HOST.int_mask.encode(
        job_done=1, job_error=1, queue_error=1, mmu_fault=1, bus_error=1
    )


@pytest.mark.parametrize(("low", "high", "log2"), [(1, 12, 13), (1, 12, 0), (2, 5, 6), (2, 5, 1)])
def test_backend_init_refuses_a_ring_size_the_hardware_does_not_accept(low, high, log2):
    platform = FakePlatform(_ready_registers(ring_log2_min=low, ring_log2_max=high))
    memory = PhysicalAllocator(0x10_0000, 1 << 20)
    backend = NpuBackend(platform, memory, ring_log2=log2)
    with pytest.raises(DeviceError) as info:
        asyncio.run(backend.init())
    assert info.value.errno == errno.EINVAL
    assert info.value.strerror == (
        f"Ring size log2 must be between {low} and {high} (cap_queue), not {log2}"
    )
    assert platform.writes == [] and memory.free_bytes == 1 << 20  # nothing touched


def test_backend_init_accepts_the_ends_of_the_range():
    for log2 in (2, 5):
        platform = FakePlatform(_ready_registers(ring_log2_min=2, ring_log2_max=5))
        backend = NpuBackend(platform, PhysicalAllocator(0x10_0000, 1 << 20), ring_log2=log2)
        asyncio.run(backend.init())
        assert backend.limits["queue_depth"] == 1 << log2
