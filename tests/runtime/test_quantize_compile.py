"""Post-training quantization and the compiler's lowering, checked without any simulation."""

import itertools

import numpy as np
import pytest
from tinynpu.firmware.commands import check_command, decode_header
from tinynpu.rtl.layouts import (
    ChannelParams,
    CountersCommand,
    GemmCommand,
    JobCounters,
    Opcode,
    OutputType,
    nbytes,
    unpack,
)
from tinynpu.runtime import digits, reference
from tinynpu.runtime.compiler import ACTS_VA, STREAM_VA, WEIGHTS_VA, compile_model
from tinynpu.runtime.model import AvgPool2d, Conv2d, Dense, Flatten, ReLU, Sequential
from tinynpu.runtime.quantize import QuantizedModel, QuantParams, quantize
from tinynpu.runtime.train import accuracy

PAGE = 4096

# --- QuantParams -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "scale", "zero_point"),
    [
        (0.0, 1.0, 1 / 255, -128),  # zero is q = -128
        (0.0, 255.0, 1.0, -128),
        (-1.0, 1.0, 2 / 255, 0),  # -128 + 127.5 = -0.5: a tie, rounded to even (0)
        (2.0, 5.0, 5 / 255, -128),  # widened to 0..5
        (-5.0, -2.0, 5 / 255, 127),  # widened to -5..0: zero is the top
        (-2.0, 0.0, 2 / 255, 127),
        (-0.5, 1.5, 2 / 255, -64),  # -128 + 0.5 / (2 / 255) = -64.25
        (-1.5, 0.5, 2 / 255, 63),  # -128 + 191.25 = 63.25
        (0.0, 0.0, 1.0, -128),  # degenerate: scale 1
        (3.0, 3.0, 3 / 255, -128),  # not degenerate once widened to 0..3
    ],
)
def test_quant_params_from_range(low, high, scale, zero_point):
    params = QuantParams.from_range(low, high)
    assert params.scale == pytest.approx(scale, rel=1e-15)
    assert params.zero_point == zero_point
    assert type(params.zero_point) is int


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-1.0, 1.0), (2.0, 5.0), (-3.0, 0.5)])
def test_quantize_dequantize_round_trip(low, high):
    params = QuantParams.from_range(low, high)
    x = np.linspace(min(low, 0.0), max(high, 0.0), 1001)
    q = params.quantize(x)
    assert q.dtype == np.int8
    back = params.dequantize(q)
    assert back.dtype == np.float64
    assert np.abs(back - x).max() <= params.scale / 2 * (1 + 1e-9)
    assert params.dequantize(params.quantize(0.0)) == 0.0  # zero is exact


def test_quantize_saturates_and_dequantize_is_affine():
    params = QuantParams(0.5, 10)
    q = params.quantize([-1000.0, 0.0, 1.0, 1000.0])
    np.testing.assert_array_equal(q, [-128, 10, 12, 127])
    np.testing.assert_array_equal(params.dequantize(q), [-69, 0, 1, 58.5])


# --- quantize() on hand-built models ---------------------------------------------------------

W1 = np.array([[0.5, -1.0], [0.3, 0.6], [-0.5, 0.2]])
B1 = np.array([0.1, -0.2])
W2 = np.array([[1.0, -0.3], [0.45, 0.8]])
B2 = np.array([0.05, -0.1])


def _hand_model():
    layers = [Dense(2, weights=W1, bias=B1), ReLU(), Dense(2, weights=W2, bias=B2)]
    return Sequential("hand", (3,), layers)


def _hand_calibration():
    x = np.random.default_rng(3).uniform(0, 1, (200, 3))
    x[0] = 1.0  # the input range is exactly 0..1
    return x


