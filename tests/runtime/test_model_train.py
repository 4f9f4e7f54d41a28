"""The float model (shapes, forward passes) and its training (gradients, determinism, fit)."""

import numpy as np
import pytest
from tinynpu.runtime.model import (
    AvgPool2d,
    Conv2d,
    Dense,
    Flatten,
    ReLU,
    Sequential,
    conv_output_hw,
    im2col,
)
from tinynpu.runtime.train import _backward, accuracy, fit

# 1x3x3x1 image holding 1..9 row by row:
#   1 2 3
#   4 5 6
#   7 8 9
NINE = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)


# --- conv_output_hw, im2col ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hw", "kernel", "stride", "padding", "expected"),
    [
        ((3, 3), 2, 1, 0, (2, 2)),
        ((3, 3), 2, 1, 1, (4, 4)),
        ((8, 8), 3, 1, 1, (8, 8)),
        ((8, 8), 3, 2, 1, (4, 4)),  # (8 + 2 - 3) // 2 + 1
        ((5, 7), 2, 2, 0, (2, 3)),  # rows (5-2)//2+1, columns (7-2)//2+1
        ((6, 4), 3, 3, 0, (2, 1)),
        ((1, 1), 1, 1, 0, (1, 1)),
    ],
)
def test_conv_output_hw(hw, kernel, stride, padding, expected):
    assert conv_output_hw(hw, kernel, stride, padding) == expected


_F = -1  # the fill value of the padded case below


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "fill", "shape", "expected"),
    [
        pytest.param(
            # Taps (0,0), (0,1), (1,0), (1,1) of each window.
            2, 1, 0, None, (1, 2, 2, 4),
            [[[1, 2, 4, 5], [2, 3, 5, 6]], [[4, 5, 7, 8], [5, 6, 8, 9]]],
            id="valid-windows-in-tap-order",
        ),
        pytest.param(
            2, 1, 1, -1.0, (1, 4, 4, 4),
            [
                [[_F, _F, _F, 1], [_F, _F, 1, 2], [_F, _F, 2, 3], [_F, _F, 3, _F]],
                [[_F, 1, _F, 4], [1, 2, 4, 5], [2, 3, 5, 6], [3, _F, 6, _F]],
                [[_F, 4, _F, 7], [4, 5, 7, 8], [5, 6, 8, 9], [6, _F, 9, _F]],
                [[_F, 7, _F, _F], [7, 8, _F, _F], [8, 9, _F, _F], [9, _F, _F, _F]],
            ],
            id="padding-reads-fill",
        ),
        pytest.param(
            # Padded rows/columns 0-1 and 2-3 of the 5x5 zero-padded image.
            2, 2, 1, None, (1, 2, 2, 4),
            [[[0, 0, 0, 1], [0, 0, 2, 3]], [[0, 4, 0, 7], [5, 6, 8, 9]]],
            id="stride-two-with-zero-padding",
        ),
    ],
)  # fmt: skip
def test_im2col_windows_of_nine(kernel, stride, padding, fill, shape, expected):
    # ``fill=None`` leaves im2col's default (zero) fill.
    fills = {} if fill is None else {"fill": fill}
    cols = im2col(NINE, kernel=kernel, stride=stride, padding=padding, **fills)
    assert cols.shape == shape
    np.testing.assert_array_equal(cols[0], expected)


def test_im2col_channels_within_a_tap_are_contiguous():
    # 1x2x2x2: pixel (i, j) holds (10 * (2i + j), 10 * (2i + j) + 1).
    x = np.array([[[[0, 1], [10, 11]], [[20, 21], [30, 31]]]], dtype=float)
    cols = im2col(x, kernel=2, stride=1, padding=0)
    assert cols.shape == (1, 1, 1, 8)
    np.testing.assert_array_equal(cols[0, 0, 0], [0, 1, 10, 11, 20, 21, 30, 31])


def test_im2col_batch_samples_are_independent():
    x = np.concatenate([NINE, 10 * NINE])
    cols = im2col(x, kernel=3, stride=1, padding=0)
    assert cols.shape == (2, 1, 1, 9)
    np.testing.assert_array_equal(cols[:, 0, 0], [np.arange(1, 10), 10 * np.arange(1, 10)])


