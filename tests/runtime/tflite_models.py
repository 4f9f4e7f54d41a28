"""Random small int8 ``.tflite`` models across the runtime's op and attribute table.

:func:`generate` draws ``count`` models from a seed, cycling through the families below so
every family and attribute appears; each model comes with its inputs and a label of what it
exercises (``CONV_2D SAME s2 d1 RELU6 per-channel``). Scales are drawn so that every
output-stage ratio stays below one (the NPU shifts right only) while outputs still reach their
clamps now and then.
"""

import numpy as np
from tflite_build import ModelBuilder

ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
SAME, VALID = 0, 1


def _zp(rng):
    return int(rng.integers(-128, 128))


def _act(rng):
    return int(rng.choice(list(ACTIVATIONS)))


def _out_hw(size, kernel, stride, dilation, padding):
    effective = (kernel - 1) * dilation + 1
    if padding == SAME:
        return -(-size // stride)
    return (size - effective) // stride + 1


def _input(g, rng, shape, scale=None):
    scale = scale or float(rng.uniform(0.01, 0.1))
    return g.tensor(shape, scale=scale, zero_point=_zp(rng)), scale


def _window(rng, size_range=(1, 9)):
    while True:
        h, w = (int(v) for v in rng.integers(*size_range, size=2))
        k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        d = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
        p = int(rng.integers(0, 2))
        oh, ow = _out_hw(h, k[0], s[0], d[0], p), _out_hw(w, k[1], s[1], d[1], p)
        if oh >= 1 and ow >= 1:
            return h, w, k, s, d, p, oh, ow


def conv_2d(rng):
    m = ModelBuilder()
    g = m.main
    h, w, k, s, d, p, oh, ow = _window(rng)
    b, cin, cout = int(rng.integers(1, 3)), int(rng.integers(1, 13)), int(rng.integers(1, 13))
    x, sx = _input(g, rng, (b, h, w, cin))
    per_channel = bool(rng.integers(0, 2))
    sw = rng.uniform(0.002, 0.02, cout if per_channel else 1)
    weights = rng.integers(-127, 128, (cout, k[0], k[1], cin))
    wt = g.tensor(weights.shape, scale=sw, zero_point=0, axis=0, data=weights)
    bias = rng.integers(-2000, 2000, cout)
    bt = g.tensor((cout,), "INT32", scale=sx * sw, zero_point=0, data=bias)
    so = sx * float(sw.max()) * np.sqrt(k[0] * k[1] * cin) * float(rng.uniform(20, 90))
    y = g.tensor((b, oh, ow, cout), scale=so, zero_point=_zp(rng))
    act = _act(rng)
    g.op(
        "CONV_2D",
        [x, wt, bt],
        [y],
        "Conv2DOptions",
        Padding=p,
        StrideW=s[1],
        StrideH=s[0],
        DilationWFactor=d[1],
        DilationHFactor=d[0],
        FusedActivationFunction=act,
    )
    g.inputs, g.outputs = [x], [y]
    label = (
        f"CONV_2D {'SAME' if p == SAME else 'VALID'} k{k[0]}x{k[1]} s{s[0]}x{s[1]} "
        f"d{d[0]}x{d[1]} {ACTIVATIONS[act]} {'per-channel' if per_channel else 'per-tensor'}"
    )
    return m.build(), [(b, h, w, cin)], label


def depthwise_conv_2d(rng):
    m = ModelBuilder()
    g = m.main
    h, w, k, s, d, p, oh, ow = _window(rng)
    b, c, mult = int(rng.integers(1, 3)), int(rng.integers(1, 21)), int(rng.integers(1, 3))
    x, sx = _input(g, rng, (b, h, w, c))
    per_channel = bool(rng.integers(0, 2))
    sw = rng.uniform(0.002, 0.02, c * mult if per_channel else 1)
    weights = rng.integers(-127, 128, (1, k[0], k[1], c * mult))
    wt = g.tensor(weights.shape, scale=sw, zero_point=0, axis=3, data=weights)
    bias = rng.integers(-2000, 2000, c * mult)
    bt = g.tensor((c * mult,), "INT32", scale=sx * sw, zero_point=0, data=bias)
    so = sx * float(sw.max()) * np.sqrt(k[0] * k[1]) * float(rng.uniform(20, 90))
    y = g.tensor((b, oh, ow, c * mult), scale=so, zero_point=_zp(rng))
    act = _act(rng)
    g.op(
        "DEPTHWISE_CONV_2D",
        [x, wt, bt],
        [y],
        "DepthwiseConv2DOptions",
        Padding=p,
        StrideW=s[1],
        StrideH=s[0],
        DepthMultiplier=mult,
        DilationWFactor=d[1],
        DilationHFactor=d[0],
        FusedActivationFunction=act,
    )
    g.inputs, g.outputs = [x], [y]
    label = (
        f"DEPTHWISE_CONV_2D {'SAME' if p == SAME else 'VALID'} c{c} m{mult} "
        f"k{k[0]}x{k[1]} s{s[0]}x{s[1]} d{d[0]}x{d[1]} {ACTIVATIONS[act]}"
    )
    return m.build(), [(b, h, w, c)], label


def fully_connected(rng):
    m = ModelBuilder()
    g = m.main
    rows, k, n = int(rng.integers(1, 4)), int(rng.integers(1, 65)), int(rng.integers(1, 21))
    x, sx = _input(g, rng, (rows, k))
    per_channel = bool(rng.integers(0, 2))
    sw = rng.uniform(0.002, 0.02, n if per_channel else 1)
    weights = rng.integers(-127, 128, (n, k))
    wt = g.tensor(weights.shape, scale=sw, zero_point=0, axis=0, data=weights)
    inputs = [x, wt]
    with_bias = bool(rng.integers(0, 2))
    if with_bias:
        inputs.append(
            g.tensor((n,), "INT32", scale=sx * sw, zero_point=0, data=rng.integers(-3000, 3000, n))
        )
    so = sx * float(sw.max()) * np.sqrt(k) * float(rng.uniform(20, 90))
    y = g.tensor((rows, n), scale=so, zero_point=_zp(rng))
    act = _act(rng)
    g.op("FULLY_CONNECTED", inputs, [y], "FullyConnectedOptions", FusedActivationFunction=act)
    g.inputs, g.outputs = [x], [y]
    label = (
        f"FULLY_CONNECTED {rows}x{k}x{n} {ACTIVATIONS[act]} "
        f"{'per-channel' if per_channel else 'per-tensor'}{' bias' * with_bias}"
    )
    return m.build(), [(rows, k)], label


def _pool(rng, opcode):
    m = ModelBuilder()
    g = m.main
    while True:
        h, w = (int(v) for v in rng.integers(1, 9, size=2))
        f = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        s = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        p = int(rng.integers(0, 2))
        oh, ow = _out_hw(h, f[0], s[0], 1, p), _out_hw(w, f[1], s[1], 1, p)
        if oh >= 1 and ow >= 1:
            break
    b, c = int(rng.integers(1, 3)), int(rng.integers(1, 21))
    x, sx = _input(g, rng, (b, h, w, c))
    zp = g.tensors[x][3][0]
    y = g.tensor((b, oh, ow, c), scale=sx, zero_point=int(zp))
    act = _act(rng)
    g.op(
        opcode,
        [x],
        [y],
        "Pool2DOptions",
        Padding=p,
        StrideW=s[1],
        StrideH=s[0],
        FilterWidth=f[1],
        FilterHeight=f[0],
        FusedActivationFunction=act,
    )
    g.inputs, g.outputs = [x], [y]
    label = (
        f"{opcode} {'SAME' if p == SAME else 'VALID'} f{f[0]}x{f[1]} s{s[0]}x{s[1]} "
        f"c{c} {ACTIVATIONS[act]}"
    )
    return m.build(), [(b, h, w, c)], label


def average_pool_2d(rng):
    return _pool(rng, "AVERAGE_POOL_2D")


def max_pool_2d(rng):
    return _pool(rng, "MAX_POOL_2D")


def _shape(rng, rank=None):
    rank = rank or int(rng.integers(1, 5))
    return tuple(int(v) for v in rng.integers(1, 7, size=rank))


def concatenation(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng)
    axis = int(rng.integers(0, len(shape)))
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    parts, shapes = [], []
    for _ in range(int(rng.integers(2, 4))):
        part = list(shape)
        part[axis] = int(rng.integers(1, 5))
        shapes.append(tuple(part))
        parts.append(g.tensor(part, scale=scale, zero_point=zp))
    out = list(shape)
    out[axis] = sum(s[axis] for s in shapes)
    y = g.tensor(out, scale=scale, zero_point=zp)
    negative = bool(rng.integers(0, 2))
    g.op(
        "CONCATENATION",
        parts,
        [y],
        "ConcatenationOptions",
        Axis=axis - len(shape) if negative else axis,
        FusedActivationFunction=0,
    )
    g.inputs, g.outputs = parts, [y]
    return m.build(), shapes, f"CONCATENATION axis {axis} of {len(shape)}-D, {len(parts)} inputs"


def strided_slice(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng)
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    begin, end, strides, slices, out = [], [], [], [], []
    begin_mask = end_mask = shrink = 0
    for axis, size in enumerate(shape):
        bit = 1 << axis
        step = int(rng.choice([1, 1, 2, 3, -1, -2]))
        if step > 0 and rng.random() < 0.15:
            first = int(rng.integers(0, size))
            begin.append(first - size if rng.random() < 0.5 else first)  # negative: from the end
            end.append(first + 1)
            strides.append(1)
            shrink |= bit
            slices.append(first)
            continue
        if step > 0:
            lo = int(rng.integers(0, size))
            hi = int(rng.integers(lo + 1, size + 1))
            if rng.random() < 0.2:
                begin_mask |= bit
                lo = 0
            if rng.random() < 0.2:
                end_mask |= bit
                hi = size
            begin.append(lo - size if rng.random() < 0.3 else lo)
            end.append(hi)
            slices.append(slice(lo, hi, step))
        else:
            hi = int(rng.integers(0, size))
            if hi == 0 or rng.random() < 0.3:
                end_mask |= bit
                lo = None
            else:
                lo = int(rng.integers(0, hi))
            begin.append(hi)
            end.append(0 if lo is None else lo)
            slices.append(slice(hi, lo, step))
        strides.append(step)
        out.append(len(range(size)[slices[-1]]))
    if not out:
        return strided_slice(rng)
    y = g.tensor(out, scale=scale, zero_point=zp)
    consts = [g.tensor((len(shape),), "INT32", data=v) for v in (begin, end, strides)]
    g.op(
        "STRIDED_SLICE",
        [x, *consts],
        [y],
        "StridedSliceOptions",
        BeginMask=begin_mask,
        EndMask=end_mask,
        ShrinkAxisMask=shrink,
    )
    g.inputs, g.outputs = [x], [y]
    return m.build(), [shape], f"STRIDED_SLICE {len(shape)}-D strides {strides} shrink {shrink}"


def split(rng):
    m = ModelBuilder()
    g = m.main
    shape = list(_shape(rng))
    axis = int(rng.integers(0, len(shape)))
    count = int(rng.integers(1, 4))
    shape[axis] *= count
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    part = list(shape)
    part[axis] //= count
    outs = [g.tensor(part, scale=scale, zero_point=zp) for _ in range(count)]
    a = g.tensor((), "INT32", data=np.int32(axis))
    g.op("SPLIT", [a, x], outs, "SplitOptions", NumSplits=count)
    g.inputs, g.outputs = [x], outs
    return m.build(), [tuple(shape)], f"SPLIT axis {axis} in {count}"


def split_v(rng):
    m = ModelBuilder()
    g = m.main
    shape = list(_shape(rng))
    axis = int(rng.integers(0, len(shape)))
    sizes = [int(v) for v in rng.integers(1, 4, size=int(rng.integers(1, 4)))]
    shape[axis] = sum(sizes)
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    outs = []
    for size in sizes:
        part = list(shape)
        part[axis] = size
        outs.append(g.tensor(part, scale=scale, zero_point=zp))
    written = list(sizes)
    if len(sizes) > 1 and rng.random() < 0.5:
        written[int(rng.integers(0, len(sizes)))] = -1
    st = g.tensor((len(sizes),), "INT32", data=written)
    a = g.tensor((), "INT32", data=np.int32(axis))
    g.op("SPLIT_V", [x, st, a], outs, "SplitVOptions", NumSplits=len(sizes))
    g.inputs, g.outputs = [x], outs
    return m.build(), [tuple(shape)], f"SPLIT_V axis {axis} sizes {written}"


def pad(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng, int(rng.integers(1, 5)))
    paddings = rng.integers(0, 3, size=(len(shape), 2))
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    out = tuple(int(s + p.sum()) for s, p in zip(shape, paddings, strict=True))
    y = g.tensor(out, scale=scale, zero_point=zp)
    pt = g.tensor(paddings.shape, "INT32", data=paddings)
    g.op("PAD", [x, pt], [y], "PadOptions")
    g.inputs, g.outputs = [x], [y]
    return m.build(), [shape], f"PAD {len(shape)}-D {paddings.tolist()}"


def transpose(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng, int(rng.integers(2, 5)))
    perm = [int(p) for p in rng.permutation(len(shape))]
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    y = g.tensor([shape[p] for p in perm], scale=scale, zero_point=zp)
    g.op("TRANSPOSE", [x, g.tensor((len(perm),), "INT32", data=perm)], [y], "TransposeOptions")
    g.inputs, g.outputs = [x], [y]
    return m.build(), [shape], f"TRANSPOSE {perm}"


def pack(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng, int(rng.integers(1, 4)))
    count, axis = int(rng.integers(1, 4)), int(rng.integers(0, len(shape) + 1))
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    parts = [g.tensor(shape, scale=scale, zero_point=zp) for _ in range(count)]
    out = [*shape[:axis], count, *shape[axis:]]
    y = g.tensor(out, scale=scale, zero_point=zp)
    g.op("PACK", parts, [y], "PackOptions", ValuesCount=count, Axis=axis)
    g.inputs, g.outputs = parts, [y]
    return m.build(), [shape] * count, f"PACK {count} on axis {axis}"


def unpack(rng):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng, int(rng.integers(2, 5)))
    axis = int(rng.integers(0, len(shape)))
    scale, zp = float(rng.uniform(0.01, 0.1)), _zp(rng)
    x = g.tensor(shape, scale=scale, zero_point=zp)
    part = [s for i, s in enumerate(shape) if i != axis]
    outs = [g.tensor(part, scale=scale, zero_point=zp) for _ in range(shape[axis])]
    g.op("UNPACK", [x], outs, "UnpackOptions", Num=shape[axis], Axis=axis)
    g.inputs, g.outputs = [x], outs
    return m.build(), [shape], f"UNPACK axis {axis} of {len(shape)}-D"


