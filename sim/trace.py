"""A record of what crossed the SoC's buses and what the driver did, decoded for people.

Events are stored raw (time, bus, address, value; or a driver tracepoint's fields) and decoded
with the register description and the shared layouts only when printed, so tracing costs little
during simulation. Each line is ``time  kind  what``; the kinds are ``uapi`` (an ioctl and its
return), ``bo`` and ``vm`` (buffers and mappings), ``pte`` (a descriptor written), ``mmio`` (a
host register access), ``irq`` (the interrupt line seen high), ``done`` (a completion record the
driver read) and ``sched`` (a job queued, written to the ring, its fence signaled).
"""

import errno
from dataclasses import dataclass

from amaranth.lib import data
from tinynpu.rtl.layouts import nbytes, unpack
from tinynpu.rtl.pte import LEVELS, PAGE_SHIFT, Descriptor
from tinynpu.rtl.regmap import RegisterMap

__all__ = ["DriverEvent", "IrqEvent", "MmioAccess", "Trace"]


@dataclass(frozen=True)
class MmioAccess:
    """One host MMIO access.

    Attributes
    ----------
    time_ns : float
        Simulated time at which the access completed.
    write : bool
        Write or read.
    offset : int
        Byte offset in the host window.
    value : int
        The value written or read.
    """

    time_ns: float
    write: bool
    offset: int
    value: int

    def format(self, regmap: RegisterMap):
        """One line: time, direction, offset, register and fields."""
        op = "W" if self.write else "R"
        return f"{self.time_ns:12.1f} ns  mmio {op} {self.offset:#06x}  " + regmap.format_access(
            self.offset, self.value
        )


@dataclass(frozen=True)
class IrqEvent:
    """The interrupt line seen high by a waiter.

    Attributes
    ----------
    time_ns : float
        Simulated time at which the line was seen high.
    line : str
        Name of the interrupt line.
    """

    time_ns: float
    line: str

    def format(self, regmap: RegisterMap):
        """One line: time and line name."""
        return f"{self.time_ns:12.1f} ns  irq  {self.line} asserted"


class Trace:
    """An ordered list of bus events.

    Parameters
    ----------
    regmap : RegisterMap
        The register description used to decode MMIO accesses.
    enabled : bool
        Record events; a disabled trace drops them.
    """

    def __init__(self, regmap: RegisterMap, *, enabled=True):
        self.regmap = regmap
        self.enabled = enabled
        self.events = []

    def record(self, event):
        """Append ``event`` (if enabled)."""
        if self.enabled:
            self.events.append(event)

    def lines(self):
        """The events, one decoded line each."""
        return [event.format(self.regmap) for event in self.events]


def _value(value):
    """An int as people read it: small ones in decimal, addresses and masks in hex."""
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return str(value) if -1024 < value < 1024 else f"{value:#x}"


def _fields(fields):
    return " ".join(f"{name}={_value(value)}" for name, value in fields.items())


def _descriptor(value, level=None):
    """A PTE's fields, in bit order: the address, then every other field that is set.

    At the last level the ``table`` bit marks a page, and is printed so.
    """
    entry = unpack(Descriptor, value.to_bytes(nbytes(Descriptor), "little"))
    if not entry.valid:
        return "{invalid}"
    parts = [f"addr={entry.address << PAGE_SHIFT:#x}"]
    for name, field in data.Layout.cast(Descriptor):
        if name in ("valid", "address") or not entry[name]:
            continue
        if name == "table" and level == LEVELS[-1]:
            name = "page"
        parts.append(name if field.width == 1 else f"{name}={entry[name]:#x}")
    return "{" + " ".join(parts) + "}"


def _errno(code):
    return "0" if code == 0 else f"-{errno.errorcode.get(code, code)}"


def _driver_line(name, f):
    """``(kind, text)`` of a driver tracepoint (see :mod:`tinynpu.driver.tracepoints`)."""
    if name == "ioctl":
        return "uapi", f"{f['request']}({_fields(f['args'])})"
    if name == "ioctl_done":
        reply = f" {{{_fields(f['reply'])}}}" if f["reply"] else ""
        return "uapi", f"{f['request']} = {_errno(f['errno'])}{reply}"
    if name == "bo_create":
        pieces = f["pieces"]
        where = f"at {pieces[0][0]:#x}" if len(pieces) == 1 else f"in {len(pieces)} pieces"
        return "bo", f"create bo@{f['bo']:#x}, {f['size']:#x} bytes {where}"
    if name == "bo_free":
        return "bo", f"free bo@{f['bo']:#x}"
    if name == "vm_map":
        return "vm", (
            f"map {f['va']:#x}+{f['size']:#x} -> bo@{f['bo']:#x}+{f['offset']:#x} "
            f"{f['prot'].replace('|', ',') or 'none'}"
        )
    if name == "vm_unmap":
        return "vm", f"unmap {f['va']:#x}+{f['size']:#x}"
    if name == "pte":
        return "pte", (
            f"L{f['level']} table {f['table']:#x} [{f['index']:3d}] = {f['value']:#018x} "
            + _descriptor(f["value"], f["level"])
        )
    if name == "completion":
        error = "" if f["error"] == "NONE" else f" {f['error']} at {f['offset']:#x}"
        return "done", f"ring seqno {f['seqno']} {f['status']}{error}, {f['cycles']} cycles"
    if name == "job_queued":
        return "sched", f"job {f['seqno']} queued"
    if name == "job_run":
        return "sched", f"job {f['seqno']} -> ring seqno {f['hw']}"
    if name == "fence":
        return "sched", f"fence {f['seqno']} signaled {_errno(f['errno'])}"
    return "drv", f"{name} {_fields(f)}"


@dataclass(frozen=True)
class DriverEvent:
    """One driver tracepoint.

    Attributes
    ----------
    time_ns : float
        Simulated time at which the driver reported it.
    name : str
        The tracepoint (see :mod:`tinynpu.driver.tracepoints`).
    fields : dict
        Its fields.
    """

    time_ns: float
    name: str
    fields: dict

    def format(self, regmap: RegisterMap):
        """One line: time, kind, decoded event."""
        kind, text = _driver_line(self.name, self.fields)
        return f"{self.time_ns:12.1f} ns  {kind:<5} {text}"