def _random_conv(rng, in_channels, kernel, stride, padding, channels):
    """A ``Conv2d`` with normal random weights and bias from ``rng``."""
    return Conv2d(
        channels,
        kernel,
        stride,
        padding,
        weights=rng.normal(size=(kernel, kernel, in_channels, channels)),
        bias=rng.normal(size=channels),
    )


# --- layers' forward passes --------------------------------------------------------------------


def test_dense_forward():
    layer = Dense(3, weights=np.array([[1.0, 0.0, -1.0], [2.0, 1.0, 0.0]]), bias=[0.5, 0, -1])
    out = layer.forward(np.array([[1.0, 2.0], [0.0, -1.0]]))
    np.testing.assert_array_equal(out, [[5.5, 2.0, -2.0], [-1.5, -1.0, -1.0]])


def test_conv2d_forward_by_hand():
    layer = Conv2d(1, kernel=2, weights=np.ones((2, 2, 1, 1)), bias=np.array([0.5]))
    out = layer.forward(NINE)
    assert out.shape == (1, 2, 2, 1)
    # Window sums 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9, plus the bias.
    np.testing.assert_array_equal(out[0, :, :, 0], [[12.5, 16.5], [24.5, 28.5]])


def test_conv2d_forward_padding_by_hand():
    # The 2x2 kernel [[1, 0], [0, 0]] picks the window's top-left: the image shifted by one.
    weights = np.zeros((2, 2, 1, 1))
    weights[0, 0] = 1
    out = Conv2d(1, kernel=2, padding=1, weights=weights, bias=np.zeros(1)).forward(NINE)
    expected = [[0, 0, 0, 0], [0, 1, 2, 3], [0, 4, 5, 6], [0, 7, 8, 9]]
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


def _conv_loops(x, weights, bias, stride, padding):
    """A direct convolution: every output pixel, tap and channel in Python loops."""
    batch, h, w, cin = x.shape
    k, _, _, cout = weights.shape
    oh = (h + 2 * padding - k) // stride + 1
    ow = (w + 2 * padding - k) // stride + 1
    out = np.zeros((batch, oh, ow, cout))
    for b in range(batch):
        for y in range(oh):
            for xo in range(ow):
                for o in range(cout):
                    total = bias[o]
                    for i in range(k):
                        for j in range(k):
                            r, c = y * stride - padding + i, xo * stride - padding + j
                            if 0 <= r < h and 0 <= c < w:
                                for ci in range(cin):
                                    total += x[b, r, c, ci] * weights[i, j, ci, o]
                    out[b, y, xo, o] = total
    return out


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "channels"),
    [
        ((2, 5, 5, 3), 3, 1, 0, 4),
        ((2, 5, 5, 3), 3, 2, 1, 4),
        ((1, 6, 7, 2), 3, 2, 2, 3),
        ((3, 4, 4, 1), 2, 2, 0, 2),
        ((1, 5, 6, 2), 1, 1, 0, 5),
    ],
)
def test_conv2d_forward_matches_direct_loops(shape, kernel, stride, padding, channels):
    rng = np.random.default_rng(7)
    x = rng.normal(size=shape)
    layer = _random_conv(rng, shape[3], kernel, stride, padding, channels)
    out = layer.forward(x)
    assert out.shape == (shape[0], *layer.output_shape(shape[1:]))
    np.testing.assert_allclose(
        out, _conv_loops(x, layer.weights, layer.bias, stride, padding), rtol=1e-12, atol=1e-12
    )


def test_avgpool_forward():
    x = np.arange(16.0).reshape(1, 4, 4, 1)
    out = AvgPool2d(2).forward(x)
    assert out.shape == (1, 2, 2, 1)
    # (0+1+4+5)/4, (2+3+6+7)/4, (8+9+12+13)/4, (10+11+14+15)/4
    np.testing.assert_array_equal(out[0, :, :, 0], [[2.5, 4.5], [10.5, 12.5]])


def test_avgpool_keeps_channels_apart():
    x = np.stack([np.arange(36.0).reshape(6, 6), -np.ones((6, 6))], axis=-1)[None]
    out = AvgPool2d(3).forward(x)
    assert out.shape == (1, 2, 2, 2)
    # Window means of 0..35 in 3x3 blocks: the centre pixels 7, 10, 25, 28.
    np.testing.assert_array_equal(out[0, :, :, 0], [[7, 10], [25, 28]])
    np.testing.assert_array_equal(out[0, :, :, 1], -np.ones((2, 2)))


