"""Build command streams: the encodings of ``tinynpu.rtl.layouts``, as the firmware decodes them.

Building command streams is user space's job, as Mesa builds them for a DRM driver: the kernel
driver only checks where a stream lies (an executable mapping of the context); the firmware
checks what it says.
"""

from tinynpu.rtl.layouts import (
    ChannelParams,
    Conv2dCommand,
    CopyCommand,
    CountersCommand,
    FillCommand,
    GemmCommand,
    NopCommand,
    Opcode,
    OutputType,
    WriteValueCommand,
    nbytes,
    pack,
)

__all__ = [
    "channel_params",
    "conv2d",
    "copy",
    "counters",
    "fill",
    "gemm",
    "nop",
    "stream",
    "write_value",
]


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


def _clamps(output_type, act_min, act_max):
    """Clamps defaulting to the whole range of ``output_type``."""
    bits = 32 if output_type is OutputType.INT32 else 8
    low, high = -(1 << bits - 1), (1 << bits - 1) - 1
    return (low if act_min is None else act_min), (high if act_max is None else act_max)


def gemm(
    a,
    b,
    c,
    params,
    m,
    k,
    n,
    *,
    lda=None,
    ldb=None,
    ldc=None,
    zero_point=0,
    act_min=None,
    act_max=None,
    output_type=OutputType.INT8,
):
    """``C = A x B`` requantized per output channel; pitches default to packed rows.

    The clamps default to the whole range of the output type.
    """
    size = 4 if output_type is OutputType.INT32 else 1
    act_min, act_max = _clamps(output_type, act_min, act_max)
    return pack(
        GemmCommand,
        {
            "header": _header(Opcode.GEMM, GemmCommand),
            "a": a,
            "b": b,
            "c": c,
            "params": params,
            "m": m,
            "k": k,
            "n": n,
            "lda": k if lda is None else lda,
            "ldb": n if ldb is None else ldb,
            "ldc": n * size if ldc is None else ldc,
            "zero_point": zero_point,
            "act_min": act_min,
            "act_max": act_max,
            "output_type": output_type,
        },
    )


def conv2d(
    input,
    weights,
    output,
    params,
    *,
    shape,
    out_c,
    kernel,
    stride=(1, 1),
    padding=(0, 0),
    out_hw,
    input_zero_point=0,
    zero_point=0,
    act_min=None,
    act_max=None,
    output_type=OutputType.INT8,
):
    """A convolution of the NHWC ``shape = (batch, h, w, c)`` input by HWIO weights.

    ``kernel``, ``stride``: (h, w); ``padding``: (top, left); ``out_hw``: the output's (h, w).
    The clamps default to the whole range of the output type.
    """
    batch, in_h, in_w, in_c = shape
    act_min, act_max = _clamps(output_type, act_min, act_max)
    return pack(
        Conv2dCommand,
        {
            "header": _header(Opcode.CONV2D, Conv2dCommand),
            "input": input,
            "weights": weights,
            "output": output,
            "params": params,
            "batch": batch,
            "in_h": in_h,
            "in_w": in_w,
            "in_c": in_c,
            "out_h": out_hw[0],
            "out_w": out_hw[1],
            "out_c": out_c,
            "kernel_h": kernel[0],
            "kernel_w": kernel[1],
            "stride_h": stride[0],
            "stride_w": stride[1],
            "pad_top": padding[0],
            "pad_left": padding[1],
            "input_zero_point": input_zero_point,
            "output_type": output_type,
            "zero_point": zero_point,
            "act_min": act_min,
            "act_max": act_max,
        },
    )


def channel_params(bias, multiplier, shift):
    """The ``ChannelParams`` array a GEMM or CONV2D reads: one record per output channel."""
    return b"".join(
        pack(ChannelParams, {"bias": int(b), "multiplier": int(m), "shift": int(s)})
        for b, m, s in zip(bias, multiplier, shift, strict=True)
    )


def counters(addr):
    """Store the job's performance counters so far (a ``JobCounters`` record) at ``addr``."""
    return pack(
        CountersCommand, {"header": _header(Opcode.COUNTERS, CountersCommand), "addr": addr}
    )


def stream(*commands):
    """Concatenate encoded commands into one command stream."""
    return b"".join(commands)
