"""Partition a TFLite model between the NPU and the CPU, and lower the NPU's part to commands.

This is what a delegate does at load time. Every operator of the main subgraph becomes one of:

============  =====================================================================  ===========
unit          operators                                                              as
============  =====================================================================  ===========
``npu``       CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED, AVERAGE_POOL_2D (VALID)   CONV2D, GEMM
``dma``       CONCATENATION, STRIDED_SLICE, SPLIT, SPLIT_V, PAD, PADV2, TRANSPOSE,   COPY, FILL
              PACK, UNPACK, READ_VARIABLE, ASSIGN_VARIABLE
``none``      RESHAPE, SQUEEZE, EXPAND_DIMS (the output aliases the input),          nothing
              VAR_HANDLE, CALL_ONCE (the variables live in device memory)
``cpu``       LOGISTIC, SOFTMAX, ADD, MUL, RELU, RELU6, MAX_POOL_2D, QUANTIZE,       numpy
              DEQUANTIZE, AVERAGE_POOL_2D with padding
============  =====================================================================  ===========

Anything else, and any tensor the NPU path cannot hold (float outside QUANTIZE and DEQUANTIZE,
int16 activations, non-constant weights), is refused with :class:`~.tflite_file.ModelError`
naming the operator, its index and the reason.

Memory follows the compiler's three buffers (:mod:`.compiler`): the command stream, the weights
(each NPU operator's rearranged weights and ``ChannelParams``, and constants the copies read),
and the activations: every activation tensor and every resource variable, each at its own
address, never reused, so each intermediate tensor can be read back after a step.

A depthwise convolution runs as convolutions over channel groups of the array's size with
block-diagonal weights (``group`` times the model's MACs, not ``channels`` times), with COPY
commands gathering a group's channels and scattering its outputs when there is more than one
group. Dilation is a zero-expanded kernel.
"""

from dataclasses import dataclass, field

import numpy as np
from tinynpu.rtl.layouts import MAX_ROW_BYTES, MAX_ROWS, JobCounters, nbytes

from . import commands
from .compiler import ACTS_VA, WEIGHTS_VA, _Arena, _pages
from .pooling import average_pool_constants
from .reference import quantize_multiplier
from .tflite_cpu import KERNELS, activation_range, pool_geometry
from .tflite_file import ModelError

__all__ = ["LoweredOp", "Plan", "Segment", "plan_model"]

_ALIASES = {"RESHAPE", "SQUEEZE", "EXPAND_DIMS"}
#: The largest tensor the runtime plans (each has its own place in device memory).
MAX_TENSOR_BYTES = 64 << 20


@dataclass
class LoweredOp:
    """One operator of the model and where it runs.

    Attributes
    ----------
    index : int
        Its index in the main subgraph.
    opcode : str
    unit : str
        ``npu``, ``dma``, ``cpu`` or ``none``.
    macs : int
        Multiply-accumulates the model asks for (kernel taps times outputs).
    commands : list of bytes
        Its commands (``npu`` and ``dma``).
    counters_va : list of int
        Where the job's counters are stored after its commands (after each part of them, when
        they span jobs).
    note : str
        How it was lowered, for reports.
    """

    index: int
    opcode: str
    unit: str
    macs: int = 0
    commands: list = field(default_factory=list, repr=False)
    counters_va: list = field(default_factory=list)
    note: str = ""


@dataclass
class Segment:
    """Operators run together: one job on the NPU (``npu``), or one operator on the CPU.

    ``ops`` holds ``(LoweredOp, counters_va)`` pairs of an NPU job, in order (an operator whose
    commands span jobs appears in each), or the one LoweredOp of a CPU segment.
    """

    unit: str
    ops: list
    offset: int = 0
    length: int = 0


@dataclass
class Plan:
    """A model lowered for a device with ``array_size`` x ``array_size`` processing elements.

    Attributes
    ----------
    model : TfliteModel
    array_size : int
    stream, weights : bytes
        The command stream's and the weights buffer's contents.
    sizes : dict
        Bytes of the ``stream``, ``weights`` and ``activations`` buffers (page multiples).
    tensor_va : dict
        Device address of every tensor of the main subgraph that has one.
    variables : dict
        ``name -> (va, initial bytes)`` of each resource variable.
    ops : list of LoweredOp
    segments : list of Segment
        What one invocation runs, in order.
    batch : int
        Always 1: one invocation per job sequence (the sessions' timeout counts samples).
    """

    model: object
    array_size: int
    stream: bytes
    weights: bytes
    sizes: dict
    tensor_va: dict
    variables: dict
    ops: list
    segments: list
    batch: int = 1

    @property
    def graph(self):
        """The main subgraph."""
        return self.model.main