def test_flatten_and_relu_forward():
    x = np.arange(24.0).reshape(2, 2, 2, 3) - 12
    flat = Flatten().forward(x)
    assert flat.shape == (2, 12)
    np.testing.assert_array_equal(flat[1], np.arange(0.0, 12.0))  # HWC order
    np.testing.assert_array_equal(ReLU().forward(np.array([[-1.5, 0.0, 2.0]])), [[0, 0, 2]])


# --- output shapes and their errors ---------------------------------------------------------


def test_output_shapes():
    assert Dense(5).output_shape((7,)) == (5,)
    assert Conv2d(4, kernel=3, stride=2, padding=1).output_shape((8, 6, 2)) == (4, 3, 4)
    assert AvgPool2d(2).output_shape((4, 6, 3)) == (2, 3, 3)
    assert Flatten().output_shape((4, 6, 3)) == (72,)
    assert ReLU().output_shape((4, 6, 3)) == (4, 6, 3)


def test_dense_on_an_image_asks_for_a_flatten():
    message = r"^Dense takes a vector, not \(8, 8, 1\): put a Flatten before it$"
    with pytest.raises(ValueError, match=message):
        Dense(4).output_shape((8, 8, 1))
    with pytest.raises(ValueError, match=message):
        Sequential("bad", (8, 8, 1), [Dense(4)])


def test_conv2d_shape_errors():
    with pytest.raises(ValueError, match=r"^Padding 3 is not smaller than kernel 3$"):
        Conv2d(4, kernel=3, padding=3).output_shape((8, 8, 1))
    with pytest.raises(ValueError, match=r"^Padding 4 is not smaller than kernel 3$"):
        Conv2d(4, kernel=3, padding=4).output_shape((8, 8, 1))
    with pytest.raises(ValueError, match=r"^Conv2d takes an \(h, w, c\) image, not \(64,\)$"):
        Conv2d(4, kernel=3).output_shape((64,))
    with pytest.raises(ValueError, match=r"^Kernel 5 does not fit in \(3, 3, 1\)$"):
        Conv2d(4, kernel=5).output_shape((3, 3, 1))


def test_avgpool_must_tile():
    with pytest.raises(ValueError, match=r"^AvgPool2d\(2\) does not tile a 5x4 image$"):
        AvgPool2d(2).output_shape((5, 4, 1))
    with pytest.raises(ValueError, match=r"^AvgPool2d\(3\) does not tile a 6x4 image$"):
        AvgPool2d(3).output_shape((6, 4, 2))


# --- Sequential ------------------------------------------------------------------------------


def _small_cnn():
    layers = [
        Conv2d(4, kernel=3, padding=1),
        ReLU(),
        AvgPool2d(2),
        Conv2d(6, kernel=3, stride=2, padding=1),
        Flatten(),
        Dense(10),
    ]
    return Sequential("small", (8, 8, 1), layers)


def test_sequential_shapes_and_describe():
    model = _small_cnn()
    assert model.name == "small"
    assert model.input_shape == (8, 8, 1)
    assert model.shapes == [(8, 8, 1), (8, 8, 4), (8, 8, 4), (4, 4, 4), (2, 2, 6), (24,), (10,)]
    assert model.output_shape == (10,)
    assert model.describe() == [
        "Conv2d 8x8x4",
        "ReLU 8x8x4",
        "AvgPool2d 4x4x4",
        "Conv2d 2x2x6",
        "Flatten 24",
        "Dense 10",
    ]


def test_sequential_init_and_forward():
    model = _small_cnn()
    model.init(seed=5)
    conv1, _, _, conv2, _, dense = model.layers
    assert conv1.weights.shape == (3, 3, 1, 4)
    assert conv2.weights.shape == (3, 3, 4, 6)
    assert dense.weights.shape == (24, 10)
    for layer in (conv1, conv2, dense):
        np.testing.assert_array_equal(layer.bias, np.zeros(layer.weights.shape[-1]))
    x = np.random.default_rng(0).uniform(size=(3, 8, 8, 1))
    outputs = model.forward(x, keep=True)
    assert [o.shape[1:] for o in outputs] == model.shapes
    assert all(len(o) == 3 for o in outputs)
    assert outputs[0] is x
    # Each output is the layer applied to the previous one; the last is what forward returns.
    np.testing.assert_array_equal(outputs[2], np.maximum(outputs[1], 0))
    np.testing.assert_array_equal(outputs[-1], outputs[-2] @ dense.weights + dense.bias)
    np.testing.assert_array_equal(model.forward(x), outputs[-1])