def test_quantize_dense_weights_bias_and_stage():
    model, x = _hand_model(), _hand_calibration()
    q = quantize(model, x)
    assert isinstance(q, QuantizedModel)
    assert (q.name, q.input_shape) == ("hand", (3,))
    assert q.input == QuantParams(1 / 255, -128)
    assert [op.kind for op in q.ops] == ["dense", "dense"]
    assert [op.name for op in q.ops] == ["dense1", "dense2"]
    first, second = q.ops

    # Per output channel symmetric: column scales 0.5/127 and 1/127;
    # 0.3 * 254 = 76.2, 0.6 * 127 = 76.2, 0.2 * 127 = 25.4.
    assert first.weights.dtype == np.int8
    np.testing.assert_array_equal(first.weights, [[127, -127], [76, 76], [-127, 25]])
    np.testing.assert_array_equal(np.abs(first.weights).max(axis=0), [127, 127])
    w_scales = np.array([0.5, 1.0]) / 127
    s_in, z_in = 1 / 255, -128
    # Bias at s_in * s_w: 0.1 * 255 * 254 = 6477, -0.2 * 255 * 127 = -6477; minus z_in * column
    # sums (76 and -26).
    assert first.bias.dtype == np.int32
    np.testing.assert_array_equal(first.bias, [6477 + 128 * 76, -6477 - 128 * 26])
    np.testing.assert_array_equal(
        first.bias, np.round(B1 / (s_in * w_scales)) - z_in * first.weights.sum(axis=0)
    )
    # The output is the tensor after the fused ReLU: 0..max, zero point -128, the lower clamp.
    hidden = np.maximum(x @ W1 + B1, 0)
    q_hidden = QuantParams.from_range(0.0, hidden.max())
    multiplier, shift = reference.quantize_multiplier(s_in * w_scales / q_hidden.scale)
    np.testing.assert_array_equal(first.multiplier, multiplier)
    np.testing.assert_array_equal(first.shift, shift)
    assert (first.input_zero_point, first.zero_point) == (-128, -128)
    assert (first.relu, first.act_min, first.act_max) == (True, -128, 127)
    assert (first.kernel, first.stride, first.padding) == (1, 1, 0)
    assert (first.in_shape, first.out_shape) == ((3,), (2,))
    assert first.macs == 6

    # The second layer reads the hidden tensor; column scales 1/127 and 0.8/127;
    # 0.45 * 127 = 57.15, -0.3 / 0.8 * 127 = -47.625.
    np.testing.assert_array_equal(second.weights, [[127, -48], [57, 127]])
    w_scales = np.array([1.0, 0.8]) / 127
    out = hidden @ W2 + B2
    q_out = QuantParams.from_range(out.min(), out.max())
    expected_bias = np.round(B2 / (q_hidden.scale * w_scales)) + 128 * np.array([184, 79])
    np.testing.assert_array_equal(second.bias, expected_bias)
    multiplier, shift = reference.quantize_multiplier(q_hidden.scale * w_scales / q_out.scale)
    np.testing.assert_array_equal(second.multiplier, multiplier)
    np.testing.assert_array_equal(second.shift, shift)
    assert second.input_zero_point == -128
    assert second.zero_point == q_out.zero_point
    assert (second.relu, second.act_min, second.act_max) == (False, -128, 127)
    assert q.output == q_out


def test_quantize_conv_weights_per_output_channel():
    rng = np.random.default_rng(4)
    conv = Conv2d(3, kernel=3, stride=2, padding=1)
    model = Sequential("c", (5, 5, 2), [conv, ReLU(), Flatten(), Dense(2)])
    model.init(1)
    conv.weights[..., 1] *= 40  # channels at very different scales
    conv.bias = rng.normal(size=3)
    x = rng.uniform(0, 1, (20, 5, 5, 2))
    q = quantize(model, x)
    op = q.ops[0]
    assert (op.kind, op.name) == ("conv2d", "conv2d1")
    assert (op.kernel, op.stride, op.padding) == (3, 2, 1)
    assert (op.in_shape, op.out_shape) == ((5, 5, 2), (3, 3, 3))
    assert op.weights.shape == (3, 3, 2, 3)
    np.testing.assert_array_equal(np.abs(op.weights).max(axis=(0, 1, 2)), [127, 127, 127])
    scales = np.abs(conv.weights).max(axis=(0, 1, 2)) / 127
    np.testing.assert_array_equal(op.weights, np.round(conv.weights / scales))
    s_in = x.max() / 255
    folded = np.round(conv.bias / (s_in * scales)) + 128 * op.weights.sum(axis=(0, 1, 2))
    np.testing.assert_array_equal(op.bias, folded)
    assert op.relu and op.act_min == op.zero_point == -128
    assert op.macs == 27 * 18  # 3x3x3 outputs, 3x3x2 taps each
    assert q.ops[1].in_shape == (27,)
    assert q.ops[1].input_zero_point == op.zero_point


