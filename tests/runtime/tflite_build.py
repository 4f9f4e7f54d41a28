"""Write small ``.tflite`` models with the ``tflite`` package's FlatBuffer builder, for tests.

A :class:`ModelBuilder` collects tensors (activations and constants) and operators of one
subgraph, plus optional extra subgraphs, and :meth:`ModelBuilder.build` serialises them with the
schema's generated builder functions (``tflite.ModelStart`` and its kin).
"""

import importlib

import flatbuffers
import numpy as np
import tflite
from tflite.BuiltinOperator import BuiltinOperator
from tflite.BuiltinOptions import BuiltinOptions
from tflite.TensorType import TensorType

TYPES = {
    "INT8": np.int8,
    "UINT8": np.uint8,
    "INT32": np.int32,
    "FLOAT32": np.float32,
    "INT16": np.int16,
    "INT64": np.int64,
    "RESOURCE": None,
}


def _vector(builder, start, values, kind):
    start(builder, len(values))
    prepend = {
        "int32": builder.PrependInt32,
        "float32": builder.PrependFloat32,
        "int64": builder.PrependInt64,
        "uint8": builder.PrependUint8,
        "uoffset": builder.PrependUOffsetTRelative,
    }[kind]
    for value in reversed(values):
        prepend(value.item() if hasattr(value, "item") else value)
    return builder.EndVector()


class Graph:
    """One subgraph under construction."""

    def __init__(self, model, name):
        self.model, self.name = model, name
        self.tensors, self.ops = [], []
        self.inputs, self.outputs = [], []

    def tensor(
        self, shape, type="INT8", *, scale=None, zero_point=None, data=None, axis=0, name=None
    ):
        """Add a tensor; a constant if ``data`` is given. Returns its index."""
        buffer = 0
        if data is not None:
            array = np.ascontiguousarray(np.asarray(data, dtype=TYPES[type]).reshape(shape))
            buffer = self.model.buffer(array.tobytes())
        if scale is not None:
            scale = np.atleast_1d(np.asarray(scale, np.float32))
            zero_point = np.atleast_1d(
                np.asarray(0 if zero_point is None else zero_point, np.int64)
            )
            if len(zero_point) == 1 and len(scale) > 1:
                zero_point = np.repeat(zero_point, len(scale))
        self.tensors.append(
            (tuple(shape), type, scale, zero_point, axis, buffer, name or f"t{len(self.tensors)}")
        )
        return len(self.tensors) - 1

    def op(self, opcode, inputs, outputs, options=None, **fields):
        """Add an operator; ``options`` names its options table (``Conv2DOptions``)."""
        self.ops.append((opcode, list(inputs), list(outputs), options, fields))