def _copy_commands(src_va, dst_va, src, dst):
    """COPY commands moving byte ``src[i]`` (offset from ``src_va``) to ``dst[i]``.

    Maximal runs consecutive on both sides become rows; consecutive runs of one length at a
    constant pitch on both sides become one command's rows.
    """
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    if not len(src):
        return []
    breaks = np.nonzero((np.diff(src) != 1) | (np.diff(dst) != 1))[0] + 1
    starts = np.concatenate([[0], breaks])
    lengths = np.diff(np.concatenate([starts, [len(src)]]))
    out, i = [], 0
    while i < len(starts):
        length = int(lengths[i])
        s0, d0 = int(src[starts[i]]), int(dst[starts[i]])
        rows, src_pitch, dst_pitch = 1, length, length
        if i + 1 < len(starts) and lengths[i + 1] == length:
            src_pitch = int(src[starts[i + 1]]) - s0
            dst_pitch = int(dst[starts[i + 1]]) - d0
            if src_pitch >= length and dst_pitch >= length:
                while (
                    i + rows < len(starts)
                    and rows < MAX_ROWS
                    and lengths[i + rows] == length
                    and src[starts[i + rows]] == s0 + rows * src_pitch
                    and dst[starts[i + rows]] == d0 + rows * dst_pitch
                ):
                    rows += 1
            else:
                src_pitch = dst_pitch = length
        for chunk in range(0, length, MAX_ROW_BYTES):
            size = min(MAX_ROW_BYTES, length - chunk)
            out.append(
                commands.copy(
                    src_va + s0 + chunk,
                    dst_va + d0 + chunk,
                    size,
                    rows=rows,
                    src_pitch=src_pitch,
                    dst_pitch=dst_pitch,
                )
            )
        i += rows
    return out


def _bytes_of(elements, itemsize):
    """Byte offsets of the elements at ``elements`` (element offsets), in order."""
    elements = np.asarray(elements, np.int64).ravel()
    return (elements[:, None] * itemsize + np.arange(itemsize)).ravel()


def _same_padding(size, out, stride, kernel):
    return max(0, (out - 1) * stride + kernel - size) // 2


def _dilate(weights, dh, dw):
    """HW.. weights with ``dh - 1`` zero rows and ``dw - 1`` zero columns between taps."""
    kh, kw = weights.shape[:2]
    out = np.zeros(((kh - 1) * dh + 1, (kw - 1) * dw + 1, *weights.shape[2:]), weights.dtype)
    out[::dh, ::dw] = weights
    return out


