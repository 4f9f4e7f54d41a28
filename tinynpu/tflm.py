"""TFLite Micro as the oracle: every tensor of every step, from its reference kernels.

``tflite-micro`` (a development dependency) runs the model with its reference kernels and the
``kPreserveAllTensors`` configuration, which keeps each intermediate tensor readable after an
invocation instead of reusing its memory.
"""

import numpy as np

__all__ = ["compare_steps", "reference_steps"]


def _interpreter(data):
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError as error:  # pragma: no cover - a dev dependency
        raise RuntimeError(
            "comparing needs TFLite Micro: pip install -e '.[dev]' (package tflite-micro)"
        ) from error
    return runtime.Interpreter.from_bytes(
        bytes(data),
        arena_size=max(1 << 20, 16 * len(data)),
        intrepreter_config=runtime.InterpreterConfig.kPreserveAllTensors,
    )


def reference_steps(data, steps, indices):
    """TFLite Micro's tensors ``indices`` (of the main subgraph) after each step.

    Parameters
    ----------
    data : bytes
        The model.
    steps : list of list of numpy.ndarray
        Each step's inputs.
    indices : iterable of int
        The tensors to read.
    """
    interpreter = _interpreter(data)
    out = []
    for inputs in steps:
        for position, value in enumerate(inputs):
            interpreter.set_input(value, position)
        interpreter.invoke()
        out.append(
            {i: np.array(interpreter.GetTensor(i, 0)["tensor_data"]).copy() for i in indices}
        )
    return out


def compare_steps(data, steps, ours):
    """Compare our tensors (a dict per step) with TFLite Micro's.

    Returns
    -------
    mismatches : list of (step, tensor index, differing elements, elements)
    compared : int
        Elements compared in all.
    """
    theirs = reference_steps(data, steps, sorted(ours[0]) if ours else [])
    mismatches, compared = [], 0
    for step, (mine, reference) in enumerate(zip(ours, theirs, strict=True)):
        for index, value in mine.items():
            expected = reference[index].reshape(value.shape)
            compared += value.size
            differ = int(np.count_nonzero(value != expected))
            if differ:
                mismatches.append((step, index, differ, value.size))
    return mismatches, compared
