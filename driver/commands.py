"""Build command streams: the encodings of ``rtl.layouts``, as the firmware decodes them."""

from rtl.layouts import (
    CopyCommand,
    FillCommand,
    NopCommand,
    Opcode,
    WriteValueCommand,
    nbytes,
    pack,
)

__all__ = ["copy", "fill", "nop", "stream", "write_value"]


def _header(opcode, layout):
    return {"opcode": opcode, "length": nbytes(layout)}


def nop():
    """A command that does nothing."""
    return pack(NopCommand, {"header": _header(Opcode.NOP, NopCommand)})


def copy(src, dst, row_bytes, *, rows=1, src_pitch=None, dst_pitch=None):
    """Copy ``rows`` rows of ``row_bytes`` bytes; pitches default to ``row_bytes`` (packed)."""
    return pack(
        CopyCommand,
        {
            "header": _header(Opcode.COPY, CopyCommand),
            "src": src,
            "dst": dst,
            "row_bytes": row_bytes,
            "rows": rows,
            "src_pitch": row_bytes if src_pitch is None else src_pitch,
            "dst_pitch": row_bytes if dst_pitch is None else dst_pitch,
        },
    )


def fill(dst, row_bytes, pattern, *, rows=1, dst_pitch=None):
    """Fill ``rows`` rows of ``row_bytes`` bytes with the little-endian 32-bit ``pattern``."""
    return pack(
        FillCommand,
        {
            "header": _header(Opcode.FILL, FillCommand),
            "dst": dst,
            "row_bytes": row_bytes,
            "rows": rows,
            "dst_pitch": row_bytes if dst_pitch is None else dst_pitch,
            "pattern": pattern,
        },
    )


def write_value(addr, value):
    """Write the 64-bit ``value`` to the 8-byte aligned ``addr`` (a fence)."""
    return pack(
        WriteValueCommand,
        {"header": _header(Opcode.WRITE_VALUE, WriteValueCommand), "addr": addr, "value": value},
    )


def stream(*commands):
    """Concatenate encoded commands into one command stream."""
    return b"".join(commands)
