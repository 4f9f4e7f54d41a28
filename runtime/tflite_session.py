"""Run a lowered TFLite model on the device, step by step, through the uAPI.

A :class:`TfliteSession` loads a :class:`~.tflite_lower.Plan` like any program (its context and
three buffers, :class:`~.session.Session`), sets the resource variables to their initial values,
and runs each invocation segment by segment: an NPU segment is one job, submitted and waited
for; a CPU operator reads its inputs from device memory through the CPU mapping, computes them
in numpy (:mod:`.tflite_cpu`) and writes its outputs back. The variables stay in device memory
between invocations, so a streaming model keeps its state.
"""

from dataclasses import dataclass

import numpy as np

from .compiler import ACTS_VA
from .session import Session
from .tflite_cpu import KERNELS

__all__ = ["OpReport", "TfliteSession"]

#: Counters an NPU operator's report carries (differences over its commands).
REPORTED = (
    "cycles",
    "array_busy",
    "array_macs",
    "dma_read_bytes",
    "dma_write_bytes",
    "dma_commands",
    "matrix_ops",
)


@dataclass
class OpReport:
    """What one operator cost in one invocation.

    Attributes
    ----------
    index : int
    opcode, unit : str
    macs : int
        The model's multiply-accumulates.
    counters : dict
        For ``npu`` and ``dma`` operators, the hardware counters over its commands
        (:data:`REPORTED`); empty otherwise.
    """

    index: int
    opcode: str
    unit: str
    macs: int
    counters: dict


class TfliteSession(Session):
    """A lowered TFLite model loaded in its own context of an open device.

    Parameters
    ----------
    client : runtime.libtinynpu.Client
    plan : Plan
        What :func:`~.tflite_lower.plan_model` produced.
    clock : callable
        Simulated time in ns.
    """

    def __init__(self, client, plan, clock):
        super().__init__(client, plan, clock)
        self.plan = plan
        self.report = []

    async def open(self):
        """Load the plan (see :meth:`Session.open`) and set the variables' initial values."""
        await super().open()
        await self.reset()
        return self

    async def reset(self):
        """Set every resource variable to its initial value (CALL_ONCE's assignments)."""
        for va, initial in self.plan.variables.values():
            await self.maps["activations"].write(va - ACTS_VA, initial)

    async def read_tensor(self, index):
        """Tensor ``index`` of the main subgraph, from device memory (or the model's constant)."""
        tensor = self.plan.graph.tensors[index]
        if index not in self.plan.tensor_va:
            return tensor.data
        raw = await self.maps["activations"].read(
            self.plan.tensor_va[index] - ACTS_VA, tensor.nbytes
        )
        return np.frombuffer(raw, tensor.dtype).reshape(tensor.shape).copy()

    async def write_tensor(self, index, value):
        """Write ``value`` to tensor ``index`` in device memory."""
        tensor = self.plan.graph.tensors[index]
        data = np.ascontiguousarray(value, tensor.dtype).reshape(tensor.shape)
        await self.maps["activations"].write(self.plan.tensor_va[index] - ACTS_VA, data.tobytes())

    async def tensors(self):
        """Every tensor of the main subgraph held in device memory, by index."""
        return {index: await self.read_tensor(index) for index in sorted(self.plan.tensor_va)}

    async def invoke(self, inputs):
        """Run one invocation on ``inputs`` (one array per model input); return the outputs.

        Afterwards :attr:`report` holds an :class:`OpReport` per operator.

        Raises
        ------
        ValueError
            For the wrong number of inputs, or an input of the wrong type or size.
        UapiError
            If a job fails.
        """
        graph = self.plan.graph
        if len(inputs) != len(graph.inputs):
            raise ValueError(f"the model takes {len(graph.inputs)} inputs, not {len(inputs)}")
        for index, value in zip(graph.inputs, inputs, strict=True):
            tensor, value = graph.tensors[index], np.asarray(value)
            if value.dtype != tensor.dtype or value.size != tensor.size:
                raise ValueError(
                    f"input {index} takes {tensor.describe()}, not {value.dtype} {value.shape}"
                )
            await self.write_tensor(index, value)
        report = {
            op.index: OpReport(op.index, op.opcode, op.unit, op.macs, {}) for op in self.plan.ops
        }
        for segment in self.plan.segments:
            if segment.unit == "npu":
                await self.execute(segment.offset, segment.length)
                before = dict.fromkeys(REPORTED, 0)
                for op, va in segment.ops:
                    after = await self.counters(va)
                    counters = report[op.index].counters
                    for name in REPORTED:
                        counters[name] = counters.get(name, 0) + after[name] - before[name]
                    before = after
            else:
                await self._cpu(segment.ops[0])
        self.report = [report[op.index] for op in self.plan.ops]
        return [await self.read_tensor(index) for index in graph.outputs]

    async def _cpu(self, lowered):
        graph = self.plan.graph
        op = graph.operators[lowered.index]
        values = [await self.read_tensor(i) for i in op.inputs if i >= 0]
        results = KERNELS[op.opcode][0](op, graph, *values)
        for index, value in zip(op.outputs, results, strict=True):
            await self.write_tensor(index, value)
