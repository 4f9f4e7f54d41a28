"""Read a ``.tflite`` FlatBuffer into plain Python: subgraphs, tensors, operators, options.

The FlatBuffer accessors come from the ``tflite`` package (the schema compiled to Python). This
module reads everything once, checks every index and size against the file, and hands the rest
of the runtime arrays and dictionaries, so a corrupt or truncated file fails here, with
:class:`ModelError`, and never halfway through lowering or a run.
"""

import importlib
import inspect
import struct
from dataclasses import dataclass, field

import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType

__all__ = ["ModelError", "Operator", "Subgraph", "Tensor", "TfliteModel", "read_tflite"]

#: The FlatBuffer file identifier of the TFLite schema (bytes 4-8 of the file).
IDENTIFIER = b"TFL3"

_OPCODE_NAMES = {v: k for k, v in vars(BuiltinOperator).items() if not k.startswith("_")}
_OPTION_NAMES = {v: k for k, v in vars(BuiltinOptions).items() if not k.startswith("_")}
_TYPE_NAMES = {v: k for k, v in vars(TensorType).items() if not k.startswith("_")}
#: numpy types of the tensor types the runtime can hold (others are refused when used).
DTYPES = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FLOAT32": np.float32,
    "BOOL": np.bool_,
}


class ModelError(ValueError):
    """A model the runtime cannot read or run: what is wrong, and where."""


@dataclass
class Tensor:
    """One tensor of a subgraph.

    Attributes
    ----------
    index : int
        Its index in the subgraph.
    name : str
    type : str
        The schema's type name (``INT8``, ``INT32``, ``FLOAT32``, ``RESOURCE``, ...).
    shape : tuple of int
    scale : numpy.ndarray of float32
        Quantization scales: empty (not quantized), one (per tensor) or one per channel.
    zero_point : numpy.ndarray of int64
        As ``scale``.
    quantized_dimension : int
        The channel axis of per-channel parameters.
    data : numpy.ndarray or None
        A constant's value, in ``shape``; ``None`` for activations.
    """

    index: int
    name: str
    type: str
    shape: tuple
    scale: np.ndarray = field(repr=False)
    zero_point: np.ndarray = field(repr=False)
    quantized_dimension: int = 0
    data: np.ndarray = field(default=None, repr=False)

    @property
    def dtype(self):
        """The numpy type, or ``None`` for a type the runtime does not hold."""
        return DTYPES.get(self.type)

    @property
    def size(self):
        """Elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self):
        """Bytes of its data."""
        return self.size * np.dtype(self.dtype).itemsize

    def describe(self):
        """``INT8[1x3x40]``."""
        return f"{self.type}[{'x'.join(map(str, self.shape))}]"


@dataclass
class Operator:
    """One operator of a subgraph.

    Attributes
    ----------
    index : int
        Its position in the subgraph's execution order.
    opcode : str
        The builtin operator's name (``CONV_2D``), or ``CUSTOM:<name>``.
    inputs, outputs : tuple of int
        Tensor indices; -1 for an omitted optional input.
    options : dict
        The builtin options' fields by their schema names (``StrideW``, ``Padding``...).
    """

    index: int
    opcode: str
    inputs: tuple
    outputs: tuple
    options: dict = field(default_factory=dict)


@dataclass
class Subgraph:
    """A graph: tensors, operators in execution order, its inputs and outputs."""

    name: str
    tensors: list
    operators: list
    inputs: tuple
    outputs: tuple


@dataclass
class TfliteModel:
    """A whole model: its subgraphs (the first is the one that runs) and its description."""

    subgraphs: list
    description: str
    version: int

    @property
    def main(self):
        """The subgraph ``invoke`` runs."""
        return self.subgraphs[0]


def _opcode(model, index):
    code = model.OperatorCodes(index)
    # Codes above 127 are in BuiltinCode; below, DeprecatedBuiltinCode is the one written.
    number = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if number == BuiltinOperator.CUSTOM:
        return f"CUSTOM:{(code.CustomCode() or b'').decode(errors='replace')}"
    return _OPCODE_NAMES.get(number, f"BUILTIN_{number}")


def _scalar_getters(cls):
    """Names of the options class's field getters that take no argument."""
    names = []
    for name, member in vars(cls).items():
        if name.startswith("_") or name == "Init" or name.startswith("GetRootAs"):
            continue
        if name.endswith(("AsNumpy", "Length", "IsNone", "BufferHasIdentifier")):
            continue
        if callable(member) and len(inspect.signature(member).parameters) == 1:
            names.append(name)
    return names


def _options(op):
    kind = op.BuiltinOptionsType()
    if kind == 0:
        return {}
    name = _OPTION_NAMES.get(kind)
    if name is None:
        raise ModelError(f"unknown builtin options type {kind}")
    cls = getattr(importlib.import_module(f"tflite.{name}"), name)
    table = op.BuiltinOptions()
    options = cls()
    options.Init(table.Bytes, table.Pos)
    fields = {}
    for getter in _scalar_getters(cls):
        fields[getter] = getattr(options, getter)()
    for getter in vars(cls):
        if getter.endswith("AsNumpy"):
            base = getter[: -len("AsNumpy")]
            length = getattr(options, f"{base}Length")()
            fields[base] = getattr(options, getter)() if length else np.zeros(0, np.int32)
    return fields


