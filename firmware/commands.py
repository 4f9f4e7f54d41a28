"""Decode and check commands: the rules every command stream must follow (pure Python).

A command stream is a sequence of commands, each a shared layout of ``tinynpu.rtl.layouts`` that
starts with a :class:`~tinynpu.rtl.layouts.CommandHeader`. These functions take the bytes the
firmware has read and either return the decoded command or raise :class:`CommandError` with the
:class:`~tinynpu.rtl.layouts.ErrorCode` the job completes with. The limits they enforce are the
hardware's: the DMA engine's 24-bit row length and 16-bit row count, 40-bit physical addresses.
"""

from tinynpu.rtl.layouts import (
    COMMAND_ALIGN,
    MAX_DIM,
    MAX_ROW_BYTES,
    MAX_ROWS,
    ChannelParams,
    CommandHeader,
    Conv2dCommand,
    CopyCommand,
    CountersCommand,
    ErrorCode,
    FillCommand,
    GemmCommand,
    JobCounters,
    NopCommand,
    Opcode,
    OutputType,
    RingEntry,
    WriteValueCommand,
    nbytes,
    unpack,
)

__all__ = [
    "ADDRESS_LIMIT",
    "HEADER_BYTES",
    "LAYOUTS",
    "MAX_DIM",
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
    Opcode.GEMM: GemmCommand,
    Opcode.CONV2D: Conv2dCommand,
    Opcode.COUNTERS: CountersCommand,
}
HEADER_BYTES = nbytes(CommandHeader)
#: Physical addresses are 40 bits wide (the mem port's address width).
ADDRESS_LIMIT = 1 << 40
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


def _bad(message):
    return CommandError(ErrorCode.BAD_OPERAND, message)


def _output_type(cmd):
    try:
        return cmd.output_type
    except ValueError:  # the field holds no member of OutputType
        raise _bad("unknown output type") from None


def _check_quantization(cmd, output_type):
    if cmd.act_min > cmd.act_max:
        raise _bad(f"clamp [{cmd.act_min}, {cmd.act_max}] is empty")
    if output_type is OutputType.INT8 and not -128 <= cmd.zero_point <= 127:
        raise _bad(f"int8 zero point {cmd.zero_point} out of range")


def _check_matrix(what, base, rows, row_bytes, pitch):
    if pitch < row_bytes:
        raise _bad(f"{what}: pitch {pitch} is shorter than a row of {row_bytes} bytes")
    _check_region(what, base, row_bytes, rows, pitch)


def _check_gemm(cmd):
    output_type = _output_type(cmd)
    size = 4 if output_type is OutputType.INT32 else 1
    if 0 in (cmd.m, cmd.k, cmd.n):
        raise _bad(f"GEMM {cmd.m} x {cmd.k} x {cmd.n} has a zero size")
    if max(cmd.m, cmd.k, cmd.n) > MAX_DIM:
        raise CommandError(ErrorCode.OVERSIZED, f"GEMM sizes above {MAX_DIM}")
    if size == 4 and (cmd.c % 4 or cmd.ldc % 4):
        raise CommandError(ErrorCode.MISALIGNED, "int32 output not 4-byte aligned")
    if cmd.params % 4:
        raise CommandError(ErrorCode.MISALIGNED, "channel parameters not 4-byte aligned")
    _check_matrix("A", cmd.a, cmd.m, cmd.k, cmd.lda)
    _check_matrix("B", cmd.b, cmd.k, cmd.n, cmd.ldb)
    _check_matrix("C", cmd.c, cmd.m, cmd.n * size, cmd.ldc)
    _check_region("parameters", cmd.params, cmd.n * nbytes(ChannelParams), 1, 0)
    _check_quantization(cmd, output_type)


def _check_conv2d(cmd):
    output_type = _output_type(cmd)
    c = cmd
    sizes = (c.batch, c.in_h, c.in_w, c.in_c, c.out_h, c.out_w, c.out_c)
    if 0 in sizes or 0 in (c.kernel_h, c.kernel_w, c.stride_h, c.stride_w):
        raise _bad("CONV2D has a zero size, kernel or stride")
    if c.pad_top >= c.kernel_h or c.pad_left >= c.kernel_w:
        raise _bad("padding as large as the kernel")
    if (c.out_h - 1) * c.stride_h - c.pad_top >= c.in_h or (
        (c.out_w - 1) * c.stride_w - c.pad_left >= c.in_w
    ):
        raise _bad("the last output's window starts outside the input")
    m, k = c.batch * c.out_h * c.out_w, c.kernel_h * c.kernel_w * c.in_c
    if max(m, k, c.out_c) > MAX_DIM:
        raise CommandError(ErrorCode.OVERSIZED, f"CONV2D lowers to a GEMM above {MAX_DIM}")
    size = 4 if output_type is OutputType.INT32 else 1
    if size == 4 and c.output % 4:
        raise CommandError(ErrorCode.MISALIGNED, "int32 output not 4-byte aligned")
    if c.params % 4:
        raise CommandError(ErrorCode.MISALIGNED, "channel parameters not 4-byte aligned")
    _check_region("input", c.input, c.batch * c.in_h * c.in_w * c.in_c, 1, 0)
    _check_region("weights", c.weights, k * c.out_c, 1, 0)
    _check_region("output", c.output, m * c.out_c * size, 1, 0)
    _check_region("parameters", c.params, c.out_c * nbytes(ChannelParams), 1, 0)
    _check_quantization(c, output_type)


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
        GEMM and CONV2D: ``BAD_OPERAND`` for a zero size, a matrix pitch shorter than its row, an
        inconsistent convolution window, an empty clamp or an int8 zero point out of range;
        ``MISALIGNED`` for int32 outputs or channel parameters not 4-byte aligned (COUNTERS: an
        address not 8-byte aligned); ``OVERSIZED`` for sizes above :data:`MAX_DIM`.
    """
    cmd = unpack(LAYOUTS[opcode], raw)
    if opcode is Opcode.COPY:
        _check_region("source", cmd.src, cmd.row_bytes, cmd.rows, cmd.src_pitch)
        _check_region("destination", cmd.dst, cmd.row_bytes, cmd.rows, cmd.dst_pitch)
    elif opcode is Opcode.FILL:
        _check_region("destination", cmd.dst, cmd.row_bytes, cmd.rows, cmd.dst_pitch)
    elif opcode is Opcode.GEMM:
        _check_gemm(cmd)
    elif opcode is Opcode.CONV2D:
        _check_conv2d(cmd)
    elif opcode is Opcode.COUNTERS:
        if cmd.addr % 8:
            raise CommandError(
                ErrorCode.MISALIGNED, f"counters address {cmd.addr:#x} not 8-aligned"
            )
        _check_region("counters", cmd.addr, nbytes(JobCounters), 1, 0)
    elif opcode is Opcode.WRITE_VALUE:
        if cmd.addr % 8:
            raise CommandError(ErrorCode.MISALIGNED, f"value address {cmd.addr:#x} not 8-aligned")
        if cmd.addr + 8 > ADDRESS_LIMIT:
            raise CommandError(ErrorCode.OVERSIZED, f"value address {cmd.addr:#x} out of range")
    return cmd