@pytest.mark.parametrize(
    ("layers", "index"),
    [
        ([ReLU(), Dense(2)], 0),
        ([Dense(3), ReLU(), ReLU(), Dense(2)], 2),
        ([Flatten(), ReLU(), Dense(2)], 1),
    ],
)
def test_relu_that_cannot_fuse_is_rejected(layers, index):
    model = Sequential("r", (3,), layers)
    model.init(0)
    message = rf"^Layer {index}: a ReLU must follow a Dense or Conv2d$"
    with pytest.raises(ValueError, match=message):
        quantize(model, np.ones((4, 3)))


def test_relu_after_avgpool_is_rejected():
    model = Sequential("r", (4, 4, 1), [Conv2d(2, 3, padding=1), AvgPool2d(2), ReLU()])
    model.init(0)
    with pytest.raises(ValueError, match=r"^Layer 2: a ReLU must follow a Dense or Conv2d$"):
        quantize(model, np.ones((2, 4, 4, 1)))


def test_requantization_scale_of_one_or_more_is_rejected():
    # Two inputs that cancel: the output is always 0 (scale 1.0) while the input scale is
    # 40000 / 255 and the weights' 1 / 127, so the requantization scale is 1.235 > 1.
    w = np.array([[1.0], [-1.0]])
    model = Sequential("big", (2,), [Dense(1, weights=w, bias=np.zeros(1))])
    with pytest.raises(ValueError, match=r"is not in \(0, 1\)"):
        quantize(model, np.array([[40000.0, 40000.0], [0.0, 0.0]]))


@pytest.mark.parametrize(("size", "channels"), [(2, 2), (3, 3)])
def test_quantize_avgpool(size, channels):
    rng = np.random.default_rng(5)
    hw = 2 * size
    model = Sequential("p", (hw, hw, channels), [AvgPool2d(size), Flatten(), Dense(3)])
    model.init(0)
    x = rng.uniform(0, 2, (30, hw, hw, channels))
    q = quantize(model, x)
    pool, dense = q.ops
    assert (pool.kind, pool.name) == ("avgpool", "avgpool1")
    assert (pool.kernel, pool.stride, pool.padding) == (size, size, 0)
    assert (pool.in_shape, pool.out_shape) == ((hw, hw, channels), (2, 2, channels))
    identity = np.zeros((size, size, channels, channels), dtype=np.int8)
    for i in range(size):
        for j in range(size):
            for c in range(channels):
                identity[i, j, c, c] = 1
    assert pool.weights.dtype == np.int8
    np.testing.assert_array_equal(pool.weights, identity)
    z_in = q.input.zero_point
    assert z_in == -128
    # TFLite's pool divides the raw window sum: no bias fold, no zero point in the stage.
    np.testing.assert_array_equal(pool.bias, [0] * channels)
    multiplier, shift = {2: (2**31 - 1, 2), 3: (238609293, 0)}[size]
    np.testing.assert_array_equal(pool.multiplier, [multiplier] * channels)
    np.testing.assert_array_equal(pool.shift, [shift] * channels)
    # Out quantization is in quantization: the dense layer folds the same zero point and scale.
    assert pool.input_zero_point == z_in and pool.zero_point == 0
    assert (pool.act_min, pool.act_max, pool.relu) == (-128, 127, False)
    assert dense.input_zero_point == z_in
    w_scales = np.abs(model.layers[2].weights).max(axis=0) / 127
    out = model.forward(x)
    expected = reference.quantize_multiplier(
        q.input.scale * w_scales / QuantParams.from_range(out.min(), out.max()).scale
    )
    np.testing.assert_array_equal(dense.multiplier, expected[0])
    np.testing.assert_array_equal(dense.shift, expected[1])


