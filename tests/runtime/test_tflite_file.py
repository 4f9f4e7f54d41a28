"""Reading .tflite files: the real models' structure, and clean refusals of broken files."""

import numpy as np
import pytest
from tflite_build import ModelBuilder
from tinynpu.runtime.tflite_file import ModelError, read_tflite

from tinynpu.wakeword import MODELS, model_path


@pytest.fixture(scope="module")
def okay_nabu():
    return model_path("okay_nabu").read_bytes()


def _small():
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 4), scale=0.1, zero_point=0)
    w = g.tensor((2, 4), scale=0.01, zero_point=0, data=np.arange(8).reshape(2, 4))
    y = g.tensor((1, 2), scale=0.2, zero_point=3)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions", FusedActivationFunction=1)
    g.inputs, g.outputs = [x], [y]
    return m.build()


def test_a_streaming_model_reads_with_its_state_subgraph(okay_nabu):
    model = read_tflite(okay_nabu)
    assert [g.name for g in model.subgraphs] == ["main", "NoOp"]
    ops = [op.opcode for op in model.main.operators]
    assert len(ops) == 61
    assert ops[:2] == ["CALL_ONCE", "VAR_HANDLE"] and ops[-2:] == ["LOGISTIC", "QUANTIZE"]
    assert ops.count("DEPTHWISE_CONV_2D") == 8 and ops.count("CONV_2D") == 6
    assert model.main.operators[0].options == {"InitSubgraphIndex": 1}
    conv = model.main.operators[14]
    assert conv.opcode == "CONV_2D" and conv.options["StrideH"] == 3
    weights = model.main.tensors[conv.inputs[1]]
    assert weights.shape == (64, 5, 1, 40) and weights.data.dtype == np.int8
    assert len(weights.scale) == 64 and not weights.zero_point.any()
    source = model.main.tensors[model.main.inputs[0]]
    assert (source.type, source.shape, int(source.zero_point[0])) == ("INT8", (1, 3, 40), -128)


@pytest.mark.parametrize("name", MODELS)
def test_every_bundled_model_reads(name):
    model = read_tflite(model_path(name).read_bytes())
    assert model.main.tensors[model.main.outputs[0]].type == "UINT8"


def test_a_file_of_another_format_is_refused():
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_tflite(b"\x89PNG\r\n\x1a\n" + bytes(64))
    with pytest.raises(ModelError, match="not a TFLite model"):
        read_tflite(b"")


def test_every_truncation_of_a_real_model_is_refused(okay_nabu):
    for cut in np.linspace(8, len(okay_nabu) - 1, 97).astype(int):
        with pytest.raises(ModelError, match=r"corrupt or truncated|has \d+ bytes of data"):
            read_tflite(okay_nabu[:cut])


def test_corrupted_bytes_read_or_are_refused_but_never_crash(okay_nabu):
    rng = np.random.default_rng(5)
    refused = 0
    for _ in range(150):
        data = bytearray(okay_nabu)
        for position in rng.integers(8, 4096, size=4):  # the tables, not the weights
            data[position] = int(rng.integers(0, 256))
        try:
            read_tflite(bytes(data))
        except ModelError:
            refused += 1
    assert refused > 0


def test_a_constant_of_the_wrong_size_is_refused():
    data = bytearray(_small())
    model = read_tflite(bytes(data))
    assert model.main.tensors[1].data.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]
    m = ModelBuilder()
    g = m.main
    g.tensor((2, 4), scale=0.01, zero_point=0, data=np.arange(8))
    m.buffers[1] = m.buffers[1][:5]
    with pytest.raises(ModelError, match=r"tensor 0 INT8\[2x4\] has 5 bytes of data, not 8"):
        read_tflite(m.build())


def test_an_operator_naming_a_missing_tensor_is_refused():
    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 4), scale=0.1, zero_point=0)
    g.op("LOGISTIC", [x], [7])
    with pytest.raises(ModelError, match="operator 0 names tensor 7 of 1"):
        read_tflite(m.build())
