"""The host interrupt: enable sources, and acknowledge what is pending."""

from tinynpu.rtl.regmap import HOST
from tinynpu.rtl.regmap.access import RegisterFile

__all__ = ["SOURCES", "acknowledge", "set_enabled"]

#: Interrupt sources, one bit each in int_raw_status, int_mask, int_status and int_set.
SOURCES = tuple(HOST.int_status.field_names())


async def set_enabled(regs: RegisterFile, sources):
    """Enable exactly ``sources`` (names from :data:`SOURCES`) onto the interrupt line.

    Parameters
    ----------
    regs : RegisterFile
        The host registers (:func:`~tinynpu.driver.device.host_registers`).
    sources : iterable of str
        Source names, from :data:`SOURCES`.

    Raises
    ------
    AttributeError
        If a name is not an interrupt source.
    """
    await regs.write("int_mask", **dict.fromkeys(sources, 1))


async def acknowledge(regs: RegisterFile):
    """Read the pending, enabled sources and clear them; the top half of an IRQ handler.

    Returns
    -------
    list of str
        The sources that were pending, empty for a spurious interrupt.
    """
    status = await regs.read("int_status")
    if status:
        # int_status bits sit where int_raw_status's do: write them back to clear.
        await regs.write_raw("int_raw_status", status)
    return [name for name, bit in HOST.int_status.decode(status).items() if bit]
