"""Named register access over any bus: one mechanism for the driver and the firmware.

A :class:`RegisterFile` reads and writes the registers of a :class:`~.model.RegisterMap` by name
and field, through an abstract pair of coroutines ``read(offset)`` and ``write(offset, value)``:
the host's MMIO window (``Platform.mmio_read``/``mmio_write``) for the driver, the control
processor's bus for the firmware. ::

    regs = RegisterFile(HOST, platform.mmio_read, platform.mmio_write)
    await regs.write("ring_tail", index=tail)
    ready = (await regs.fields("fw_status"))["ready"]
    await regs.bank("aspace", asid).write("control", enable=1)

Names are resolved through a dictionary built once per map, so an access costs no scan of the
map. With ``shadow``, writes to registers whose every field is read-write are cached: writing
the value such a register already holds costs no bus access, as firmware keeps shadow copies of
its configuration. Pulse and write-1-to-clear registers are always written, reads never cached.
"""

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .model import Kind, Register, RegisterMap, join_address, split_address

__all__ = ["RegisterFile"]


@dataclass(frozen=True)
class _Index:
    """A map's registers by name, its banks' by local name, and the offsets a shadow may cache."""

    names: dict
    banks: dict
    cacheable: frozenset


_INDEXES = {}  # id(regmap) -> (regmap, _Index)


def _index(regmap):
    known = _INDEXES.get(id(regmap))
    if known is None or known[0] is not regmap:
        banks = {}
        for reg in regmap:
            if reg.bank is not None:
                banks.setdefault(reg.bank, {})[reg.local] = reg
        cacheable = frozenset(
            reg.offset for reg in regmap if all(field.kind is Kind.RW for field in reg.fields)
        )
        known = _INDEXES[id(regmap)] = (
            regmap,
            _Index({reg.name: reg for reg in regmap}, banks, cacheable),
        )
    return known[1]


class RegisterFile:
    """Read and write the registers of ``regmap`` by name and field.

    Parameters
    ----------
    regmap : RegisterMap
    read : coroutine function ``(offset) -> int``
        Loads the 32-bit register at a byte offset of the map.
    write : coroutine function ``(offset, value) -> None``
        Stores a 32-bit value at a byte offset.
    shadow : bool
        Cache writes to read-write registers (see the module's docstring).

    Attributes
    ----------
    map : RegisterMap
    """

    def __init__(
        self,
        regmap: RegisterMap,
        read: Callable[[int], Awaitable[int]],
        write: Callable[[int, int], Awaitable[None]],
        *,
        shadow=False,
    ):
        self.map = regmap
        self._read, self._write = read, write
        self._index = _index(regmap)
        self._names = self._index.names
        self._bank = None  # (name, index) of a bank view
        self._shadow = {} if shadow else None  # offset -> last value written

    def register(self, name) -> Register:
        """The :class:`~.model.Register` called ``name``.

        Raises
        ------
        AttributeError
            If there is no such register.
        """
        reg = self._names.get(name)
        if reg is not None:
            return reg
        if self._bank is None:
            return getattr(self.map, name)  # raises, naming the map
        raise AttributeError(f"Bank {self._bank[0]} has no register {name!r}")

    def bank(self, name, index):
        """The registers of element ``index`` of bank ``name``, by their local names.

        The view shares this file's bus and shadow copies: ``regs.bank("aspace", 2)`` reads
        ``"ttbr_lo"`` where ``regs`` reads ``"aspace2_ttbr_lo"``.

        Raises
        ------
        IndexError, AttributeError
            As :meth:`RegisterMap.bank <tinynpu.rtl.regmap.model.RegisterMap.bank>` does.
        """
        names = self._index.banks.get((name, index))
        if names is None:
            self.map.bank(name, index)  # raises for a bad name or index
        view = copy.copy(self)
        view._names, view._bank = names, (name, index)
        return view

    async def read(self, name):
        """The raw value of register ``name``."""
        return await self._read(self.register(name).offset)

    async def fields(self, name):
        """Register ``name`` decoded into ``{field: value}``."""
        reg = self.register(name)
        return reg.decode(await self._read(reg.offset))

    async def write(self, name, **fields):
        """Write register ``name`` with ``fields`` (the others zero)."""
        reg = self.register(name)
        await self._store(reg, reg.encode(**fields))

    async def write_raw(self, name, value):
        """Write the raw ``value`` to register ``name`` (shadowed like :meth:`write`)."""
        await self._store(self.register(name), value)

    async def read_address(self, name):
        """The address held by the register pair ``<name>_lo`` and ``<name>_hi``."""
        lo, hi = self.register(f"{name}_lo"), self.register(f"{name}_hi")
        return join_address(lo, hi, await self._read(lo.offset), await self._read(hi.offset))

    async def write_address(self, name, address):
        """Write ``address`` to the register pair ``<name>_lo`` (first) and ``<name>_hi``.

        Raises
        ------
        ValueError
            If the address is misaligned for the pair or too wide for it (nothing is written).
        """
        lo, hi = self.register(f"{name}_lo"), self.register(f"{name}_hi")
        low, high = split_address(lo, hi, address)
        await self._store(lo, low)
        await self._store(hi, high)

    def forget(self):
        """Drop the shadow copies (after the hardware was reset)."""
        if self._shadow is not None:
            self._shadow.clear()

    async def _store(self, reg, value):
        shadow = self._shadow
        if shadow is None or reg.offset not in self._index.cacheable:
            await self._write(reg.offset, value)
        elif shadow.get(reg.offset) != value:
            await self._write(reg.offset, value)
            shadow[reg.offset] = value  # only once the store is done: a failed one is retried
