"""Layouts shared by the RTL, the firmware and the driver: ring entries, completions, commands.

Every structure that crosses memory between the host, the hardware and the firmware is an
``amaranth.lib.data.Struct`` here, little-endian, fields from the least significant bit up. The
RTL slices the same layouts; software packs and unpacks them with :func:`pack` and
:func:`unpack`. Fields named ``_reserved*`` must be zero.
"""

from amaranth.hdl import Shape
from amaranth.lib import data, enum

__all__ = [
    "COMMAND_ALIGN",
    "CommandHeader",
    "Completion",
    "CompletionStatus",
    "CopyCommand",
    "ErrorCode",
    "FillCommand",
    "NopCommand",
    "Opcode",
    "RingEntry",
    "WriteValueCommand",
    "nbytes",
    "pack",
    "unpack",
]

#: Commands start at, and are sized in, multiples of this many bytes.
COMMAND_ALIGN = 8


class RingEntry(data.Struct):
    """One entry of the command ring in host memory (32 bytes).

    Attributes
    ----------
    seqno : 32 bits
        Sequence number chosen by the driver; echoed in the completion.
    asid : 8 bits
        Address space the job runs in.
    flags : 8 bits
        None defined yet: must be zero.
    cmd_size : 32 bits
        Bytes of command stream; a multiple of 8, at least 8.
    cmd_addr : 64 bits
        Virtual address of the command stream in address space ``asid``; 8-byte aligned.
    """

    seqno: 32
    asid: 8
    flags: 8
    _reserved0: 16
    cmd_size: 32
    _reserved1: 32
    cmd_addr: 64
    _reserved2: 64


class CompletionStatus(enum.Enum, shape=8):
    """How a job ended."""

    OK = 0
    ERROR = 1
    #: The job's address space faulted, or was stopped by an earlier fault (``error`` says which).
    FAULT = 2


class ErrorCode(enum.Enum, shape=8):
    """Why a job ended in error (``NONE`` for a job that succeeded)."""

    NONE = 0
    #: A command's opcode is not one of :class:`Opcode`.
    BAD_OPCODE = 1
    #: The stream ends inside a command, or a command's length is shorter than its layout.
    TRUNCATED = 2
    #: An address, pitch, size or length is not aligned as the command requires.
    MISALIGNED = 3
    #: A size or count exceeds the documented limits.
    OVERSIZED = 4
    #: A reserved field or flag is not zero.
    RESERVED = 5
    #: The ring entry itself is malformed (stream size, alignment, address space).
    BAD_ENTRY = 6
    #: The memory port answered SLVERR or DECERR.
    BUS_ERROR = 7
    #: The MMU refused a translation: the address space's fault registers say why and where.
    PAGE_FAULT = 8
    #: The address space was stopped by an earlier fault not yet acknowledged; nothing ran.
    AS_STOPPED = 9


class Completion(data.Struct):
    """The record the firmware writes for each ring entry, at the same index (16 bytes).

    Attributes
    ----------
    seqno : 32 bits
        The ring entry's sequence number.
    status : CompletionStatus
    error : ErrorCode
    offset : 16 bits
        Byte offset, in the command stream, of the command that failed (0 on success).
    cycles : 32 bits
        Clock cycles from the entry's pop to its completion.
    """

    seqno: 32
    status: CompletionStatus
    error: ErrorCode
    offset: 16
    cycles: 32
    _reserved0: 32


class Opcode(enum.Enum, shape=8):
    """Command opcodes."""

    NOP = 0
    COPY = 1
    FILL = 2
    WRITE_VALUE = 3


class CommandHeader(data.Struct):
    """The first 8 bytes of every command.

    Attributes
    ----------
    opcode : Opcode
    flags : 8 bits
        None defined yet: must be zero.
    length : 16 bits
        Bytes of this command, header included: the layout's size.
    """

    opcode: Opcode
    flags: 8
    length: 16
    _reserved0: 32


class NopCommand(data.Struct):
    """Do nothing (8 bytes)."""

    header: CommandHeader


class CopyCommand(data.Struct):
    """Copy ``rows`` rows of ``row_bytes`` bytes (40 bytes).

    Rows start ``src_pitch`` and ``dst_pitch`` bytes apart; a 1-D copy is one row. Any byte
    alignment; pitches at least ``row_bytes`` when ``rows > 1``.
    """

    header: CommandHeader
    src: 64
    dst: 64
    row_bytes: 32
    rows: 32
    src_pitch: 32
    dst_pitch: 32


class FillCommand(data.Struct):
    """Fill ``rows`` rows of ``row_bytes`` bytes with a repeated 32-bit pattern (32 bytes).

    Byte ``i`` of a row is byte ``i % 4`` of ``pattern`` (little-endian).
    """

    header: CommandHeader
    dst: 64
    row_bytes: 32
    rows: 32
    dst_pitch: 32
    pattern: 32


class WriteValueCommand(data.Struct):
    """Write a 64-bit value to an 8-byte aligned address: a fence (24 bytes)."""

    header: CommandHeader
    addr: 64
    value: 64


def nbytes(layout):
    """Size of a layout in bytes."""
    return data.Layout.cast(layout).size // 8


def _check(layout, fields, path):
    # Layout.const masks out-of-range values silently: software must be told instead.
    layout = data.Layout.cast(layout)
    for name, value in fields.items():
        try:
            shape = layout[name].shape
        except KeyError:
            raise ValueError(f"{path}{name}: no such field") from None
        if isinstance(value, dict):
            _check(shape, value, f"{path}{name}.")
        elif isinstance(shape, type) and issubclass(shape, enum.Enum):
            if not isinstance(value, shape):
                raise ValueError(f"{path}{name}: {value!r} is not a {shape.__name__}")
        else:
            width = Shape.cast(shape).width
            if not isinstance(value, int) or not 0 <= value < (1 << width):
                raise ValueError(f"{path}{name}: {value!r} does not fit {width} bits")


def pack(layout, fields):
    """Encode a ``{field: value}`` dictionary (nested for sub-structures) as little-endian bytes.

    Fields not named are zero.

    Raises
    ------
    ValueError
        If a field name is unknown, a value does not fit its field, or an enum field is given
        anything but a member of its enum.
    """
    _check(layout, fields, "")
    return layout.const(fields).as_bits().to_bytes(nbytes(layout), "little")


def unpack(layout, raw):
    """Decode little-endian bytes into a constant of ``layout`` (fields as attributes).

    Raises
    ------
    ValueError
        If ``raw`` is not exactly the layout's size.
    """
    if len(raw) != nbytes(layout):
        raise ValueError(f"{layout.__name__} is {nbytes(layout)} bytes, not {len(raw)}")
    return data.Layout.cast(layout).from_bits(int.from_bytes(raw, "little"))
