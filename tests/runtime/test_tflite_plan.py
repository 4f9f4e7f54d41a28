"""Partitioning and lowering TFLite models: units, refusals, copies, job splits (host only)."""

import numpy as np
import pytest
from tflite_build import ModelBuilder
from tinynpu.rtl.layouts import Conv2dCommand, CopyCommand, Opcode, unpack
from tinynpu.runtime.tflite_file import ModelError, read_tflite
from tinynpu.runtime.tflite_lower import _copy_commands, plan_model

from tinynpu.wakeword import model_path

LIMIT = 8192


def _plan(data, array=8, limit=LIMIT):
    return plan_model(read_tflite(data), array, limit)


def _one_op(opcode, options=None, *, in_type="INT8", out_type="INT8", **fields):
    m = ModelBuilder()
    g = m.main
    quant = {"scale": 0.1, "zero_point": 0}
    x = g.tensor((1, 4, 4, 2), in_type, **({} if in_type == "FLOAT32" else quant))
    y = g.tensor((1, 4, 4, 2), out_type, **({} if out_type == "FLOAT32" else quant))
    g.op(opcode, [x], [y], options, **fields)
    g.inputs, g.outputs = [x], [y]
    return m.build()


def _conv(*, in_type="INT8", weights_const=True, out_scale=0.5, bias=True):
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 5, 5, 3), in_type, scale=0.05, zero_point=-3)
    w = np.ones((4, 3, 3, 3))
    wt = g.tensor(w.shape, scale=0.01, zero_point=0, data=w if weights_const else None)
    inputs = [x, wt]
    if bias:
        inputs.append(g.tensor((4,), "INT32", scale=0.0005, zero_point=0, data=[1, 2, 3, 4]))
    y = g.tensor((1, 5, 5, 4), scale=out_scale, zero_point=7)
    g.op(
        "CONV_2D",
        inputs,
        [y],
        "Conv2DOptions",
        Padding=0,
        StrideW=1,
        StrideH=1,
        DilationWFactor=1,
        DilationHFactor=1,
        FusedActivationFunction=0,
    )
    g.inputs, g.outputs = [x], [y]
    return m.build()


def test_a_streaming_model_partitions_into_one_job_and_two_cpu_ops():
    plan = _plan(model_path("okay_nabu").read_bytes())
    units = [op.unit for op in plan.ops]
    assert {u: units.count(u) for u in set(units)} == {"npu": 15, "dma": 36, "cpu": 2, "none": 8}
    assert [(s.unit, len(s.ops)) for s in plan.segments][-2:] == [("cpu", 1), ("cpu", 1)]
    assert sum(s.unit == "npu" for s in plan.segments) == 2  # the stream exceeds one job
    assert all(s.length <= LIMIT for s in plan.segments)
    assert [op.opcode for op in plan.ops if op.unit == "cpu"] == ["LOGISTIC", "QUANTIZE"]
    # Six resource variables, their initial values from the CALL_ONCE subgraph (all -128).
    assert len(plan.variables) == 6
    assert all(set(initial) == {0x80} for _, initial in plan.variables.values())


def test_depthwise_runs_in_groups_of_the_array_not_at_channels_times_the_macs():
    plan = _plan(model_path("okay_nabu").read_bytes(), array=8)
    op = plan.ops[56]  # 64 channels, 17 taps, one output pixel
    assert (op.opcode, op.macs) == ("DEPTHWISE_CONV_2D", 17 * 64)
    assert op.note.startswith("8 groups of 8 channels")
    convs = [unpack(Conv2dCommand, c) for c in op.commands if c[0] == Opcode.CONV2D.value]
    assert [(c.in_c, c.out_c, c.kernel_h) for c in convs] == [(8, 8, 17)] * 8
    # Each group: gather, convolution, scatter.
    assert len(op.commands) == 8 * 3
    small = _plan(model_path("okay_nabu").read_bytes(), array=64)
    assert small.ops[56].note.startswith("1 group of 64") and len(small.ops[56].commands) == 1