def reshape_chain(rng):
    """RESHAPE and SQUEEZE between two FULLY_CONNECTED: aliases inside one job."""
    m = ModelBuilder()
    g = m.main
    k = int(rng.integers(2, 33))
    x, sx = _input(g, rng, (1, 1, 1, k))
    r = g.tensor((1, k), scale=sx, zero_point=g.tensors[x][3][0])
    shape = g.tensor((2,), "INT32", data=[1, k])
    g.op("RESHAPE", [x, shape], [r], "ReshapeOptions", NewShape=[1, k])
    n = int(rng.integers(1, 17))
    w = rng.integers(-127, 128, (n, k))
    wt = g.tensor(w.shape, scale=0.01, zero_point=0, data=w)
    so = sx * 0.01 * np.sqrt(k) * 40
    y = g.tensor((1, n), scale=so, zero_point=_zp(rng))
    g.op("FULLY_CONNECTED", [r, wt], [y], "FullyConnectedOptions", FusedActivationFunction=1)
    e = g.tensor((1, 1, n), scale=so, zero_point=g.tensors[y][3][0])
    g.op(
        "RESHAPE",
        [y, g.tensor((3,), "INT32", data=[1, 1, n])],
        [e],
        "ReshapeOptions",
        NewShape=[1, 1, n],
    )
    s = g.tensor((n,), scale=so, zero_point=g.tensors[y][3][0])
    g.op("SQUEEZE", [e], [s], "SqueezeOptions", SqueezeDims=[0, 1])
    g.inputs, g.outputs = [x], [s]
    return m.build(), [(1, 1, 1, k)], "RESHAPE FULLY_CONNECTED RESHAPE SQUEEZE"


