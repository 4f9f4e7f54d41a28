"""Layouts shared by the RTL, the firmware and the driver: ring entries, commands, status codes.

Every structure that crosses memory between the host, the hardware and the firmware is an
``amaranth.lib.data.Struct`` here, little-endian, fields from the least significant bit up. The
RTL slices the same layouts; software packs and unpacks them with :func:`pack` and
:func:`unpack`. Fields named ``_reserved*`` must be zero.
"""

import functools

from amaranth.hdl import Shape, signed
from amaranth.lib import data, enum

__all__ = [
    "COMMAND_ALIGN",
    "MAX_DIM",
    "MAX_ROWS",
    "MAX_ROW_BYTES",
    "Access",
    "ChannelParams",
    "CommandHeader",
    "Completion",
    "CompletionStatus",
    "Conv2dCommand",
    "CopyCommand",
    "CountersCommand",
    "DmaError",
    "DmaKind",
    "ErrorCode",
    "FaultKind",
    "FillCommand",
    "GemmCommand",
    "JobCounters",
    "NopCommand",
    "Opcode",
    "OutputType",
    "QueueError",
    "Record",
    "RingEntry",
    "WriteValueCommand",
    "nbytes",
    "pack",
    "unpack",
]

#: Commands start at, and are sized in, multiples of this many bytes.
COMMAND_ALIGN = 8
#: A COPY or FILL row moves at most this many bytes (the DMA engine's 24-bit ``dma_row_bytes``).
MAX_ROW_BYTES = (1 << 24) - 1
#: A COPY or FILL moves at most this many rows (the DMA engine's 16-bit ``dma_rows``).
MAX_ROWS = (1 << 16) - 1
#: The largest GEMM dimension (m, k, n), and the largest im2col GEMM a CONV2D may lower to.
MAX_DIM = (1 << 16) - 1


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
    #: A GEMM or CONV2D operand's shape is invalid: a zero size, a pitch shorter than its row,
    #: a window outside the input, clamps or a zero point out of order or out of range.
    BAD_OPERAND = 10


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
    GEMM = 4
    CONV2D = 5
    COUNTERS = 6


class OutputType(enum.Enum, shape=8):
    """What a GEMM or CONV2D writes for each output element."""

    #: Requantized int8 (bias, multiplier, shift, zero point, clamps).
    INT8 = 0
    #: The int32 sum plus bias, clamped; no requantization.
    INT32 = 1


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


class ChannelParams(data.Struct):
    """Post-processing parameters of one output channel (16 bytes).

    The firmware loads an array of these, one per output channel, into the post-processor's
    parameter memory as they are in memory.

    Attributes
    ----------
    bias : signed 32 bits
        Added to the channel's int32 sums.
    multiplier : signed 32 bits
        Fixed-point multiplier (Q0.31) of the requantization; TFLite's quantized multiplier.
    shift : 8 bits
        Right shift after the multiply, 0 to 31, rounded half away from zero.
    """

    bias: signed(32)
    multiplier: signed(32)
    shift: 8
    _reserved0: 24
    _reserved1: 32


class JobCounters(data.Struct):
    """The running job's performance counters, as the COUNTERS command stores them (64 bytes).

    Each counts from the start of the job (the firmware's pop of its ring entry) to the moment
    the record is read, and wraps at 2**32. The host's ``perf_*`` registers hold the same counts
    since reset.

    Attributes
    ----------
    cycles : clock cycles.
    array_busy : steps fed to the systolic array (one per cycle at most).
    array_macs : useful multiply-accumulates (rows and columns inside the operands).
    array_bubbles : padding steps (a tile shorter than N steps: stall, the array's own).
    array_idle : cycles without a matrix operation (stall: waiting for operands or firmware).
    dma_busy : cycles the DMA engine runs a command.
    dma_read_bytes, dma_write_bytes : bytes moved on the memory port's R and W channels
        (whole read beats, strobed write bytes).
    dma_mmu_wait : cycles a DMA burst waits for its translation (stall: TLB misses).
    dma_stall : cycles the DMA engine is busy and moves no data beat (stall: memory latency).
    tlb_hits, tlb_misses, walker_reads : the MMU's counters.
    matrix_ops : matrix operations completed.
    dma_commands : DMA commands completed.
    """

    cycles: 32
    array_busy: 32
    array_macs: 32
    array_bubbles: 32
    array_idle: 32
    dma_busy: 32
    dma_read_bytes: 32
    dma_write_bytes: 32
    dma_mmu_wait: 32
    dma_stall: 32
    tlb_hits: 32
    tlb_misses: 32
    walker_reads: 32
    matrix_ops: 32
    dma_commands: 32
    _reserved0: 32


