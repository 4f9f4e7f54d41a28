"""Probe: find the NPU, check its version and read what it can do."""

import errno
from dataclasses import dataclass

from tinynpu.rtl.regmap import HOST
from tinynpu.rtl.regmap.access import RegisterFile

from .platform import Platform

__all__ = ["DeviceError", "DeviceInfo", "host_registers", "probe"]

#: The hardware major version this driver speaks: the one in the register map it was built with.
SUPPORTED_MAJOR = HOST.version.major.reset


class DeviceError(OSError):
    """The device is absent, of an unsupported version, or misbehaving (carries an errno)."""


@dataclass(frozen=True)
class DeviceInfo:
    """Identity and capabilities, as read from the hardware.

    Attributes
    ----------
    version : tuple of int
        ``(major, minor, patch)`` of the RTL.
    caps : dict of str to int
        What the capability registers report, by name: every elaboration parameter, and the
        design constants software must respect (``mem_addr_width``, ``va_width``: virtual
        address bits, ``ring_log2_min`` and ``ring_log2_max``: the ring sizes the fetcher
        accepts).
    """

    version: tuple[int, int, int]
    caps: dict[str, int]

    def __getattr__(self, name):
        caps = self.__dict__.get("caps", {})
        if name in caps:
            return caps[name]
        raise AttributeError(f"DeviceInfo has no attribute or capability {name!r}")


def host_registers(platform: Platform):
    """The host register map over ``platform``'s MMIO window, read and written by name."""
    return RegisterFile(HOST, platform.mmio_read, platform.mmio_write)


async def probe(platform: Platform):
    """Identify the NPU behind ``platform`` and read its capabilities.

    Returns
    -------
    DeviceInfo

    Raises
    ------
    DeviceError
        ``ENODEV`` if the identification register does not read as a tinynpu, or if the
        hardware's major version is not the one this driver supports.
    """
    regs = host_registers(platform)
    ident = await regs.read("id")
    if HOST.id.magic.get(ident) != HOST.id.magic.reset:
        raise DeviceError(
            errno.ENODEV,
            f"No tinynpu: id reads {ident:#010x}, expected {HOST.id.magic.reset:#010x}",
        )
    fields = await regs.fields("version")
    version = (fields["major"], fields["minor"], fields["patch"])
    if version[0] != SUPPORTED_MAJOR:
        raise DeviceError(
            errno.ENODEV,
            f"Unsupported tinynpu version {'.'.join(map(str, version))}: "
            f"this driver supports major version {SUPPORTED_MAJOR}",
        )
    caps = {}
    for reg in HOST:
        if any(field.param for field in reg.fields):
            value = await regs.read(reg.name)
            caps |= {field.param: field.get(value) for field in reg.fields if field.param}
    return DeviceInfo(version=version, caps=caps)