class _Lowering:
    def __init__(self, model, array_size):
        self.model, self.graph, self.array_size = model, model.main, array_size
        self.weights, self.acts = _Arena(WEIGHTS_VA), _Arena(ACTS_VA)
        self.blob = bytearray()
        self.tensor_va = {}
        self.resources = {}  # resource tensor -> variable name
        self.variables = {}  # name -> [va, size, initial bytes]
        self.constants = {}  # constant tensor -> its va in the weights buffer

    # -- memory ---------------------------------------------------------------------------------

    def place_weights(self, data):
        va = self.weights.take(len(data))
        self.blob += bytes(data).ljust(self.weights.size - len(self.blob), b"\0")
        self.blob = self.blob.ljust(self.weights.size, b"\0")
        self.blob[va - WEIGHTS_VA : va - WEIGHTS_VA + len(data)] = bytes(data)
        return va

    def scratch(self, size):
        return self.acts.take(size)

    def va(self, index):
        """The device address of a tensor's data (a constant goes to the weights buffer)."""
        if index in self.tensor_va:
            return self.tensor_va[index]
        tensor = self.graph.tensors[index]
        if tensor.data is not None:
            if index not in self.constants:
                self.constants[index] = self.place_weights(tensor.data.tobytes())
            return self.constants[index]
        self.tensor_va[index] = self.acts.take(max(tensor.nbytes, 1))
        return self.tensor_va[index]

    # -- checks ---------------------------------------------------------------------------------

    def tensor(self, index, op, what, types=("INT8",)):
        if index < 0:
            raise ModelError(f"{what} is missing")
        tensor = self.graph.tensors[index]
        if tensor.type not in types:
            raise ModelError(f"{what} is {tensor.type}; {'/'.join(types)} is supported")
        return tensor

    def quantized(self, tensor, what, per_channel=False):
        if not len(tensor.scale) or not len(tensor.zero_point):
            raise ModelError(f"{what} is not quantized")
        if not per_channel and len(tensor.scale) != 1:
            raise ModelError(f"{what} has per-channel quantization")
        return tensor

    def constant(self, index, what):
        tensor = self.graph.tensors[index] if index >= 0 else None
        if tensor is None or tensor.data is None:
            raise ModelError(f"{what} is not a constant")
        return tensor.data

    # -- the output stage -----------------------------------------------------------------------

    def stage(self, source, weights, bias, target, weight_sums, activation):
        """Place the ChannelParams of an int8 output stage; ``(params_va, command fields)``.

        ``weights`` is the weights tensor, or ``(scales, zero points)`` of some of its channels;
        ``weight_sums`` (one per output channel) fold the input zero point into the bias.
        """
        scales, zero_points = (
            (weights.scale, weights.zero_point) if hasattr(weights, "scale") else weights
        )
        channels = len(weight_sums)
        if len(scales) not in (1, channels):
            raise ModelError(f"weights have {len(scales)} scales for {channels} channels")
        if np.any(zero_points != 0):
            raise ModelError("weights have a non-zero zero point")
        # TFLite's Prepare: the float32 scales multiplied in double.
        real = (
            float(source.scale[0])
            * np.broadcast_to(scales.astype(np.float64), channels)
            / float(target.scale[0])
        )
        if not np.all(real >= 0) or float(target.scale[0]) <= 0:
            raise ModelError("a scale is negative or zero where it divides")
        if np.any(real >= 1):
            raise ModelError(
                f"an output scale ratio of {real.max():.3g} is not below 1 (the NPU's output "
                "stage only shifts right)"
            )
        # A zero weight scale makes every output its zero point, as TFLite's multiplier 0 does.
        nonzero = np.where(real > 0, real, 0.5)
        multiplier, shift = quantize_multiplier(nonzero)
        multiplier = np.where(real > 0, multiplier, 0)
        shift = np.where(real > 0, shift, 0)
        bias = np.zeros(channels, np.int64) if bias is None else bias.astype(np.int64)
        folded = bias - int(source.zero_point[0]) * weight_sums.astype(np.int64)
        folded = ((folded + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)  # the int32 accumulator's wrap
        params = commands.channel_params(folded, multiplier, shift)
        lo, hi = activation_range(activation, target)
        fields = {"zero_point": int(target.zero_point[0]), "act_min": lo, "act_max": hi}
        return self.place_weights(params), fields

    def bias(self, op, position, channels):
        if len(op.inputs) <= position or op.inputs[position] < 0:
            return None
        tensor = self.tensor(op.inputs[position], op, "the bias", ("INT32",))
        data = self.constant(op.inputs[position], "the bias")
        if tensor.size != channels:
            raise ModelError(f"the bias has {tensor.size} values for {channels} channels")
        return data.reshape(-1)

    # -- NPU operators --------------------------------------------------------------------------

    def conv(self, src, dst, in_shape, out_shape, hwio, options, input_zero_point, stage):
        """One CONV2D of NHWC ``in_shape`` at ``src`` into ``out_shape`` at ``dst``."""
        b, h, w, c = in_shape
        _, oh, ow, _ = out_shape
        kh, kw, _, oc = hwio.shape
        sh, sw = options["StrideH"], options["StrideW"]
        valid = options["Padding"] == 1
        expect = [
            (size - k) // s + 1 if valid else -(-size // s)
            for size, k, s in ((h, kh, sh), (w, kw, sw))
        ]
        if [oh, ow] != expect:
            raise ModelError(f"output {oh}x{ow} does not follow from the window {expect}")
        pads = (0, 0) if valid else (_same_padding(h, oh, sh, kh), _same_padding(w, ow, sw, kw))
        params_va, fields = stage
        return commands.conv2d(
            src,
            self.place_weights(np.ascontiguousarray(hwio).tobytes()),
            dst,
            params_va,
            shape=(b, h, w, c),
            out_c=oc,
            kernel=(kh, kw),
            stride=(sh, sw),
            padding=pads,
            out_hw=(oh, ow),
            input_zero_point=input_zero_point,
            **fields,
        )

    def _operands(self, op, what):
        source = self.quantized(self.tensor(op.inputs[0], op, "the input"), "the input")
        weights = self.tensor(op.inputs[1], op, what)
        self.quantized(weights, what, per_channel=True)
        target = self.quantized(self.tensor(op.outputs[0], op, "the output"), "the output")
        return source, weights, self.constant(op.inputs[1], what), target

    def conv_2d(self, op):
        source, weights, w, target = self._operands(op, "the filter")  # w: (out_c, kh, kw, in_c)
        o = op.options
        c, oc = source.shape[3], target.shape[3]
        if w.shape[3] != c or w.shape[0] != oc:
            raise ModelError(f"filter {w.shape} does not match input {source.shape}")
        hwio = _dilate(w.transpose(1, 2, 3, 0), o["DilationHFactor"], o["DilationWFactor"])
        stage = self.stage(
            source,
            weights,
            self.bias(op, 2, oc),
            target,
            hwio.astype(np.int64).sum(axis=(0, 1, 2)),
            o.get("FusedActivationFunction", 0),
        )
        command = self.conv(
            self.va(op.inputs[0]),
            self.va(op.outputs[0]),
            source.shape,
            target.shape,
            hwio,
            o,
            int(source.zero_point[0]),
            stage,
        )
        return [command], target.size * w[0].size

    def grouped(self, op, source, target, weight_of, stage_of, mult, options, taps, note):
        """A per-channel operator as CONV2Ds over channel groups of the array's size.

        ``weight_of(channels)`` gives a group's HWIO weights, ``stage_of(channels, hwio)`` its
        output stage; each input channel has ``mult`` outputs.
        """
        b, h, w, c = source.shape
        _, oh, ow, oc = target.shape
        group = min(self.array_size, c)
        groups = range(0, c, group)
        many = len(groups) > 1
        # With several groups, each group's channels are gathered into a packed tensor and its
        # outputs scattered back: the CONV2D reads and writes whole pixels.
        gather = self.scratch(b * h * w * group) if many else None
        result = self.scratch(b * oh * ow * group * mult) if many else None
        src_va, dst_va = self.va(op.inputs[0]), self.va(op.outputs[0])
        out = []
        for start in groups:
            size = min(group, c - start)
            channels = np.arange(start, start + size)
            if many:
                pixels = np.arange(b * h * w)[:, None]
                out += _copy_commands(
                    src_va,
                    gather,
                    (pixels * c + channels).ravel(),
                    (pixels * size + np.arange(size)).ravel(),
                )
            hwio = weight_of(channels)
            out.append(
                self.conv(
                    gather if many else src_va,
                    result if many else dst_va,
                    (b, h, w, size),
                    (b, oh, ow, size * mult),
                    hwio,
                    options,
                    int(source.zero_point[0]),
                    stage_of(channels, hwio),
                )
            )
            if many:
                pixels = np.arange(b * oh * ow)[:, None]
                outputs = np.arange(start * mult, (start + size) * mult)
                out += _copy_commands(
                    result,
                    dst_va,
                    (pixels * size * mult + np.arange(size * mult)).ravel(),
                    (pixels * oc + outputs).ravel(),
                )
        note = f"{len(groups)} group{'s' * many} of {group} channels, {note}"
        return out, target.size * taps, note

    def depthwise_conv_2d(self, op):
        source, weights, w, target = self._operands(op, "the filter")  # w: (1, kh, kw, out_c)
        o = op.options
        c, oc = source.shape[3], target.shape[3]
        if w.shape[0] != 1 or w.shape[3] != oc or oc % c:
            raise ModelError(f"filter {w.shape} does not match input {source.shape}")
        mult = oc // c
        bias = self.bias(op, 2, oc)
        dw = _dilate(w[0], o["DilationHFactor"], o["DilationWFactor"])  # (kh, kw, out_c)
        scales = np.broadcast_to(weights.scale, oc)

        def weight_of(channels):
            size = len(channels)
            hwio = np.zeros((*dw.shape[:2], size, size * mult), np.int8)
            for i, channel in enumerate(channels):
                for m in range(mult):
                    hwio[:, :, i, i * mult + m] = dw[:, :, channel * mult + m]
            return hwio

        def stage_of(channels, hwio):
            outputs = np.arange(channels[0] * mult, (channels[-1] + 1) * mult)
            return self.stage(
                source,
                (scales[outputs], np.zeros(len(outputs))),
                None if bias is None else bias[outputs],
                target,
                hwio.astype(np.int64).sum(axis=(0, 1, 2)),
                o.get("FusedActivationFunction", 0),
            )

        taps = w.shape[1] * w.shape[2]
        return self.grouped(
            op, source, target, weight_of, stage_of, mult, o, taps, "block-diagonal weights"
        )

    def average_pool_2d(self, op):
        source = self.quantized(self.tensor(op.inputs[0], op, "the input"), "the input")
        target = self.quantized(self.tensor(op.outputs[0], op, "the output"), "the output")
        if (source.scale[0], source.zero_point[0]) != (target.scale[0], target.zero_point[0]):
            raise ModelError("the output's quantization differs from the input's")
        sh, sw, fh, fw, _, _, oh, ow = pool_geometry(op, source.shape)
        covered = [(oh - 1) * sh + fh - source.shape[1], (ow - 1) * sw + fw - source.shape[2]]
        constants = average_pool_constants(fh * fw)
        if max(covered) > 0 or constants is None:
            return None  # windows over padding have varying counts: the CPU kernel
        multiplier, shift = constants
        lo, hi = activation_range(op.options.get("FusedActivationFunction", 0), target)

        def weight_of(channels):
            size = len(channels)
            hwio = np.zeros((fh, fw, size, size), np.int8)
            hwio[:, :, np.arange(size), np.arange(size)] = 1
            return hwio

        def stage_of(channels, hwio):
            # No bias, no zero point: the average of the raw values is the raw output.
            size = len(channels)
            params = commands.channel_params([0] * size, [multiplier] * size, [shift] * size)
            return self.place_weights(params), {"zero_point": 0, "act_min": lo, "act_max": hi}

        options = {"StrideH": sh, "StrideW": sw, "Padding": op.options["Padding"]}
        note = f"ones, output stage {multiplier} >> {shift}"
        return self.grouped(op, source, target, weight_of, stage_of, 1, options, fh * fw, note)

    def fully_connected(self, op):
        source, weights, w, target = self._operands(op, "the weights")  # w: (n, k)
        if op.options.get("WeightsFormat", 0) != 0:
            raise ModelError("shuffled weights are not supported")
        n, k = w.shape
        if source.size % k:
            raise ModelError(f"input of {source.size} values is not rows of {k}")
        m = source.size // k
        b_matrix = np.ascontiguousarray(w.T)
        weights_va = self.place_weights(b_matrix.tobytes())
        params_va, fields = self.stage(
            source,
            weights,
            self.bias(op, 2, n),
            target,
            b_matrix.astype(np.int64).sum(axis=0),
            op.options.get("FusedActivationFunction", 0),
        )
        command = commands.gemm(
            self.va(op.inputs[0]), weights_va, self.va(op.outputs[0]), params_va, m, k, n, **fields
        )
        return [command], m * k * n

    # -- data movement --------------------------------------------------------------------------

    def _same_quantization(self, op, indices):
        tensors = [self.graph.tensors[i] for i in indices]
        first = tensors[0]
        for t in tensors[1:]:
            if t.type != first.type or (
                len(t.scale)
                and (
                    not np.array_equal(t.scale, first.scale)
                    or not np.array_equal(t.zero_point, first.zero_point)
                )
            ):
                raise ModelError("inputs and outputs differ in type or quantization")
        if first.dtype is None or first.type == "FLOAT32":
            raise ModelError(f"{first.type} tensors are not supported")
        return np.dtype(first.dtype).itemsize

    def move(self, src_index, dst_index, src_elems, dst_elems, itemsize):
        return _copy_commands(
            self.va(src_index),
            self.va(dst_index),
            _bytes_of(src_elems, itemsize),
            _bytes_of(dst_elems, itemsize),
        )

    def concatenation(self, op):
        if op.options.get("FusedActivationFunction", 0):
            raise ModelError("a fused activation on a concatenation is not supported")
        itemsize = self._same_quantization(op, [*op.inputs, op.outputs[0]])
        target = self.graph.tensors[op.outputs[0]]
        axis = op.options["Axis"] % len(target.shape)
        out = np.arange(target.size).reshape(target.shape)
        cmds, start = [], 0
        for index in op.inputs:
            shape = self.graph.tensors[index].shape
            part = out[(slice(None),) * axis + (slice(start, start + shape[axis]),)]
            cmds += self.move(index, op.outputs[0], np.arange(part.size), part, itemsize)
            start += shape[axis]
        return cmds

    def strided_slice(self, op):
        itemsize = self._same_quantization(op, [op.inputs[0], op.outputs[0]])
        source, target = self.graph.tensors[op.inputs[0]], self.graph.tensors[op.outputs[0]]
        begin, end, strides = (
            self.constant(i, "the slice bounds").reshape(-1) for i in op.inputs[1:4]
        )
        o = op.options
        if o.get("EllipsisMask") or o.get("NewAxisMask") or o.get("Offset"):
            raise ModelError("ellipsis and new-axis masks and offset bounds are not supported")
        if not len(begin) == len(end) == len(strides) == len(source.shape):
            raise ModelError(f"the bounds do not have one value per axis of {source.shape}")
        if not np.all(strides):
            raise ModelError("a stride is 0")
        slices, shrunk = [], []
        for axis in range(len(source.shape)):
            bit = 1 << axis
            start, stop, step = int(begin[axis]), int(end[axis]), int(strides[axis])
            if o.get("ShrinkAxisMask", 0) & bit:
                start = 0 if o.get("BeginMask", 0) & bit else start
                start = start + source.shape[axis] if start < 0 else start
                if not 0 <= start < source.shape[axis]:
                    raise ModelError(f"shrunk axis {axis} index {start} is out of range")
                slices.append(slice(start, start + 1, 1))
                shrunk.append(axis)
                continue
            slices.append(
                slice(
                    None if o.get("BeginMask", 0) & bit else start,
                    None if o.get("EndMask", 0) & bit else stop,
                    step,
                )
            )
        picked = np.arange(source.size).reshape(source.shape)[tuple(slices)]
        shape = tuple(n for axis, n in enumerate(picked.shape) if axis not in shrunk)
        if shape != tuple(target.shape) and not (shape == () and target.size == 1):
            raise ModelError(f"the slice is {list(shape)}, the output {list(target.shape)}")
        return self.move(op.inputs[0], op.outputs[0], picked, np.arange(picked.size), itemsize)

    def _split(self, op, source_index, sizes, axis):
        itemsize = self._same_quantization(op, [source_index, *op.outputs])
        source = self.graph.tensors[source_index]
        axis %= len(source.shape)
        every = np.arange(source.size).reshape(source.shape)
        cmds, start = [], 0
        for index, size in zip(op.outputs, sizes, strict=True):
            part = every[(slice(None),) * axis + (slice(start, start + size),)]
            cmds += self.move(source_index, index, part, np.arange(part.size), itemsize)
            start += size
        return cmds

    def split(self, op):
        axis = int(self.constant(op.inputs[0], "the axis").reshape(-1)[0])
        source = self.graph.tensors[op.inputs[1]]
        count = len(op.outputs)
        if source.shape[axis] % count:
            raise ModelError(f"{source.shape[axis]} does not split in {count}")
        return self._split(op, op.inputs[1], [source.shape[axis] // count] * count, axis)

    def split_v(self, op):
        sizes = [int(s) for s in self.constant(op.inputs[1], "the split sizes").reshape(-1)]
        axis = int(self.constant(op.inputs[2], "the axis").reshape(-1)[0])
        source = self.graph.tensors[op.inputs[0]]
        if -1 in sizes:
            sizes[sizes.index(-1)] = source.shape[axis] - (sum(sizes) + 1)
        return self._split(op, op.inputs[0], sizes, axis)

    def pad(self, op):
        itemsize = self._same_quantization(op, [op.inputs[0], op.outputs[0]])
        source, target = self.graph.tensors[op.inputs[0]], self.graph.tensors[op.outputs[0]]
        paddings = self.constant(op.inputs[1], "the paddings").reshape(-1, 2)
        if itemsize != 1:
            raise ModelError(f"padding {source.type} tensors is not supported")
        value = int(target.zero_point[0]) if len(target.zero_point) else 0
        if op.opcode == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0:
            value = int(self.constant(op.inputs[2], "the pad value").reshape(-1)[0])
        pattern = int.from_bytes(bytes([value & 0xFF]) * 4, "little")
        fills = []
        for start in range(0, target.nbytes, MAX_ROW_BYTES):
            size = min(MAX_ROW_BYTES, target.nbytes - start)
            fills.append(commands.fill(self.va(op.outputs[0]) + start, size, pattern))
        inner = tuple(
            slice(int(lo), int(lo) + n) for (lo, _), n in zip(paddings, source.shape, strict=True)
        )
        placed = np.arange(target.size).reshape(target.shape)[inner]
        return fills + self.move(
            op.inputs[0], op.outputs[0], np.arange(source.size), placed, itemsize
        )

    def transpose(self, op):
        itemsize = self._same_quantization(op, [op.inputs[0], op.outputs[0]])
        source = self.graph.tensors[op.inputs[0]]
        perm = [int(p) for p in self.constant(op.inputs[1], "the permutation").reshape(-1)]
        if sorted(perm) != list(range(len(source.shape))):
            raise ModelError(f"{perm} is not a permutation of {len(source.shape)} axes")
        picked = np.arange(source.size).reshape(source.shape).transpose(perm)
        return self.move(op.inputs[0], op.outputs[0], picked, np.arange(picked.size), itemsize)

    def pack(self, op):
        itemsize = self._same_quantization(op, [*op.inputs, op.outputs[0]])
        target = self.graph.tensors[op.outputs[0]]
        axis = op.options["Axis"] % len(target.shape)
        every = np.arange(target.size).reshape(target.shape)
        cmds = []
        for i, index in enumerate(op.inputs):
            part = every[(slice(None),) * axis + (i,)]
            cmds += self.move(index, op.outputs[0], np.arange(part.size), part, itemsize)
        return cmds

    def unpack(self, op):
        itemsize = self._same_quantization(op, [op.inputs[0], *op.outputs])
        source = self.graph.tensors[op.inputs[0]]
        axis = op.options["Axis"] % len(source.shape)
        every = np.arange(source.size).reshape(source.shape)
        cmds = []
        for i, index in enumerate(op.outputs):
            part = every[(slice(None),) * axis + (i,)]
            cmds += self.move(op.inputs[0], index, part, np.arange(part.size), itemsize)
        return cmds

    def read_variable(self, op):
        name = self.resources.get(op.inputs[0])
        target = self.graph.tensors[op.outputs[0]]
        va, size, _ = self.variable(name, target)
        return _copy_commands(va, self.va(op.outputs[0]), np.arange(size), np.arange(size))

    def assign_variable(self, op):
        name = self.resources.get(op.inputs[0])
        value = self.graph.tensors[op.inputs[1]]
        va, size, _ = self.variable(name, value)
        return _copy_commands(self.va(op.inputs[1]), va, np.arange(size), np.arange(size))

    def variable(self, name, tensor):
        if name is None:
            raise ModelError("the resource does not come from a VAR_HANDLE")
        if tensor.type not in ("INT8", "UINT8", "INT32"):
            raise ModelError(f"a {tensor.type} variable is not supported")
        if name not in self.variables:
            self.variables[name] = [
                self.acts.take(tensor.nbytes),
                tensor.nbytes,
                bytes(tensor.nbytes),
            ]
        va, size, initial = self.variables[name]
        if size != tensor.nbytes:
            raise ModelError(f"variable {name!r} holds {size} bytes, not {tensor.nbytes}")
        return va, size, initial

    def call_once(self, op):
        """Run the initialisation subgraph now: it may only assign constants to variables."""
        index = op.options["InitSubgraphIndex"]
        if not 0 < index < len(self.model.subgraphs):
            raise ModelError(f"CALL_ONCE names subgraph {index}")
        init = self.model.subgraphs[index]
        handles = {}
        for inner in init.operators:
            if inner.opcode == "VAR_HANDLE":
                handles[inner.outputs[0]] = _variable_name(inner)
            elif inner.opcode == "ASSIGN_VARIABLE":
                value = init.tensors[inner.inputs[1]]
                if value.data is None or inner.inputs[0] not in handles:
                    raise ModelError("the initialisation assigns a value that is not a constant")
                _, _, _ = self.variable(handles[inner.inputs[0]], value)
                self.variables[handles[inner.inputs[0]]][2] = value.data.tobytes()
            else:
                raise ModelError(f"the initialisation subgraph runs {inner.opcode}")

    # -- the whole model ------------------------------------------------------------------------

    def lower(self, op):
        """A LoweredOp for ``op``, or raise ModelError (without the op's name)."""
        name = op.opcode
        if name == "VAR_HANDLE":
            self.resources[op.outputs[0]] = _variable_name(op)
            return LoweredOp(op.index, name, "none", note="a variable in device memory")
        if name == "CALL_ONCE":
            self.call_once(op)
            return LoweredOp(op.index, name, "none", note="variables set at load and reset")
        if name in _ALIASES:
            self._same_quantization(op, [op.inputs[0], op.outputs[0]])
            source, target = self.graph.tensors[op.inputs[0]], self.graph.tensors[op.outputs[0]]
            if source.size != target.size:
                raise ModelError(f"{source.describe()} does not reshape to {target.describe()}")
            if source.data is not None:  # a constant reshaped is a constant
                target.data = source.data.reshape(target.shape)
                return LoweredOp(op.index, name, "none", note="a constant")
            self.tensor_va[op.outputs[0]] = self.va(op.inputs[0])
            return LoweredOp(op.index, name, "none", note="aliases its input")
        compute = {
            "CONV_2D": self.conv_2d,
            "DEPTHWISE_CONV_2D": self.depthwise_conv_2d,
            "FULLY_CONNECTED": self.fully_connected,
            "AVERAGE_POOL_2D": self.average_pool_2d,
        }
        if name in compute:
            lowered = compute[name](op)
            if lowered is not None:
                cmds, macs, *note = lowered
                return LoweredOp(op.index, name, "npu", macs, cmds, note=note[0] if note else "")
        movement = {
            "CONCATENATION": self.concatenation,
            "STRIDED_SLICE": self.strided_slice,
            "SPLIT": self.split,
            "SPLIT_V": self.split_v,
            "PAD": self.pad,
            "PADV2": self.pad,
            "TRANSPOSE": self.transpose,
            "PACK": self.pack,
            "UNPACK": self.unpack,
            "READ_VARIABLE": self.read_variable,
            "ASSIGN_VARIABLE": self.assign_variable,
        }
        if name in movement:
            return LoweredOp(op.index, name, "dma", 0, movement[name](op))
        if name in KERNELS:
            return self.cpu(op)
        raise ModelError("no implementation, on the NPU or the CPU")

    def cpu(self, op):
        kernel, input_types, output_types = KERNELS[op.opcode]
        inputs = [self.graph.tensors[i] for i in op.inputs if i >= 0]
        outputs = [self.graph.tensors[i] for i in op.outputs]
        for tensor in inputs:
            if tensor.type not in input_types:
                raise ModelError(f"a {tensor.type} input is not supported")
        for tensor in outputs:
            if tensor.type not in output_types:
                raise ModelError(f"a {tensor.type} output is not supported")
        # A trial run on zeros checks what the kernel's Prepare would (zero points, ranges).
        kernel(op, self.graph, *(np.zeros(t.shape, t.dtype) for t in inputs))
        for index in (*op.inputs, *op.outputs):
            if index >= 0 and self.graph.tensors[index].data is None:
                self.va(index)
        macs = 0
        if op.opcode.endswith("POOL_2D"):
            _, _, fh, fw, *_ = pool_geometry(op, inputs[0].shape)
            macs = outputs[0].size * fh * fw
        return LoweredOp(op.index, op.opcode, "cpu", macs)


def _variable_name(op):
    o = op.options
    return (o.get("Container") or b"").decode() + "/" + (o.get("SharedName") or b"").decode()


def plan_model(model, array_size, max_stream):
    """Partition and lower ``model`` (a :class:`~.tflite_file.TfliteModel`) for the device.

    Parameters
    ----------
    model : TfliteModel
        What :func:`~.tflite_file.read_tflite` returned.
    array_size : int
        The device's array size (``DEV_QUERY``'s ``array_size``): the channel group of
        depthwise convolutions and pools.
    max_stream : int
        The longest command stream a job may have (``DEV_QUERY``'s ``max_cmd_size``): an
        invocation's NPU work is split into jobs of at most this many bytes.

    Raises
    ------
    ModelError
        ``operator <index> <OPCODE>: <reason>`` for the first operator that cannot run, or a
        model-level reason (types of the model's inputs and outputs).
    """
    lowering = _Lowering(model, array_size)
    record_command = len(commands.counters(0))
    graph = model.main
    for index in (*graph.inputs, *graph.outputs):
        tensor = graph.tensors[index]
        if tensor.dtype is None:
            raise ModelError(f"model input or output {index} is {tensor.type}")
        lowering.va(index)
    ops = []
    for tensor in graph.tensors:
        if tensor.dtype is not None and tensor.nbytes > MAX_TENSOR_BYTES:
            raise ModelError(
                f"tensor {tensor.index} {tensor.describe()} holds {tensor.nbytes:,} bytes, "
                f"above the runtime's {MAX_TENSOR_BYTES:,}"
            )
    for op in graph.operators:
        try:
            ops.append(lowering.lower(op))
        except ModelError as error:
            raise ModelError(f"operator {op.index} {op.opcode}: {error}") from None
        except (KeyError, IndexError, ValueError, TypeError, OverflowError, ZeroDivisionError) as e:
            # An operator with too few inputs, a missing option, a value no field holds: the
            # file is malformed for this operator, or asks for what the NPU cannot encode.
            raise ModelError(
                f"operator {op.index} {op.opcode}: malformed or not supported "
                f"({type(e).__name__}: {e})"
            ) from None
    stream, segments, job = bytearray(), [], None
    record = nbytes(JobCounters)
    for lowered in ops:
        if lowered.unit == "cpu":
            job = None
            segments.append(Segment("cpu", [lowered]))
            continue
        pieces, piece = [], []
        for command in lowered.commands:
            # Each piece ends with a COUNTERS command and fits a job by itself.
            if piece and sum(map(len, piece)) + len(command) + record_command > max_stream:
                pieces.append(piece)
                piece = []
            piece.append(command)
        if piece:
            pieces.append(piece)
        for piece in pieces:
            va = lowering.acts.take(record)
            lowered.counters_va.append(va)
            encoded = commands.stream(*piece, commands.counters(va))
            if job is None or job.length + len(encoded) > max_stream:
                job = Segment("npu", [], offset=len(stream))
                segments.append(job)
            job.ops.append((lowered, va))
            stream += encoded
            job.length += len(encoded)
    variables = {name: (va, initial) for name, (va, _, initial) in lowering.variables.items()}
    return Plan(
        model=model,
        array_size=array_size,
        stream=bytes(stream),
        weights=bytes(lowering.blob),
        sizes={
            "stream": _pages(max(len(stream), 1)),
            "weights": _pages(max(lowering.weights.size, 1)),
            "activations": _pages(lowering.acts.size),
        },
        tensor_va=dict(lowering.tensor_va),
        variables=variables,
        ops=ops,
        segments=segments,
    )
