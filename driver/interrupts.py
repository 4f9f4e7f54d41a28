"""The host interrupt: enable sources, and acknowledge what is pending."""

from tinynpu.rtl.regmap import HOST

from .platform import Platform

__all__ = ["SOURCES", "acknowledge", "set_enabled"]

#: Interrupt sources, one bit each in int_raw_status, int_mask, int_status and int_set.
SOURCES = tuple(HOST.int_status.field_names())


async def set_enabled(platform: Platform, sources):
    """Enable exactly ``sources`` (names from :data:`SOURCES`) onto the interrupt line.

    Raises
    ------
    AttributeError
        If a name is not an interrupt source.
    """
    await platform.mmio_write(
        HOST.int_mask.offset, HOST.int_mask.encode(**dict.fromkeys(sources, 1))
    )


async def acknowledge(platform: Platform):
    """Read the pending, enabled sources and clear them; the top half of an IRQ handler.

    Returns
    -------
    list of str
        The sources that were pending, empty for a spurious interrupt.
    """
    status = await platform.mmio_read(HOST.int_status.offset)
    if status:
        # int_status bits sit where int_raw_status's do: write them back to clear.
        await platform.mmio_write(HOST.int_raw_status.offset, status)
    return [name for name, bit in HOST.int_status.decode(status).items() if bit]
