"""Decode and check commands: the rules every command stream must follow (pure Python).

A command stream is a sequence of commands, each a shared layout of ``rtl.layouts`` that starts
with a :class:`~rtl.layouts.CommandHeader`. These functions take the bytes the firmware has read
and either return the decoded command or raise :class:`CommandError` with the
:class:`~rtl.layouts.ErrorCode` the job completes with. The limits they enforce are the
hardware's: the DMA engine's 24-bit row length and 16-bit row count, 40-bit physical addresses.
"""

from rtl.layouts import (
    COMMAND_ALIGN,
    CommandHeader,
    CopyCommand,
    ErrorCode,
    FillCommand,
    NopCommand,
    Opcode,
    RingEntry,
    WriteValueCommand,
    nbytes,
    unpack,
)

__all__ = [
    "ADDRESS_LIMIT",
    "HEADER_BYTES",
    "LAYOUTS",
    "MAX_ROWS",
    "MAX_ROW_BYTES",
    "CommandError",
    "check_command",
    "check_entry",
    "decode_header",
]

#: The command layout of each opcode.
LAYOUTS = {
    Opcode.NOP: NopCommand,
    Opcode.COPY: CopyCommand,
    Opcode.FILL: FillCommand,
    Opcode.WRITE_VALUE: WriteValueCommand,
}
HEADER_BYTES = nbytes(CommandHeader)
#: Physical addresses are 40 bits wide (the mem port's address width).
ADDRESS_LIMIT = 1 << 40
#: A row moves at most this many bytes (the DMA engine's ``dma_row_bytes``).
MAX_ROW_BYTES = (1 << 24) - 1
#: A command moves at most this many rows (the DMA engine's ``dma_rows``).
MAX_ROWS = (1 << 16) - 1
#: Pitches are 32-bit fields of the DMA engine.
_MAX_PITCH = (1 << 32) - 1


class CommandError(Exception):
    """A command or ring entry breaks a rule; the job completes with ``code``.

    Attributes
    ----------
    code : ErrorCode
    """

    def __init__(self, code: ErrorCode, message: str):
        super().__init__(message)
        self.code = code


def _reserved_set(const):
    """Whether any ``_reserved*`` field of a structure constant is non-zero."""
    return any(name.startswith("_reserved") and const[name] for name, _ in const.shape())


def check_entry(raw: bytes, stream_limit: int, addr_spaces: int):
    """Decode a ring entry and check it.

    Parameters
    ----------
    raw : bytes
        The 32-byte entry.
    stream_limit : int
        Most bytes of command stream the firmware can hold.
    addr_spaces : int
        Address spaces of the MMU: the entry's ``asid`` must be below this.

    Returns
    -------
    RingEntry constant

    Raises
    ------
    CommandError
        ``BAD_ENTRY`` for non-zero flags or reserved fields, a stream size that is zero, not a
        multiple of 8 or above ``stream_limit``, a stream address that is not 8-byte aligned or
        runs past the 40-bit address space, or an address space the MMU does not have.
    """
    entry = unpack(RingEntry, raw)
    problems = []
    if entry.flags or _reserved_set(entry):
        problems.append("flags or reserved fields set")
    size = entry.cmd_size
    if size == 0 or size % COMMAND_ALIGN:
        problems.append(f"stream size {size} is not a positive multiple of {COMMAND_ALIGN}")
    elif size > stream_limit:
        problems.append(f"stream size {size} exceeds {stream_limit}")
    if entry.cmd_addr % COMMAND_ALIGN or entry.cmd_addr + size > ADDRESS_LIMIT:
        problems.append(f"stream address {entry.cmd_addr:#x} misaligned or out of range")
    if entry.asid >= addr_spaces:
        problems.append(f"address space {entry.asid} not below {addr_spaces}")
    if problems:
        raise CommandError(ErrorCode.BAD_ENTRY, "; ".join(problems))
    return entry


def decode_header(raw: bytes, remaining: int):
    """Decode a command header and find the command's layout.

    Parameters
    ----------
    raw : bytes
        The header's 8 bytes.
    remaining : int
        Bytes of stream from the header to the end of the stream.

    Returns
    -------
    (Opcode, layout)

    Raises
    ------
    CommandError
        ``BAD_OPCODE`` for an opcode that is not an :class:`Opcode`; ``TRUNCATED`` if the length
        is shorter than the opcode's layout or reaches past the end of the stream; ``OVERSIZED``
        if it is longer than the layout; ``RESERVED`` for non-zero flags or reserved bits.
    """
    header = unpack(CommandHeader, raw)
    try:
        opcode = header.opcode
    except ValueError:  # the field holds no member of Opcode
        raise CommandError(ErrorCode.BAD_OPCODE, f"unknown opcode {raw[0]:#04x}") from None
    layout = LAYOUTS[opcode]
    size, length = nbytes(layout), header.length
    if length < size or length > remaining:
        raise CommandError(
            ErrorCode.TRUNCATED,
            f"{opcode.name} length {length}: needs {size}, {remaining} bytes left in the stream",
        )
    if length > size:
        raise CommandError(ErrorCode.OVERSIZED, f"{opcode.name} length {length} exceeds {size}")
    if header.flags or _reserved_set(header):
        raise CommandError(ErrorCode.RESERVED, f"{opcode.name} flags or reserved bits set")
    return opcode, layout


def _check_region(what, base, row_bytes, rows, pitch):
    if row_bytes > MAX_ROW_BYTES or rows > MAX_ROWS or pitch > _MAX_PITCH:
        raise CommandError(
            ErrorCode.OVERSIZED,
            f"{what}: {rows} rows of {row_bytes} bytes exceed {MAX_ROWS} rows of {MAX_ROW_BYTES}",
        )
    if rows > 1 and pitch < row_bytes:
        raise CommandError(
            ErrorCode.MISALIGNED, f"{what}: pitch {pitch} is shorter than a row of {row_bytes}"
        )
    if rows and row_bytes and base + (rows - 1) * pitch + row_bytes > ADDRESS_LIMIT:
        raise CommandError(ErrorCode.OVERSIZED, f"{what}: region ends past the address space")


def check_command(opcode: Opcode, raw: bytes):
    """Decode a whole command and check its operands.

    Returns
    -------
    constant of the opcode's layout

    Raises
    ------
    CommandError
        ``OVERSIZED`` for rows, row lengths or regions beyond the limits of this module;
        ``MISALIGNED`` for a pitch shorter than its row (rows would overlap) or a WRITE_VALUE
        address that is not 8-byte aligned. Zero rows or zero-length rows are a valid no-op.
    """
    cmd = unpack(LAYOUTS[opcode], raw)
    if opcode is Opcode.COPY:
        _check_region("source", cmd.src, cmd.row_bytes, cmd.rows, cmd.src_pitch)
        _check_region("destination", cmd.dst, cmd.row_bytes, cmd.rows, cmd.dst_pitch)
    elif opcode is Opcode.FILL:
        _check_region("destination", cmd.dst, cmd.row_bytes, cmd.rows, cmd.dst_pitch)
    elif opcode is Opcode.WRITE_VALUE:
        if cmd.addr % 8:
            raise CommandError(ErrorCode.MISALIGNED, f"value address {cmd.addr:#x} not 8-aligned")
        if cmd.addr + 8 > ADDRESS_LIMIT:
            raise CommandError(ErrorCode.OVERSIZED, f"value address {cmd.addr:#x} out of range")
    return cmd