def test_sequential_init_is_seeded():
    a, b, c = _small_cnn(), _small_cnn(), _small_cnn()
    a.init(3)
    b.init(3)
    c.init(4)
    np.testing.assert_array_equal(a.layers[0].weights, b.layers[0].weights)
    np.testing.assert_array_equal(a.layers[-1].weights, b.layers[-1].weights)
    assert not np.array_equal(a.layers[0].weights, c.layers[0].weights)


# --- gradients against finite differences ---------------------------------------------------

EPS = 1e-6


def _numeric_grad(loss, value):
    """Central differences of the scalar ``loss()`` in each element of ``value`` (in place)."""
    grad = np.zeros_like(value)
    for index in np.ndindex(value.shape):
        saved = value[index]
        value[index] = saved + EPS
        up = loss()
        value[index] = saved - EPS
        down = loss()
        value[index] = saved
        grad[index] = (up - down) / (2 * EPS)
    return grad


def _check_layer_gradients(layer, x, rng):
    """``_backward`` against finite differences of ``sum(forward(x) * r)`` for a random ``r``."""
    r = rng.normal(size=layer.forward(x).shape)

    def loss():
        return float(np.sum(layer.forward(x) * r))

    dx, params = _backward(layer, x, r)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, _numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    if params is None:
        return
    dw, db = params
    assert dw.shape == layer.weights.shape
    assert db.shape == layer.bias.shape
    np.testing.assert_allclose(dw, _numeric_grad(loss, layer.weights), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(db, _numeric_grad(loss, layer.bias), rtol=1e-6, atol=1e-8)


def test_dense_gradients():
    rng = np.random.default_rng(11)
    layer = Dense(4, weights=rng.normal(size=(5, 4)), bias=rng.normal(size=4))
    _check_layer_gradients(layer, rng.normal(size=(3, 5)), rng)


@pytest.mark.parametrize(
    ("shape", "kernel", "stride", "padding", "channels"),
    [
        ((2, 5, 5, 3), 3, 2, 1, 4),  # padding and stride 2: every input pixel in some window
        ((2, 6, 6, 2), 3, 2, 1, 3),  # the last padded row and column are never read
        ((1, 5, 4, 2), 3, 2, 2, 2),  # padding 2 (< kernel), windows of mostly padding
        ((2, 4, 4, 2), 3, 1, 0, 3),
    ],
)
def test_conv2d_gradients(shape, kernel, stride, padding, channels):
    rng = np.random.default_rng(12)
    layer = _random_conv(rng, shape[3], kernel, stride, padding, channels)
    _check_layer_gradients(layer, rng.normal(size=shape), rng)


@pytest.mark.parametrize(("shape", "size"), [((2, 4, 6, 3), 2), ((1, 6, 3, 2), 3)])
def test_avgpool_gradients(shape, size):
    rng = np.random.default_rng(13)
    _check_layer_gradients(AvgPool2d(size), rng.normal(size=shape), rng)


def test_relu_and_flatten_gradients():
    grad = np.array([[1.0, 2.0, 3.0, 4.0]])
    dx, params = _backward(ReLU(), np.array([[-1.0, 0.0, 0.5, 3.0]]), grad)
    assert params is None
    np.testing.assert_array_equal(dx, [[0.0, 0.0, 3.0, 4.0]])  # the kink at 0 passes nothing
    x = np.zeros((2, 2, 3, 1))
    dx, params = _backward(Flatten(), x, np.arange(12.0).reshape(2, 6))
    assert params is None
    np.testing.assert_array_equal(dx, np.arange(12.0).reshape(2, 2, 3, 1))


def test_backward_rejects_unknown_layers():
    with pytest.raises(TypeError, match=r"^Cannot train through 'tanh'$"):
        _backward("tanh", np.zeros(1), np.zeros(1))


def test_whole_model_gradient_chain():
    """Back-propagation through every layer kind equals finite differences of the model."""
    model = Sequential(
        "chain",
        (6, 6, 2),
        [
            Conv2d(3, kernel=3, stride=1, padding=1),
            ReLU(),
            AvgPool2d(2),
            Conv2d(4, kernel=2, stride=2, padding=1),
            Flatten(),
            Dense(3),
        ],
    )
    model.init(seed=2)
    rng = np.random.default_rng(14)
    for layer in model.layers:
        if hasattr(layer, "bias"):
            layer.bias = rng.normal(size=layer.bias.shape)
    x = rng.normal(size=(2, 6, 6, 2))
    r = rng.normal(size=(2, 3))

    def loss():
        return float(np.sum(model.forward(x) * r))

    outputs = model.forward(x, keep=True)
    grad, grads = r, {}
    for index in reversed(range(len(model.layers))):
        grad, params = _backward(model.layers[index], outputs[index], grad)
        if params is not None:
            grads[index] = params
    assert sorted(grads) == [0, 3, 5]
    np.testing.assert_allclose(grad, _numeric_grad(loss, x), rtol=1e-6, atol=1e-8)
    for index, (dw, db) in grads.items():
        layer = model.layers[index]
        np.testing.assert_allclose(dw, _numeric_grad(loss, layer.weights), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(db, _numeric_grad(loss, layer.bias), rtol=1e-6, atol=1e-8)


# --- fit, accuracy ---------------------------------------------------------------------------


def _bars(n, seed):
    """4x4 images with a bright row (class 0) or a bright column (class 1) in noise."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    x = rng.uniform(0, 0.3, (n, 4, 4, 1))
    where = rng.integers(0, 4, n)
    for i in range(n):
        if labels[i]:
            x[i, :, where[i], 0] += 0.7
        else:
            x[i, where[i], :, 0] += 0.7
    return x, labels


def _bars_model():
    layers = [
        Conv2d(4, kernel=3, padding=1),
        ReLU(),
        AvgPool2d(2),
        Flatten(),
        Dense(8),
        ReLU(),
        Dense(2),
    ]
    return Sequential("bars", (4, 4, 1), layers)


def test_fit_is_deterministic_for_a_seed():
    x, labels = _bars(64, seed=1)
    a = fit(_bars_model(), x, labels, epochs=2, batch=16, seed=5)
    b = fit(_bars_model(), x, labels, epochs=2, batch=16, seed=5)
    c = fit(_bars_model(), x, labels, epochs=2, batch=16, seed=6)
    for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
        if hasattr(la, "weights"):
            np.testing.assert_array_equal(la.weights, lb.weights)
            np.testing.assert_array_equal(la.bias, lb.bias)
            assert not np.array_equal(la.weights, lc.weights)


def test_fit_returns_the_model_and_changes_its_parameters():
    x, labels = _bars(32, seed=2)
    model = _bars_model()
    model.init(9)
    initial = model.layers[0].weights.copy()
    assert fit(model, x, labels, epochs=1, batch=8, seed=9) is model
    assert model.layers[0].weights.shape == initial.shape
    assert not np.array_equal(model.layers[0].weights, initial)


def test_fit_separates_rows_from_columns():
    x, labels = _bars(256, seed=3)
    model = fit(_bars_model(), x, labels, epochs=30, batch=32, rate=1e-2, seed=0)
    train = accuracy(np.argmax(model.forward(x), axis=1), labels)
    assert train > 0.9
    x_test, labels_test = _bars(128, seed=4)
    assert accuracy(np.argmax(model.forward(x_test), axis=1), labels_test) > 0.9


def test_fit_separates_two_blobs_with_an_mlp():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 200)
    x = rng.normal(0, 0.5, (200, 2)) + np.where(labels[:, None] == 1, 1.5, -1.5)
    model = Sequential("blobs", (2,), [Dense(8), ReLU(), Dense(2)])
    fit(model, x, labels, epochs=20, batch=20, rate=1e-2, seed=1)
    assert accuracy(np.argmax(model.forward(x), axis=1), labels) > 0.9


def test_accuracy():
    assert accuracy([1, 2, 3], [1, 0, 3]) == 2 / 3
    assert accuracy(np.array([0, 0]), np.array([0, 0])) == 1.0
    assert accuracy([4], [5]) == 0.0
    assert isinstance(accuracy([1], [1]), float)