def test_the_stream_splits_into_jobs_at_the_device_limit():
    data = model_path("alexa").read_bytes()
    whole, split = _plan(data, limit=1 << 20), _plan(data, limit=1024)
    jobs = [s for s in split.segments if s.unit == "npu"]
    assert len(jobs) > 5 and all(s.length <= 1024 for s in jobs)
    assert sum(s.length for s in jobs) > len(whole.stream) - 1  # more COUNTERS records
    # An operator whose commands exceed a job is cut into parts, each with its record.
    parts = {op.index: len(op.counters_va) for op in split.ops if op.unit != "cpu"}
    assert max(parts.values()) > 1
    for job in jobs:
        assert split.stream[job.offset + job.length - 16] == Opcode.COUNTERS.value


def test_copies_become_rows_with_pitches():
    # A channel gather: 6 pixels of 3 channels out of 8.
    src = (np.arange(6)[:, None] * 8 + np.arange(2, 5)).ravel()
    dst = np.arange(18)
    (command,) = _copy_commands(0x1000, 0x2000, src, dst)
    copy = unpack(CopyCommand, command)
    assert (copy.src, copy.dst, copy.row_bytes, copy.rows) == (0x1002, 0x2000, 3, 6)
    assert (copy.src_pitch, copy.dst_pitch) == (8, 3)
    # Contiguous on both sides: one row.
    (command,) = _copy_commands(0, 64, np.arange(40), np.arange(40))
    assert (unpack(CopyCommand, command).row_bytes, unpack(CopyCommand, command).rows) == (40, 1)
    # A reversal moves byte by byte.
    assert len(_copy_commands(0, 64, np.arange(5)[::-1], np.arange(5))) == 5


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_one_op("TANH"), r"operator 0 TANH: no implementation, on the NPU or the CPU"),
        (
            _one_op("LOGISTIC", in_type="INT16", out_type="INT16"),
            r"operator 0 LOGISTIC: a INT16 input is not supported",
        ),
        (
            _one_op("LOGISTIC", in_type="FLOAT32", out_type="FLOAT32"),
            r"operator 0 LOGISTIC: a FLOAT32 input is not supported",
        ),
        (
            _one_op("LOGISTIC"),
            r"operator 0 LOGISTIC: LOGISTIC needs an int8 output with zero "
            r"point -128",
        ),
        (_conv(in_type="INT16"), r"operator 0 CONV_2D: the input is INT16; INT8 is supported"),
        (_conv(weights_const=False), r"operator 0 CONV_2D: the filter is not a constant"),
        (_conv(out_scale=1e-5), r"operator 0 CONV_2D: an output scale ratio of 50 is not below 1"),
    ],
    ids=[
        "unsupported-op",
        "int16",
        "float",
        "bad-zero-point",
        "int16-conv",
        "dynamic-weights",
        "left-shift",
    ],
)
def test_what_cannot_run_is_refused_at_load_naming_the_operator(data, message):
    with pytest.raises(ModelError, match=message):
        _plan(data)


def test_a_custom_operator_is_refused_by_name():
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 4), scale=0.1, zero_point=0)
    g.op("CUSTOM", [x], [x])
    g.inputs, g.outputs = [x], [x]
    with pytest.raises(ModelError, match=r"operator 0 CUSTOM:: no implementation"):
        _plan(m.build())


def test_the_bias_folds_the_input_zero_point_and_the_scales_become_multipliers():
    plan = _plan(_conv())
    (op,) = plan.ops
    assert op.unit == "npu" and op.macs == 25 * 4 * 27
    # TFLite multiplies the float32 scales in double: 0.05 * 0.01 / 0.5 ~ 0.001 = 0.512 * 2**-9.
    real = float(np.float32(0.05)) * float(np.float32(0.01)) / float(np.float32(0.5))
    multiplier = round(real * 2**40)  # frexp: real = (real * 2**9) * 2**-9, shift 9
    assert multiplier == 1099511620
    # Per channel (bias, multiplier, shift): the weights sum to 27, the input zero point is -3.
    for channel, bias in enumerate([1, 2, 3, 4]):
        record = np.array([bias + 3 * 27, multiplier, 9], np.int32).tobytes()
        assert plan.weights.count(record) == 1, channel