def test_avgpool_reference_equals_its_convolution_lowering():
    model = Sequential("p", (6, 6, 4), [AvgPool2d(2)])
    calibration = np.random.default_rng(6).uniform(-1, 3, (10, 6, 6, 4))
    (op,) = quantize(model, calibration).ops
    rng = np.random.default_rng(7)
    cases = [rng.integers(-128, 128, (5, 6, 6, 4)), np.full((1, 6, 6, 4), -128)]
    for x in [*cases, np.full((1, 6, 6, 4), 127)]:
        x = x.astype(np.int8)
        expected = reference.conv2d(
            x,
            op.weights,
            op.bias,
            op.multiplier,
            op.shift,
            stride=op.stride,
            input_zero_point=op.input_zero_point,
            zero_point=op.zero_point,
            act_min=op.act_min,
            act_max=op.act_max,
        )
        got = op.reference(x)
        assert got.dtype == np.int8
        assert got.shape == (len(x), 3, 3, 4)
        np.testing.assert_array_equal(got, expected)
    # A constant image averages to itself.
    np.testing.assert_array_equal(op.reference(np.full((1, 6, 6, 4), 17, np.int8)), 17)
    # TFLite's rounding, not a requantization by 1/4: sums of 2, -2, 6 and -6 give 1, -1, 2, -2
    # (halves away from zero).
    x = np.zeros((1, 6, 6, 4), np.int8)
    x[0, 0, 0] = [2, -2, 6, -6]
    np.testing.assert_array_equal(op.reference(x)[0, 0, 0], [1, -1, 2, -2])


def test_input_quantization_covers_negative_calibration_values():
    # Inputs calibrated on -1..1 must quantize to within half a step, like every other tensor.
    x = np.random.default_rng(8).uniform(-1, 1, (100, 2))
    model = Sequential("neg", (2,), [Dense(1, weights=np.ones((2, 1)), bias=np.zeros(1))])
    q = quantize(model, x)
    assert q.input.dequantize(q.input.quantize(-0.5)) == pytest.approx(-0.5, abs=q.input.scale)
    error = np.abs(q.input.dequantize(q.input.quantize(x)) - x).max()
    assert error <= q.input.scale / 2 + 1e-12


# --- the digits models, end to end -----------------------------------------------------------


@pytest.fixture(scope="module")
def split():
    return digits.load_split()


@pytest.fixture(scope="module")
def models(split):
    x_train, y_train, _, _ = split
    trained = {name: digits.trained(name, x_train, y_train) for name in ("mlp", "cnn")}
    return {name: (model, quantize(model, x_train)) for name, model in trained.items()}


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_reference_tracks_the_float_model(name, split, models):
    model, q = models[name]
    _, _, x_test, _ = split
    rng = np.random.default_rng(9)
    for x in (x_test[rng.choice(len(x_test), 64, replace=False)], rng.uniform(0, 1, (64, 8, 8, 1))):
        outputs = q.reference(q.input.quantize(x))
        assert len(outputs) == len(q.ops) + 1
        assert all(o.dtype == np.int8 for o in outputs)
        assert [o.shape[1:] for o in outputs[1:]] == [
            op.out_shape if op.kind != "dense" else (op.out_shape[0],) for op in q.ops
        ]
        error = np.abs(q.output.dequantize(outputs[-1]) - model.forward(x))
        assert error.max() <= 3 * q.output.scale


def test_digits_op_lists(models):
    assert [(op.kind, op.in_shape, op.out_shape, op.relu) for op in models["mlp"][1].ops] == [
        ("dense", (64,), (64,), True),
        ("dense", (64,), (32,), True),
        ("dense", (32,), (10,), False),
    ]
    assert [(op.kind, op.in_shape, op.out_shape, op.relu) for op in models["cnn"][1].ops] == [
        ("conv2d", (8, 8, 1), (8, 8, 8), True),
        ("avgpool", (8, 8, 8), (4, 4, 8), False),
        ("conv2d", (4, 4, 8), (4, 4, 16), True),
        ("dense", (256,), (10,), False),
    ]