def _operator_options(op, index):
    try:
        return _options(op)
    except ModelError as error:
        raise ModelError(f"operator {index}: {error}") from None


def _tensor(model, graph, index):
    t = graph.Tensors(index)
    type_name = _TYPE_NAMES.get(t.Type(), f"TYPE_{t.Type()}")
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    if any(d < 0 for d in shape):
        raise ModelError(f"tensor {index} has a dynamic shape {shape}")
    q = t.Quantization()
    scale = np.zeros(0, np.float32)
    zero_point = np.zeros(0, np.int64)
    axis = 0
    if q is not None:
        if q.ScaleLength():
            scale = q.ScaleAsNumpy().astype(np.float32)
        if q.ZeroPointLength():
            zero_point = q.ZeroPointAsNumpy().astype(np.int64)
        axis = q.QuantizedDimension()
    tensor = Tensor(
        index=index,
        name=(t.Name() or b"").decode(errors="replace"),
        type=type_name,
        shape=shape,
        scale=scale,
        zero_point=zero_point,
        quantized_dimension=axis,
    )
    buffer_index = t.Buffer()
    if not 0 <= buffer_index < model.BuffersLength():
        raise ModelError(f"tensor {index} names buffer {buffer_index} of {model.BuffersLength()}")
    buffer = model.Buffers(buffer_index)
    if buffer.Offset() > 1:
        raise ModelError("buffers stored outside the FlatBuffer (models over 2 GB) are not read")
    if buffer.DataLength():
        if tensor.dtype is None:
            raise ModelError(f"tensor {index} is a constant of type {type_name}")
        raw = buffer.DataAsNumpy().tobytes()
        if len(raw) != tensor.nbytes:
            raise ModelError(
                f"tensor {index} {tensor.describe()} has {len(raw)} bytes of data, "
                f"not {tensor.nbytes}"
            )
        tensor.data = np.frombuffer(raw, dtype=tensor.dtype).reshape(shape).copy()
    return tensor


def _subgraph(model, index):
    graph = model.Subgraphs(index)
    tensors = [_tensor(model, graph, i) for i in range(graph.TensorsLength())]
    count = len(tensors)

    def indices(values, what, optional=True):
        values = tuple(int(v) for v in values)
        bad = [v for v in values if not (-1 if optional else 0) <= v < count]
        if bad:
            raise ModelError(f"{what} names tensor {bad[0]} of {count}")
        return values

    operators = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if not 0 <= op.OpcodeIndex() < model.OperatorCodesLength():
            raise ModelError(f"operator {i} has opcode index {op.OpcodeIndex()}")
        operators.append(
            Operator(
                index=i,
                opcode=_opcode(model, op.OpcodeIndex()),
                inputs=indices(op.InputsAsNumpy() if op.InputsLength() else (), f"operator {i}"),
                outputs=indices(op.OutputsAsNumpy() if op.OutputsLength() else (), f"operator {i}"),
                options=_operator_options(op, i),
            )
        )
    return Subgraph(
        name=(graph.Name() or b"").decode(errors="replace"),
        tensors=tensors,
        operators=operators,
        inputs=indices(
            graph.InputsAsNumpy() if graph.InputsLength() else (), "the inputs", optional=False
        ),
        outputs=indices(
            graph.OutputsAsNumpy() if graph.OutputsLength() else (), "the outputs", optional=False
        ),
    )


def read_tflite(data):
    """Read a ``.tflite`` model from its bytes.

    Raises
    ------
    ModelError
        For a file that is not a TFLite FlatBuffer, is truncated or corrupt (an offset, index or
        buffer size that does not fit), or has no subgraph.
    """
    data = bytes(data)
    if len(data) < 8 or data[4:8] != IDENTIFIER:
        raise ModelError(f"not a TFLite model (no {IDENTIFIER.decode()} identifier at byte 4)")
    try:
        model = tflite.Model.GetRootAs(data, 0)
        count = model.SubgraphsLength()
        if count == 0:
            raise ModelError("the model has no subgraph")
        subgraphs = [_subgraph(model, i) for i in range(count)]
        description = (model.Description() or b"").decode(errors="replace")
        return TfliteModel(subgraphs, description, model.Version())
    except ModelError:
        raise
    except (
        IndexError,
        KeyError,
        AttributeError,
        struct.error,
        ValueError,
        TypeError,
        OverflowError,
        MemoryError,
    ) as error:
        # The FlatBuffer accessors follow offsets without bounds checks: a truncated or
        # corrupted file surfaces as one of these wherever an offset leads outside it.
        raise ModelError(f"corrupt or truncated TFLite file: {error}") from None