def _elementwise(rng, opcode):
    m = ModelBuilder()
    g = m.main
    shape = _shape(rng)
    x, _ = _input(g, rng, shape, float(rng.uniform(0.01, 0.3)))
    inputs, shapes, options = [x], [shape], {}
    if opcode in ("RELU", "RELU6"):
        y = g.tensor(shape, scale=float(rng.uniform(0.01, 0.3)), zero_point=_zp(rng))
    elif opcode in ("LOGISTIC", "SOFTMAX"):
        y = g.tensor(shape, scale=1 / 256, zero_point=-128)
        if opcode == "SOFTMAX":
            options = {"options": "SoftmaxOptions", "Beta": float(rng.choice([1.0, 0.5, 2.0]))}
    elif opcode in ("ADD", "MUL"):
        other = tuple(1 if rng.random() < 0.3 else s for s in shape)
        x2, _ = _input(g, rng, other)
        inputs.append(x2)
        shapes.append(other)
        y = g.tensor(shape, scale=float(rng.uniform(0.05, 0.3)), zero_point=_zp(rng))
        options = {
            "options": "AddOptions" if opcode == "ADD" else "MulOptions",
            "FusedActivationFunction": int(rng.integers(0, 4)),
        }
    elif opcode == "QUANTIZE":
        kind = str(rng.choice(["INT8", "UINT8"]))
        zp = _zp(rng) + (128 if kind == "UINT8" else 0)
        y = g.tensor(shape, kind, scale=float(rng.uniform(0.01, 0.3)), zero_point=zp)
    else:  # DEQUANTIZE
        y = g.tensor(shape, "FLOAT32")
    name = options.pop("options", None)
    g.op(opcode, inputs, [y], name, **options)
    g.inputs, g.outputs = inputs, [y]
    return m.build(), shapes, f"{opcode} {len(shape)}-D"