class GemmCommand(data.Struct):
    """``C = clamp(requantize(A x B + bias))`` on int8 matrices (80 bytes).

    ``A`` is ``m x k`` int8 with rows ``lda`` bytes apart, ``B`` is ``k x n`` int8 with rows ``ldb``
    apart, ``C`` is ``m x n`` of ``output_type`` elements with rows ``ldc`` apart; ``params`` is an
    array of ``n`` :class:`ChannelParams`, one per column of ``C``. All are virtual addresses in the
    job's address space. See ``tinynpu.rtl.ppu`` for the arithmetic; ``act_min`` and ``act_max`` are
    the output clamps (ReLU: ``act_min = zero_point``).
    """

    header: CommandHeader
    a: 64
    b: 64
    c: 64
    params: 64
    m: 32
    k: 32
    n: 32
    lda: 32
    ldb: 32
    ldc: 32
    zero_point: signed(32)
    act_min: signed(32)
    act_max: signed(32)
    output_type: OutputType
    _reserved0: 24


class Conv2dCommand(data.Struct):
    """A 2-D convolution on NHWC int8 tensors, lowered to GEMM tiles by the firmware (80 bytes).

    ``input`` is ``batch x in_h x in_w x in_c`` int8, dense. ``weights`` is HWIO: ``kernel_h x
    kernel_w x in_c`` rows of ``out_c`` int8, that is the GEMM's ``B`` with
    ``k = kernel_h * kernel_w * in_c``. ``output`` is ``batch x out_h x out_w x out_c`` of
    ``output_type`` elements, dense; ``params`` holds ``out_c`` :class:`ChannelParams`. Output pixel
    ``(y, x)`` reads input rows ``y * stride_h - pad_top + i`` and columns
    ``x * stride_w - pad_left + j``; positions outside the input read ``input_zero_point`` (so a
    padded tap contributes nothing once the bias carries ``-input_zero_point * sum(weights)``).
    """

    header: CommandHeader
    input: 64
    weights: 64
    output: 64
    params: 64
    batch: 16
    in_h: 16
    in_w: 16
    in_c: 16
    out_h: 16
    out_w: 16
    out_c: 16
    kernel_h: 8
    kernel_w: 8
    stride_h: 8
    stride_w: 8
    pad_top: 8
    pad_left: 8
    input_zero_point: signed(8)
    output_type: OutputType
    _reserved0: 16
    zero_point: signed(32)
    act_min: signed(32)
    act_max: signed(32)
    _reserved1: 32


class CountersCommand(data.Struct):
    """Store the job's :class:`JobCounters` so far at ``addr``, 8-byte aligned (16 bytes)."""

    header: CommandHeader
    addr: 64


# Status codes: the encodings of register fields (ring_status.error, dma_status.error, and an
# address space's fault_status kind and access).


class QueueError(enum.Enum, shape=2):
    """Why the queue stopped (reported in the host's ``ring_status.error``)."""

    NONE = 0
    #: A doorbell published a tail behind the head, or more than the ring size ahead of done.
    BAD_TAIL = 1
    #: ``ring_size.log2`` is outside 1..12 at a doorbell.
    BAD_SIZE = 2
    #: A fetch got SLVERR or DECERR.
    BUS_ERROR = 3


class DmaKind(enum.Enum, shape=3):
    """What a DMA command moves, and between which ports (``rtl/dma.py``; "local": local port)."""

    COPY = 0  # mem -> mem
    LOAD = 1  # mem -> local
    STORE = 2  # local -> mem
    FILL = 3  # pattern -> mem
    FILL_LOCAL = 4  # pattern -> local


class DmaError(enum.Enum, shape=3):
    """How the last DMA command ended."""

    NONE = 0
    READ_SLVERR = 1
    READ_DECERR = 2
    WRITE_SLVERR = 3
    WRITE_DECERR = 4
    #: The local side of a LOAD, STORE or FILL_LOCAL is not inside one local region that allows
    #: the access (past the end of the SRAM, or a write to a read-only region); nothing moved.
    SRAM_RANGE = 5
    #: The MMU refused a burst's translation (its fault registers say why).
    MMU_FAULT = 6


class Access(enum.Enum, shape=2):
    """What an access does, as fault records report it."""

    READ = 0
    WRITE = 1
    #: A read of a command stream: refused by execute-never descriptors.
    FETCH = 2


class FaultKind(enum.Enum, shape=3):
    """Why a translation faulted (the ``kind`` of an address space's ``fault_status``)."""

    NONE = 0
    #: An invalid descriptor, a reserved one (``table=0`` at level 3), or an input address
    #: beyond 39 bits (level 0).
    TRANSLATION = 1
    #: A block or page descriptor with the access flag clear.
    ACCESS_FLAG = 2
    #: A write through a read-only descriptor, or a fetch through an execute-never one.
    PERMISSION = 3
    #: A descriptor read answered SLVERR or DECERR.
    BUS_ERROR = 4
    #: A descriptor whose output address has bits above bit 39.
    ADDRESS_SIZE = 5
    #: The address space is not enabled (level 0).
    DISABLED = 6