@pytest.mark.parametrize("name", ["mlp", "cnn"])
def test_int8_accuracy_is_within_two_points_of_float(name, split, models):
    model, q = models[name]
    _, _, x_test, y_test = split
    float_accuracy = accuracy(np.argmax(model.forward(x_test), axis=1), y_test)
    int8_accuracy = accuracy(np.argmax(q.reference(q.input.quantize(x_test))[-1], axis=1), y_test)
    assert float_accuracy > 0.9
    assert abs(int8_accuracy - float_accuracy) <= 0.02


# --- compile_model ---------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [0, -1])
def test_compile_rejects_empty_batches(models, batch):
    with pytest.raises(ValueError, match=rf"^Batch size {batch} is not positive$"):
        compile_model(models["mlp"][1], batch)


def _decode(stream):
    """The stream's commands, each checked as the firmware checks it: ``(opcode, command)``."""
    commands, offset = [], 0
    while offset < len(stream):
        opcode, layout = decode_header(stream[offset : offset + 8], len(stream) - offset)
        size = nbytes(layout)
        commands.append((opcode, check_command(opcode, stream[offset : offset + size])))
        offset += size
    assert offset == len(stream)
    return commands


def _weights_at(program, va, size):
    """``size`` bytes of the weights buffer at ``va``, which must lie inside it."""
    assert va >= WEIGHTS_VA and va + size <= WEIGHTS_VA + len(program.weights)
    return program.weights[va - WEIGHTS_VA : va - WEIGHTS_VA + size]


def _check_params(program, va, op):
    n = len(op.bias)
    raw = _weights_at(program, va, n * nbytes(ChannelParams))
    for j in range(n):
        record = raw[16 * j : 16 * (j + 1)]
        params = unpack(ChannelParams, record)
        assert (params.bias, params.multiplier, params.shift) == (
            op.bias[j],
            op.multiplier[j],
            op.shift[j],
        )
        assert record[9:] == bytes(7)  # reserved


def _check_buffers(program, commands):
    """Sizes, alignment and disjointness of everything the stream names."""
    sizes = program.sizes
    assert set(sizes) == {"stream", "weights", "activations"}
    assert all(size % PAGE == 0 and size > 0 for size in sizes.values())
    assert sizes["stream"] >= len(program.stream)
    assert sizes["weights"] >= len(program.weights)
    regions = [(program.input_va, program.input_bytes)]
    for op, va in zip(program.ops, program.tensors_va, strict=True):
        regions.append((va, program.batch * int(np.prod(op.out_shape))))
    regions += [(va, nbytes(JobCounters)) for va in program.counters_va]
    regions.sort()
    for (va, size), (next_va, _) in itertools.pairwise(regions):
        assert va + size <= next_va
    for va, size in regions:
        assert va % 64 == 0
        assert va >= ACTS_VA and va + size <= ACTS_VA + sizes["activations"]
    assert len(set(program.counters_va)) == len(program.ops)
    assert all(va % 8 == 0 for va in program.counters_va)
    assert program.output_va == program.tensors_va[-1]
    assert STREAM_VA + sizes["stream"] <= WEIGHTS_VA <= WEIGHTS_VA + sizes["weights"] <= ACTS_VA
    opcodes = [opcode for opcode, _ in commands]
    compute = [Opcode.GEMM if op.kind == "dense" else Opcode.CONV2D for op in program.ops]
    assert opcodes == [code for op in compute for code in (op, Opcode.COUNTERS)]
    counters = [cmd for opcode, cmd in commands if opcode is Opcode.COUNTERS]
    assert [cmd.addr for cmd in counters] == program.counters_va
    # Every op's weights and parameters: aligned, disjoint, inside the weights buffer.
    compute = [cmd for opcode, cmd in commands if opcode is not Opcode.COUNTERS]
    constants = []
    for op, cmd in zip(program.ops, compute, strict=True):
        weights = cmd.b if op.kind == "dense" else cmd.weights
        constants += [(weights, op.weights.size), (cmd.params, 16 * len(op.bias))]
    constants.sort()
    for (va, size), (next_va, _) in itertools.pairwise(constants):
        assert va + size <= next_va
    for va, size in constants:
        assert va % 64 == 0
        assert va >= WEIGHTS_VA and va + size <= WEIGHTS_VA + len(program.weights)