def logistic(rng):
    return _elementwise(rng, "LOGISTIC")


def softmax(rng):
    return _elementwise(rng, "SOFTMAX")


def add(rng):
    return _elementwise(rng, "ADD")


def mul(rng):
    return _elementwise(rng, "MUL")


def relu(rng):
    return _elementwise(rng, str(rng.choice(["RELU", "RELU6"])))


def quantize(rng):
    return _elementwise(rng, "QUANTIZE")


def dequantize(rng):
    return _elementwise(rng, "DEQUANTIZE")


def network(rng):
    """CONV_2D, DEPTHWISE_CONV_2D, AVERAGE_POOL_2D, FULLY_CONNECTED, SOFTMAX in a row."""
    m = ModelBuilder()
    g = m.main
    h = w = int(rng.integers(4, 9))
    cin, c = int(rng.integers(1, 5)), int(rng.integers(2, 17))
    x, sx = _input(g, rng, (1, h, w, cin))
    w1 = rng.integers(-127, 128, (c, 3, 3, cin))
    t1 = g.tensor(w1.shape, scale=0.01, zero_point=0, data=w1)
    s1 = sx * 0.01 * np.sqrt(9 * cin) * 40
    y1 = g.tensor((1, h, w, c), scale=s1, zero_point=-128)
    g.op(
        "CONV_2D",
        [x, t1],
        [y1],
        "Conv2DOptions",
        Padding=SAME,
        StrideW=1,
        StrideH=1,
        DilationWFactor=1,
        DilationHFactor=1,
        FusedActivationFunction=1,
    )
    w2 = rng.integers(-127, 128, (1, 3, 3, c))
    t2 = g.tensor(w2.shape, scale=rng.uniform(0.005, 0.02, c), zero_point=0, axis=3, data=w2)
    s2 = s1 * 0.02 * 3 * 40
    oh = -(-h // 2)
    y2 = g.tensor((1, oh, oh, c), scale=s2, zero_point=_zp(rng))
    g.op(
        "DEPTHWISE_CONV_2D",
        [y1, t2],
        [y2],
        "DepthwiseConv2DOptions",
        Padding=SAME,
        StrideW=2,
        StrideH=2,
        DepthMultiplier=1,
        DilationWFactor=1,
        DilationHFactor=1,
        FusedActivationFunction=3,
    )
    y3 = g.tensor((1, 1, 1, c), scale=s2, zero_point=g.tensors[y2][3][0])
    g.op(
        "AVERAGE_POOL_2D",
        [y2],
        [y3],
        "Pool2DOptions",
        Padding=VALID,
        StrideW=1,
        StrideH=1,
        FilterWidth=oh,
        FilterHeight=oh,
        FusedActivationFunction=0,
    )
    n = int(rng.integers(2, 11))
    w4 = rng.integers(-127, 128, (n, c))
    t4 = g.tensor(w4.shape, scale=0.01, zero_point=0, data=w4)
    y4 = g.tensor((1, n), scale=s2 * 0.01 * np.sqrt(c) * 30, zero_point=_zp(rng))
    g.op("FULLY_CONNECTED", [y3, t4], [y4], "FullyConnectedOptions", FusedActivationFunction=0)
    y5 = g.tensor((1, n), scale=1 / 256, zero_point=-128)
    g.op("SOFTMAX", [y4], [y5], "SoftmaxOptions", Beta=1.0)
    g.inputs, g.outputs = [x], [y5]
    return m.build(), [(1, h, w, cin)], f"network {h}x{w}x{cin} c{c} n{n}"


FAMILIES = [
    conv_2d,
    conv_2d,
    conv_2d,
    depthwise_conv_2d,
    depthwise_conv_2d,
    fully_connected,
    fully_connected,
    average_pool_2d,
    average_pool_2d,
    max_pool_2d,
    concatenation,
    strided_slice,
    split,
    split_v,
    pad,
    transpose,
    pack,
    unpack,
    reshape_chain,
    logistic,
    softmax,
    add,
    mul,
    relu,
    quantize,
    dequantize,
    network,
]


def generate(seed, count):
    """``count`` models from ``seed``: ``(label, model bytes, input shapes, inputs)``."""
    rng = np.random.default_rng(seed)
    models = []
    for i in range(count):
        data, shapes, label = FAMILIES[i % len(FAMILIES)](rng)
        inputs = [rng.integers(-128, 128, shape).astype(np.int8) for shape in shapes]
        models.append((label, data, inputs))
    return models


def edge_cases(seed):
    """Fixed models at the corners the random families rarely reach: ``generate``'s format."""
    rng = np.random.default_rng(seed)
    models = []

    # A shrunk axis whose begin is masked reads index 0, whatever begin says.
    m = ModelBuilder()
    g = m.main
    x = g.tensor((4, 5), scale=0.05, zero_point=3)
    y = g.tensor((5,), scale=0.05, zero_point=3)
    bounds = [g.tensor((2,), "INT32", data=v) for v in ([2, 0], [3, 5], [1, 1])]
    g.op("STRIDED_SLICE", [x, *bounds], [y], "StridedSliceOptions", BeginMask=1, ShrinkAxisMask=1)
    g.inputs, g.outputs = [x], [y]
    models.append(("STRIDED_SLICE shrink with begin mask", m.build(), [(4, 5)]))

    # A constant reshaped feeds the CPU (ADD) and the DMA (CONCATENATION).
    m = ModelBuilder()
    g = m.main
    x = g.tensor((2, 3), scale=0.05, zero_point=1)
    c = g.tensor((6,), scale=0.05, zero_point=1, data=rng.integers(-128, 128, 6))
    r = g.tensor((2, 3), scale=0.05, zero_point=1)
    g.op(
        "RESHAPE", [c, g.tensor((2,), "INT32", data=[2, 3])], [r], "ReshapeOptions", NewShape=[2, 3]
    )
    s = g.tensor((2, 3), scale=0.1, zero_point=-2)
    g.op("ADD", [x, r], [s], "AddOptions", FusedActivationFunction=0)
    j = g.tensor((4, 3), scale=0.05, zero_point=1)
    g.op("CONCATENATION", [x, r], [j], "ConcatenationOptions", Axis=0)
    g.inputs, g.outputs = [x], [s, j]
    models.append(("RESHAPE of a constant into ADD and CONCATENATION", m.build(), [(2, 3)]))

    # Operators written without their options table take the schema's defaults.
    for opcode in ("ADD", "MUL"):
        m = ModelBuilder()
        g = m.main
        a, b = (g.tensor((2, 3), scale=0.05, zero_point=1) for _ in range(2))
        y = g.tensor((2, 3), scale=0.5, zero_point=1)
        g.op(opcode, [a, b], [y])
        g.inputs, g.outputs = [a, b], [y]
        models.append((f"{opcode} without options", m.build(), [(2, 3), (2, 3)]))

    # A zero per-channel weight scale: that channel's outputs are its zero point.
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 4, 4, 3), scale=0.05, zero_point=0)
    w = g.tensor(
        (2, 3, 3, 3),
        scale=[0.01, 0.0],
        zero_point=0,
        axis=0,
        data=rng.integers(-127, 128, (2, 3, 3, 3)),
    )
    y = g.tensor((1, 4, 4, 2), scale=0.1, zero_point=-5)
    g.op(
        "CONV_2D",
        [x, w],
        [y],
        "Conv2DOptions",
        Padding=SAME,
        StrideW=1,
        StrideH=1,
        DilationWFactor=1,
        DilationHFactor=1,
        FusedActivationFunction=0,
    )
    g.inputs, g.outputs = [x], [y]
    models.append(("CONV_2D with a zero weight scale", m.build(), [(1, 4, 4, 3)]))

    # Softmax over a thousand classes (the rounding shift of a probability passes 31).
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 1000), scale=0.1, zero_point=0)
    y = g.tensor((1, 1000), scale=1 / 256, zero_point=-128)
    g.op("SOFTMAX", [x], [y], "SoftmaxOptions", Beta=1.0)
    g.inputs, g.outputs = [x], [y]
    models.append(("SOFTMAX of 1000 classes", m.build(), [(1, 1000)]))
    return [
        (label, data, [rng.integers(-128, 128, shape).astype(np.int8) for shape in shapes])
        for label, data, shapes in models
    ]