@functools.cache
def nbytes(layout):
    """Size of a layout in bytes."""
    return data.Layout.cast(layout).size // 8


@functools.cache
def _cast(layout):
    return data.Layout.cast(layout)


class Record:
    """A decoded layout: its fields as attributes and as items, sub-structures as records.

    An enum field is converted on access, so one that holds no member of its enum raises
    ``ValueError`` there, not when the record is decoded. ``shape()`` is the layout: iterating
    it gives ``(name, field)`` in order.
    """

    __slots__ = ("_layout", "_values")

    def __init__(self, layout, values):
        self._layout, self._values = layout, values

    def __getattr__(self, name):
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(f"{self._layout!r} has no field {name!r}") from None
        return value() if callable(value) else value

    def __getitem__(self, name):
        value = self._values[name]
        return value() if callable(value) else value

    def __repr__(self):
        def show(name):
            try:
                return repr(self[name])
            except ValueError:  # an enum field holding no member: its raw value
                return f"{self._values[name].args[0]} (invalid)"

        return f"Record({', '.join(f'{name}={show(name)}' for name, _ in self._layout)})"

    def shape(self):
        """The layout."""
        return self._layout


def _kind(shape):
    """``("enum", cls)``, ``("sub", layout)`` or ``("int", Shape)`` of a field's shape."""
    if isinstance(shape, type) and issubclass(shape, enum.Enum):
        return "enum", shape
    if isinstance(shape, data.Layout) or (isinstance(shape, type) and issubclass(shape, data.View)):
        return "sub", data.Layout.cast(shape)
    return "int", Shape.cast(shape)


# Amaranth's layout constants (``Layout.const``, ``from_bits``) cost hundreds of microseconds a
# command; the firmware and the driver decode one for every command, ring entry and ioctl. These
# codecs are compiled once per layout from its fields and give the same bits and the same errors.
@functools.cache
def _decoder(layout):
    steps = []
    for name, field in layout:
        kind, what = _kind(field.shape)
        if kind == "sub":
            what = _decoder(what)
        elif kind == "int":
            what = what.width if what.signed else 0
        steps.append((name, field.offset, (1 << field.width) - 1, kind, what))

    def decode(bits):
        values = {}
        for name, offset, mask, kind, what in steps:
            raw = (bits >> offset) & mask
            if kind == "int":
                values[name] = raw - (1 << what) if what and raw >> (what - 1) else raw
            elif kind == "enum":
                values[name] = functools.partial(what, raw)
            else:
                values[name] = what(raw)
        return Record(layout, values)

    return decode


@functools.cache
def _encoder(layout):
    fields = {}
    for name, field in layout:
        kind, what = _kind(field.shape)
        if kind == "sub":
            what = _encoder(what)
        fields[name] = (field.offset, kind, what)

    def encode(values, path):
        bits = 0
        for name, value in values.items():
            try:
                offset, kind, what = fields[name]
            except KeyError:
                raise ValueError(f"{path}{name}: no such field") from None
            if kind == "int":
                lo = -(1 << what.width - 1) if what.signed else 0
                hi = (1 << what.width - 1) if what.signed else (1 << what.width)
                if not isinstance(value, int) or not lo <= value < hi:
                    kind = "signed " if what.signed else ""
                    raise ValueError(
                        f"{path}{name}: {value!r} does not fit {kind}{what.width} bits"
                    )
                bits |= (value & ((1 << what.width) - 1)) << offset
            elif kind == "enum":
                if not isinstance(value, what):
                    raise ValueError(f"{path}{name}: {value!r} is not a {what.__name__}")
                bits |= value.value << offset
            else:
                if not isinstance(value, dict):
                    raise ValueError(f"{path}{name}: {value!r} is not a dictionary of fields")
                bits |= what(value, f"{path}{name}.") << offset
        return bits

    return encode


def pack(layout, fields):
    """Encode a ``{field: value}`` dictionary (nested for sub-structures) as little-endian bytes.

    Fields not named are zero.

    Raises
    ------
    ValueError
        If a field name is unknown, a value does not fit its field, or an enum field is given
        anything but a member of its enum.
    """
    bits = _encoder(_cast(layout))(fields, "")
    return bits.to_bytes(nbytes(layout), "little")


def unpack(layout, raw):
    """Decode little-endian bytes into a :class:`Record` of ``layout`` (fields as attributes).

    Raises
    ------
    ValueError
        If ``raw`` is not exactly the layout's size.
    """
    if len(raw) != nbytes(layout):
        raise ValueError(f"{layout.__name__} is {nbytes(layout)} bytes, not {len(raw)}")
    return _decoder(_cast(layout))(int.from_bytes(raw, "little"))