def test_compile_mlp(models):
    _, q = models["mlp"]
    program = compile_model(q, 16)
    assert program.batch == 16
    assert program.ops == q.ops
    assert (program.input_bytes, program.output_bytes) == (16 * 64, 16 * 10)
    assert program.input_va == ACTS_VA
    commands = _decode(program.stream)
    assert [opcode for opcode, _ in commands] == [Opcode.GEMM, Opcode.COUNTERS] * 3
    assert len(program.stream) == 3 * (nbytes(GemmCommand) + nbytes(CountersCommand))
    _check_buffers(program, commands)
    gemms = [cmd for opcode, cmd in commands if opcode is Opcode.GEMM]
    source = program.input_va
    for op, gemm, c_va in zip(q.ops, gemms, program.tensors_va, strict=True):
        k, n = op.weights.shape
        assert (gemm.m, gemm.k, gemm.n) == (16, k, n)
        assert (gemm.lda, gemm.ldb, gemm.ldc) == (k, n, n)
        assert (gemm.a, gemm.c) == (source, c_va)
        assert (gemm.zero_point, gemm.act_min, gemm.act_max) == (
            op.zero_point,
            op.act_min,
            op.act_max,
        )
        assert gemm.output_type is OutputType.INT8
        assert gemm.b % 64 == 0 and gemm.params % 64 == 0
        assert _weights_at(program, gemm.b, k * n) == op.weights.tobytes()
        _check_params(program, gemm.params, op)
        source = c_va


def test_compile_cnn(models):
    _, q = models["cnn"]
    program = compile_model(q, 3)
    commands = _decode(program.stream)
    expected = [Opcode.CONV2D, Opcode.CONV2D, Opcode.CONV2D, Opcode.GEMM]
    assert [opcode for opcode, _ in commands] == [
        code for pair in zip(expected, [Opcode.COUNTERS] * 4, strict=True) for code in pair
    ]
    _check_buffers(program, commands)
    compute = [cmd for opcode, cmd in commands if opcode is not Opcode.COUNTERS]
    source = program.input_va
    for op, cmd, out_va in zip(q.ops[:3], compute, program.tensors_va, strict=False):
        assert (cmd.input, cmd.output) == (source, out_va)
        assert (cmd.batch, cmd.in_h, cmd.in_w, cmd.in_c) == (3, *op.in_shape)
        assert (cmd.out_h, cmd.out_w, cmd.out_c) == op.out_shape
        assert (cmd.kernel_h, cmd.kernel_w) == (op.kernel, op.kernel)
        assert (cmd.stride_h, cmd.stride_w) == (op.stride, op.stride)
        assert (cmd.pad_top, cmd.pad_left) == (op.padding, op.padding)
        assert cmd.input_zero_point == op.input_zero_point
        assert (cmd.zero_point, cmd.act_min, cmd.act_max) == (
            op.zero_point,
            op.act_min,
            op.act_max,
        )
        assert cmd.output_type is OutputType.INT8
        assert _weights_at(program, cmd.weights, op.weights.size) == op.weights.tobytes()
        _check_params(program, cmd.params, op)
        source = out_va
    assert [(c.kernel_h, c.stride_h, c.pad_top) for c in compute[:3]] == [
        (3, 1, 1),
        (2, 2, 0),
        (3, 1, 1),
    ]
    gemm = compute[3]
    assert (gemm.a, gemm.m, gemm.k, gemm.n) == (program.tensors_va[2], 3, 256, 10)