def test_a_float_model_is_refused_at_its_first_operator():
    # TFLite Micro's own example model, float32 throughout.
    from importlib import resources

    path = resources.files("tflite_micro") / "python" / "tflite_micro" / "sine_float.tflite"
    with pytest.raises(
        ModelError, match=r"^operator 0 FULLY_CONNECTED: the input is FLOAT32; INT8 is supported$"
    ):
        _plan(path.read_bytes())


def _malformed(kind):
    m = ModelBuilder()
    g = m.main
    x = g.tensor((4, 6), scale=0.05, zero_point=0)
    if kind == "conv-one-input":
        y = g.tensor((1, 4, 6, 2), scale=0.5, zero_point=0)
        g.op("CONV_2D", [x], [y], "Conv2DOptions", Padding=1, StrideW=1, StrideH=1)
    elif kind == "short-bounds" or kind == "zero-stride":
        y = g.tensor((2, 6), scale=0.05, zero_point=0)
        bounds = ([0], [2], [1]) if kind == "short-bounds" else ([0, 0], [2, 6], [1, 0])
        consts = [g.tensor((len(v),), "INT32", data=v) for v in bounds]
        g.op("STRIDED_SLICE", [x, *consts], [y], "StridedSliceOptions")
    elif kind == "split-axis":
        y = g.tensor((4, 6), scale=0.05, zero_point=0)
        g.op(
            "SPLIT", [g.tensor((), "INT32", data=np.int32(3)), x], [y], "SplitOptions", NumSplits=1
        )
    elif kind == "huge":
        x = g.tensor((65536, 65536), scale=0.05, zero_point=0)
        y = g.tensor((65536, 65536), scale=1 / 256, zero_point=-128)
        g.op("LOGISTIC", [x], [y])
    elif kind == "tiny-logistic-scale":
        x = g.tensor((1, 8), scale=1e-10, zero_point=0)
        y = g.tensor((1, 8), scale=1 / 256, zero_point=-128)
        g.op("LOGISTIC", [x], [y])
    g.inputs, g.outputs = [x], [y]
    return m.build()


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("conv-one-input", r"^operator 0 CONV_2D: malformed or not supported \(IndexError"),
        ("short-bounds", r"^operator 0 STRIDED_SLICE: the bounds do not have one value per axis"),
        ("zero-stride", r"^operator 0 STRIDED_SLICE: a stride is 0$"),
        ("split-axis", r"^operator 0 SPLIT: malformed or not supported \(IndexError"),
        ("huge", r"^tensor 1 INT8\[65536x65536\] holds 4,294,967,296 bytes, above the runtime's"),
        (
            "tiny-logistic-scale",
            r"^operator 0 LOGISTIC: an input scale of 1e-10 \(below 2\*\*-28\)",
        ),
    ],
)
def test_malformed_operators_are_model_errors_naming_the_operator(kind, message):
    with pytest.raises(ModelError, match=message):
        _plan(_malformed(kind))


def test_a_model_output_must_name_a_tensor():
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 8), scale=0.05, zero_point=0)
    y = g.tensor((1, 8), scale=1 / 256, zero_point=-128)
    g.op("LOGISTIC", [x], [y])
    g.inputs, g.outputs = [x], [y, -1]
    with pytest.raises(ModelError, match=r"^the outputs names tensor -1 of 2$"):
        read_tflite(m.build())


def test_a_fuzzed_model_reads_and_plans_or_is_refused_with_a_model_error():
    data = model_path("okay_nabu").read_bytes()
    rng = np.random.default_rng(9)
    outcomes = {"planned": 0, "refused": 0}
    for _ in range(100):
        mutated = bytearray(data)
        for position in rng.integers(8, 6000, size=3):
            mutated[position] = int(rng.integers(0, 256))
        try:
            _plan(bytes(mutated))
            outcomes["planned"] += 1
        except ModelError:
            outcomes["refused"] += 1
    assert outcomes["planned"] and outcomes["refused"]