class ModelBuilder:
    """A model of one or more subgraphs; ``main`` is the first."""

    def __init__(self):
        self.buffers = [b""]
        self.subgraphs = []
        self.main = self.subgraph("main")

    def subgraph(self, name):
        graph = Graph(self, name)
        self.subgraphs.append(graph)
        return graph

    def buffer(self, data):
        self.buffers.append(data)
        return len(self.buffers) - 1

    def build(self):
        """The model's bytes."""
        b = flatbuffers.Builder(1024)
        opcodes = []
        for graph in self.subgraphs:
            for opcode, *_ in graph.ops:
                if opcode not in opcodes:
                    opcodes.append(opcode)

        buffer_offsets = []
        for data in self.buffers:
            data_vec = b.CreateNumpyVector(np.frombuffer(data, np.uint8)) if data else None
            tflite.BufferStart(b)
            if data_vec is not None:
                tflite.BufferAddData(b, data_vec)
            buffer_offsets.append(tflite.BufferEnd(b))

        graph_offsets = [self._graph(b, graph, opcodes) for graph in self.subgraphs]

        code_offsets = []
        for opcode in opcodes:
            number = getattr(BuiltinOperator, opcode)
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(number, 127))
            tflite.OperatorCodeAddBuiltinCode(b, number)
            tflite.OperatorCodeAddVersion(b, 1)
            code_offsets.append(tflite.OperatorCodeEnd(b))

        codes = _vector(b, tflite.ModelStartOperatorCodesVector, code_offsets, "uoffset")
        graphs = _vector(b, tflite.ModelStartSubgraphsVector, graph_offsets, "uoffset")
        buffers = _vector(b, tflite.ModelStartBuffersVector, buffer_offsets, "uoffset")
        description = b.CreateString("tinynpu test model")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, codes)
        tflite.ModelAddSubgraphs(b, graphs)
        tflite.ModelAddDescription(b, description)
        tflite.ModelAddBuffers(b, buffers)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())

    def _graph(self, b, graph, opcodes):
        tensor_offsets = []
        for shape, type, scale, zero_point, axis, buffer, name in graph.tensors:
            name_offset = b.CreateString(name)
            shape_offset = _vector(b, tflite.TensorStartShapeVector, list(shape), "int32")
            quant = None
            if scale is not None:
                quant_module = importlib.import_module("tflite.QuantizationParameters")
                scales = _vector(
                    b, quant_module.QuantizationParametersStartScaleVector, list(scale), "float32"
                )
                zps = _vector(
                    b,
                    quant_module.QuantizationParametersStartZeroPointVector,
                    list(zero_point),
                    "int64",
                )
                quant_module.QuantizationParametersStart(b)
                quant_module.QuantizationParametersAddScale(b, scales)
                quant_module.QuantizationParametersAddZeroPoint(b, zps)
                quant_module.QuantizationParametersAddQuantizedDimension(b, axis)
                quant = quant_module.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape_offset)
            tflite.TensorAddType(b, getattr(TensorType, type))
            tflite.TensorAddBuffer(b, buffer)
            tflite.TensorAddName(b, name_offset)
            if quant is not None:
                tflite.TensorAddQuantization(b, quant)
            tensor_offsets.append(tflite.TensorEnd(b))

        op_offsets = []
        for opcode, inputs, outputs, options, fields in graph.ops:
            options_offset = self._options(b, options, fields) if options else None
            ins = _vector(b, tflite.OperatorStartInputsVector, inputs, "int32")
            outs = _vector(b, tflite.OperatorStartOutputsVector, outputs, "int32")
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, opcodes.index(opcode))
            tflite.OperatorAddInputs(b, ins)
            tflite.OperatorAddOutputs(b, outs)
            if options_offset is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(BuiltinOptions, options))
                tflite.OperatorAddBuiltinOptions(b, options_offset)
            op_offsets.append(tflite.OperatorEnd(b))

        graph_module = importlib.import_module("tflite.SubGraph")
        tensors = _vector(b, graph_module.SubGraphStartTensorsVector, tensor_offsets, "uoffset")
        ops = _vector(b, graph_module.SubGraphStartOperatorsVector, op_offsets, "uoffset")
        ins = _vector(b, graph_module.SubGraphStartInputsVector, graph.inputs, "int32")
        outs = _vector(b, graph_module.SubGraphStartOutputsVector, graph.outputs, "int32")
        name = b.CreateString(graph.name)
        graph_module.SubGraphStart(b)
        graph_module.SubGraphAddTensors(b, tensors)
        graph_module.SubGraphAddOperators(b, ops)
        graph_module.SubGraphAddInputs(b, ins)
        graph_module.SubGraphAddOutputs(b, outs)
        graph_module.SubGraphAddName(b, name)
        return graph_module.SubGraphEnd(b)

    @staticmethod
    def _options(b, options, fields):
        module = importlib.import_module(f"tflite.{options}")
        prepared = {}
        for field, value in fields.items():
            if isinstance(value, bytes | str):
                prepared[field] = b.CreateString(value)
            elif isinstance(value, list | tuple | np.ndarray):
                start = getattr(module, f"{options}Start{field}Vector")
                prepared[field] = _vector(b, start, [int(v) for v in value], "int32")
            else:
                prepared[field] = value
        getattr(module, f"{options}Start")(b)
        for field, value in prepared.items():
            getattr(module, f"{options}Add{field}")(b, value)
        return getattr(module, f"{options}End")(b)
