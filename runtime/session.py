"""Run a compiled program on the device, through the uAPI: buffers, mappings, submit, wait.

A :class:`Session` owns one context and the program's three buffers. :meth:`Session.run`
writes a batch through a CPU mapping, submits the stream, waits for its fence and reads the
output and the per-op counter records back.
"""

import os
from dataclasses import dataclass

import numpy as np
from tinynpu.driver.uapi import UapiError, VmBindFlags
from tinynpu.rtl.layouts import JobCounters, nbytes, unpack

from .compiler import ACTS_VA, STREAM_VA, WEIGHTS_VA

__all__ = ["BatchResult", "Session"]

#: How long a job may take on the device (simulated time) before the driver resets it: this
#: much, plus ``SAMPLE_TIMEOUT_NS`` per sample of the batch, up to the driver's maximum.
JOB_TIMEOUT_NS = 50_000_000
SAMPLE_TIMEOUT_NS = 1_000_000


@dataclass
class BatchResult:
    """What one batch's job returned.

    Attributes
    ----------
    output : numpy.ndarray of int8
        ``(batch, *output_shape)``.
    counters : list of dict
        The job's counters after each op (cumulative, as the COUNTERS command stores them).
    submitted_ns, done_ns : float
        Simulated times of the SUBMIT call and of the fence's return.
    """

    output: np.ndarray
    counters: list
    submitted_ns: float
    done_ns: float


class Session:
    """A program loaded in its own context of an open device.

    Parameters
    ----------
    client : runtime.libtinynpu.Client
        The open device.
    program : Program
        What :func:`~tinynpu.runtime.compiler.compile_model` produced.
    clock : callable
        Simulated time in ns (the platform's ``now_ns``), for latencies.
    """

    def __init__(self, client, program, clock):
        self.client, self.program, self.clock = client, program, clock
        self.context = None
        self.handles = {}
        self.maps = {}
        self.timeout_ns = JOB_TIMEOUT_NS

    async def open(self):
        """Create the context and the buffers, map them, load the stream and the weights.

        On any error, what was created so far is released before the error propagates.
        """
        client, program = self.client, self.program
        self.context = await client.context_create()
        ro = VmBindFlags.READ_ONLY
        layout = {
            "stream": (STREAM_VA, ro),
            "weights": (WEIGHTS_VA, ro | VmBindFlags.NO_EXEC),
            "activations": (ACTS_VA, VmBindFlags.NO_EXEC),
        }
        try:
            for name, (va, flags) in layout.items():
                size = program.sizes[name]
                handle = self.handles[name] = await client.bo_create(size)
                await client.vm_map(self.context, handle, va, size, flags=flags)
                self.maps[name] = await client.mmap(handle, size)
            await self.maps["stream"].write(0, program.stream)
            await self.maps["weights"].write(0, program.weights)
            max_timeout = (await client.query())["max_timeout_ns"]
        except BaseException:
            await self.close()
            raise
        self.timeout_ns = min(max_timeout, JOB_TIMEOUT_NS + program.batch * SAMPLE_TIMEOUT_NS)
        return self

    async def close(self):
        """Unmap the CPU mappings, close the buffers and destroy the context."""
        for mapping in self.maps.values():
            mapping.close()
        self.maps = {}
        handles, self.handles = self.handles, {}
        try:
            for handle in handles.values():
                await self.client.bo_close(handle)
        finally:
            if self.context is not None:
                context, self.context = self.context, None
                await self.client.context_destroy(context)

    async def __aenter__(self):
        return await self.open()

    async def __aexit__(self, *exc):
        await self.close()

    async def run(self, batch):
        """Run one batch of int8 inputs (padded with zeros to the program's batch size).

        Raises
        ------
        UapiError
            If the job fails: its errno, with the hardware's error code and offset.
        """
        program, acts = self.program, self.maps["activations"]
        batch = np.asarray(batch)
        count, sample = len(batch), program.input_shape
        if batch.dtype != np.int8:
            raise TypeError(f"Inputs must be int8 (quantize them first), not {batch.dtype}")
        if not 0 < count <= program.batch or batch[0].size != int(np.prod(sample)):
            raise ValueError(
                f"Batch of shape {batch.shape}; the program takes 1 to {program.batch} samples "
                f"of {sample}"
            )
        data = batch.tobytes().ljust(program.input_bytes, b"\0")
        await acts.write(program.input_va - ACTS_VA, data)
        submitted, done = await self.execute(0, len(program.stream))
        raw = await acts.read(program.output_va - ACTS_VA, program.output_bytes)
        shape = (program.batch, *program.ops[-1].out_shape)
        output = np.frombuffer(raw, dtype=np.int8).reshape(shape)[:count]
        counters = [await self.counters(va) for va in program.counters_va]
        return BatchResult(output.copy(), counters, submitted, done)

    async def execute(self, offset, length):
        """Run ``length`` bytes of the stream from ``offset`` as one job; wait for its fence.

        Returns
        -------
        submitted_ns, done_ns : float
            Simulated times of the SUBMIT call and of the fence's return.

        Raises
        ------
        UapiError
            If the job fails: its errno, with the hardware's error code and offset.
        """
        submitted = self.clock()
        seqno = await self.client.submit(
            self.context,
            STREAM_VA + offset,
            length,
            handles=list(self.handles.values()),
            timeout_ns=self.timeout_ns,
        )
        # The watchdog ends a hung job at its timeout, so the fence signals before this.
        deadline = int(submitted) + 2 * self.timeout_ns
        result = await self.client.wait(self.context, seqno, deadline)
        done = self.clock()
        if result["job_errno"]:
            code = result["job_errno"]
            raise UapiError(
                code,
                f"{os.strerror(code)}: job {seqno} hw_error {result['hw_error']} at offset "
                f"{result['hw_offset']:#x}, fault_va {result['fault_va']:#x}",
            )
        return submitted, done

    async def counters(self, va):
        """The ``JobCounters`` record a COUNTERS command stored at ``va``, as a dict."""
        raw = await self.maps["activations"].read(va - ACTS_VA, nbytes(JobCounters))
        record = unpack(JobCounters, raw)
        names = [name for name, _ in record.shape() if not name.startswith("_")]
        return {name: int(record[name]) for name in names}