class _Machine:
    """Runs a program's stream on numpy: the buffers at their addresses, ops by the reference."""

    def __init__(self, program):
        self.program = program
        self.buffers = {
            STREAM_VA: bytearray(program.stream.ljust(program.sizes["stream"], b"\0")),
            WEIGHTS_VA: bytearray(program.weights.ljust(program.sizes["weights"], b"\0")),
            ACTS_VA: bytearray(program.sizes["activations"]),
        }

    def _where(self, va, size):
        for base, buffer in self.buffers.items():
            if base <= va and va + size <= base + len(buffer):
                return buffer, va - base
        raise AssertionError(f"{va:#x}+{size:#x} is in no buffer")

    def read(self, va, shape):
        buffer, offset = self._where(va, int(np.prod(shape)))
        return np.frombuffer(buffer, np.int8, int(np.prod(shape)), offset).reshape(shape)

    def write(self, va, raw):
        buffer, offset = self._where(va, len(raw))
        assert buffer is self.buffers[ACTS_VA]
        buffer[offset : offset + len(raw)] = raw

    def params(self, va, n):
        buffer, offset = self._where(va, 16 * n)
        raw = bytes(buffer[offset : offset + 16 * n])
        records = [unpack(ChannelParams, raw[16 * j : 16 * j + 16]) for j in range(n)]
        names = ("bias", "multiplier", "shift")
        return (np.array([getattr(r, name) for r in records]) for name in names)

    def run(self, x):
        self.write(self.program.input_va, x.tobytes())
        for opcode, cmd in _decode(self.program.stream):
            if opcode is not Opcode.COUNTERS:
                stage = {"zero_point": cmd.zero_point, "act_min": cmd.act_min}
                stage["act_max"] = cmd.act_max
            if opcode is Opcode.GEMM:
                out = reference.gemm(
                    self.read(cmd.a, (cmd.m, cmd.k)),
                    self.read(cmd.b, (cmd.k, cmd.n)),
                    *self.params(cmd.params, cmd.n),
                    **stage,
                )
                self.write(cmd.c, out.tobytes())
            elif opcode is Opcode.CONV2D:
                out = reference.conv2d(
                    self.read(cmd.input, (cmd.batch, cmd.in_h, cmd.in_w, cmd.in_c)),
                    self.read(cmd.weights, (cmd.kernel_h, cmd.kernel_w, cmd.in_c, cmd.out_c)),
                    *self.params(cmd.params, cmd.out_c),
                    stride=(cmd.stride_h, cmd.stride_w),
                    pad_top=cmd.pad_top,
                    pad_left=cmd.pad_left,
                    out_hw=(cmd.out_h, cmd.out_w),
                    input_zero_point=cmd.input_zero_point,
                    **stage,
                )
                self.write(cmd.output, out.tobytes())
            else:  # COUNTERS: a record that must not land on any tensor
                self.write(cmd.addr, b"\xa5" * nbytes(JobCounters))


@pytest.mark.parametrize(("name", "batch"), [("mlp", 16), ("mlp", 1), ("cnn", 5)])
def test_compiled_stream_computes_the_reference(name, batch, split, models):
    """Executing the stream over its buffers gives every op's reference output in place."""
    _, q = models[name]
    program = compile_model(q, batch)
    x = q.input.quantize(split[2][:batch])
    machine = _Machine(program)
    machine.run(x)
    expected = q.reference(x)
    for op, va, want in zip(q.ops, program.tensors_va, expected[1:], strict=True):
        np.testing.assert_array_equal(machine.read(va, want.shape), want, err_msg=op.name)
    got = machine.read(program.output_va, (batch, 10))
    np.testing.assert_array_equal(got, expected[-1])
    assert program.output_bytes == got.size


def test_a_channel_of_zero_weights_quantizes_to_its_bias():
    model = Sequential("zero", (2,), [Dense(2)])
    model.layers[0].weights = np.array([[0.5, 0.0], [0.2, 0.0]])
    model.layers[0].bias = np.array([0.0, 0.1])
    x = np.random.default_rng(0).uniform(0, 1, (50, 2))
    q = quantize(model, x)
    (op,) = q.ops
    assert op.weights[:, 1].tolist() == [0, 0]
    assert (op.multiplier[1], op.shift[1]) == (1 << 30, 0)  # a requantization scale of 1/2
    out = q.output.dequantize(q.reference(q.input.quantize(x))[-1])
    assert np.abs(out - model.forward(x)).max() <= q.output.scale
