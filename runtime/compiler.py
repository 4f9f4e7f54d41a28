"""Lower a quantized model to buffers and one command stream per batch.

A :class:`Program` has three buffers, each mapped at a fixed virtual address of the job's
context:

============  ===============  =================  ===========================================
buffer        virtual address  mapping            contents
============  ===============  =================  ===========================================
stream        ``STREAM_VA``    read-only          the command stream
weights       ``WEIGHTS_VA``   read-only, no-exec each op's weights, then its ChannelParams
activations   ``ACTS_VA``      read-write, no-exec the input, each op's output, counter records
============  ===============  =================  ===========================================

The stream runs the ops in order, one GEMM or CONV2D each, and after each one a COUNTERS command
that stores the job's counters so far: the differences give every op's cycles and traffic. A
dense op reads its input as a ``(batch, features)`` matrix, so a flatten costs nothing: NHWC
rows are already HWC vectors.
"""

from dataclasses import dataclass

import numpy as np
from tinynpu.driver.uapi import PAGE_SIZE
from tinynpu.rtl.layouts import JobCounters, nbytes

from . import commands

__all__ = ["ACTS_VA", "STREAM_VA", "WEIGHTS_VA", "Program", "compile_model"]

STREAM_VA = 0x0010_0000
WEIGHTS_VA = 0x0100_0000
ACTS_VA = 0x1000_0000
#: Start of every tensor and record in its buffer (a cache line).
ALIGN = 64


def _pages(size):
    return -(-size // PAGE_SIZE) * PAGE_SIZE


class _Arena:
    """Bump allocation of aligned regions in one buffer."""

    def __init__(self, base):
        self.base, self.size = base, 0

    def take(self, size):
        va = self.base + self.size
        self.size += -(-size // ALIGN) * ALIGN
        return va


@dataclass
class Program:
    """A compiled model for one batch size.

    Attributes
    ----------
    batch : int
        Samples per job.
    input_shape : tuple of int
        One sample's shape, as the model takes it.
    stream : bytes
        The command stream.
    weights : bytes
        The weights buffer's contents.
    sizes : dict
        Bytes of each buffer (page multiples): ``stream``, ``weights``, ``activations``.
    input_va, output_va : int
        Where the input batch goes and the output batch comes from (int8, row-major).
    counters_va : list of int
        The ``JobCounters`` record stored after each op.
    tensors_va : list of int
        Each op's output, in order.
    ops : list of QuantizedOp
        What the stream runs.
    """

    batch: int
    input_shape: tuple
    stream: bytes
    weights: bytes
    sizes: dict
    input_va: int
    output_va: int
    counters_va: list
    tensors_va: list
    ops: list

    @property
    def input_bytes(self):
        """Bytes of one input batch."""
        return self.batch * int(np.prod(self.input_shape))

    @property
    def output_bytes(self):
        """Bytes of one output batch."""
        return self.batch * int(np.prod(self.ops[-1].out_shape))


def _command(op, batch, source, weights_va, params_va, output):
    stage = {"zero_point": op.zero_point, "act_min": op.act_min, "act_max": op.act_max}
    if op.kind == "dense":
        k, n = op.weights.shape
        return commands.gemm(source, weights_va, output, params_va, batch, k, n, **stage)
    return commands.conv2d(
        source,
        weights_va,
        output,
        params_va,
        shape=(batch, *op.in_shape),
        out_c=op.out_shape[2],
        kernel=(op.kernel, op.kernel),
        stride=(op.stride, op.stride),
        padding=(op.padding, op.padding),
        out_hw=op.out_shape[:2],
        input_zero_point=op.input_zero_point,
        **stage,
    )


def compile_model(model, batch):
    """Lower ``model`` (a :class:`~.quantize.QuantizedModel`) for ``batch`` samples."""
    if batch < 1:
        raise ValueError(f"Batch size {batch} is not positive")
    weights, acts = _Arena(WEIGHTS_VA), _Arena(ACTS_VA)
    blob = bytearray()
    input_va = acts.take(batch * int(np.prod(model.input_shape)))
    source, stream, counters, outputs = input_va, [], [], []
    for op in model.ops:
        weights_va = weights.take(op.weights.nbytes)
        blob += op.weights.tobytes().ljust(weights.size - len(blob), b"\0")
        params = commands.channel_params(op.bias, op.multiplier, op.shift)
        params_va = weights.take(len(params))
        blob += params.ljust(weights.size - len(blob), b"\0")
        output = acts.take(batch * int(np.prod(op.out_shape)))
        stream.append(_command(op, batch, source, weights_va, params_va, output))
        counters.append(acts.take(nbytes(JobCounters)))
        stream.append(commands.counters(counters[-1]))
        outputs.append(output)
        source = output
    stream = commands.stream(*stream)
    return Program(
        batch=batch,
        input_shape=tuple(model.input_shape),
        stream=stream,
        weights=bytes(blob),
        sizes={
            "stream": _pages(len(stream)),
            "weights": _pages(weights.size),
            "activations": _pages(acts.size),
        },
        input_va=input_va,
        output_va=source,
        counters_va=counters,
        tensors_va=outputs,
        ops=list(model.ops),
    )
