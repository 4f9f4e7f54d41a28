"""The ``tinynpu`` command line, run in-process (no simulator; at most two elaborations)."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from tinynpu.rtl.config import MEM_ADDR_WIDTH, PARAMETERS, NpuConfig
from tinynpu.rtl.regmap import CP, HOST
from tinynpu.rtl.regmap.export import abi_listing
from tinynpu.sim import build
from tinynpu.sim.build import elaborate

import tinynpu
from tinynpu import cli
from tinynpu.cli import build_parser, main

CHECKOUT = Path(__file__).resolve().parent.parent


def _exit_code(argv):
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value.code


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["verilog", "--array", "3"],
            "Parameter array_size must be a power of two between 2 and 32, not 3",
        ),
        (
            ["verilog", "--spad-in", "3k"],
            "Parameter spad_in_bytes must be a power of two between 1024 and 262144 bytes, "
            "not 3072",
        ),
        (
            ["verilog", "--addr-spaces", "0"],
            "Parameter addr_spaces must be an integer between 1 and 16, not 0",
        ),
        (
            ["verilog", "--array", "32", "--spad-acc", "4KiB"],
            "Parameter spad_acc_bytes must hold two halves of one tile for array_size 32 and a "
            "64-bit bus: at least 8192 bytes, not 4096",
        ),
        (
            ["demo", "--bus-width", "48"],
            "Parameter mem_data_width must be a power of two between 32 and 256 bits, not 48",
        ),
        (
            ["bench", "--queue-depth", "3"],
            "Parameter queue_depth must be a power of two between 2 and 64, not 3",
        ),
    ],
)
def test_invalid_configuration_exits_2_with_message(capsys, argv, message):
    assert _exit_code(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"tinynpu: error: {message}\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["verilog", "--spad-in", "3x"], "argument --spad-in: not a size: '3x' (try 16384 or 16k)"),
        (["verilog", "--spad-wt", "1.5k"], "argument --spad-wt: not a size: '1.5k'"),
        (["verilog", "--array", "eight"], "argument --array: invalid int value: 'eight'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["demo", "--samples", "0"], "argument --samples: 0 is not a positive number"),
        (["demo", "--batch", "-2"], "argument --batch: -2 is not a positive number"),
        (["demo", "--model", "resnet"], "argument --model: invalid choice: 'resnet'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_malformed_arguments_are_usage_errors(capsys, argv, message):
    assert _exit_code(argv) == 2
    _, err = capsys.readouterr()
    assert err.startswith("usage: tinynpu")
    assert message in err


#: The co-simulation tests' small configuration (``tests/cosim/configs.py``): its Verilog is
#: in the build cache once their build has run.
SMALL = NpuConfig(
    array_size=4,
    mem_data_width=32,
    addr_spaces=2,
    tlb_entries=8,
    spad_in_bytes=4096,
    spad_wt_bytes=8192,
    spad_acc_bytes=32768,
    queue_depth=4,
)


def test_verilog_to_file_comes_from_the_build_cache(tmp_path, capsys, monkeypatch):
    cached = elaborate(SMALL).read_text()

    def emit(config):
        raise AssertionError("tinynpu verilog elaborated a configuration the cache holds")

    monkeypatch.setattr(build, "emit_verilog", emit)
    flags = [str(v) for name, f in cli._FLAGS.items() for v in (f, getattr(SMALL, name))]
    output = tmp_path / "npu.v"
    assert main(["verilog", *flags, "-o", str(output)]) is None
    text = output.read_text()
    assert text == cached
    assert "module tinynpu_top(" in text
    assert "host__awaddr" in text
    assert "mem__araddr" in text
    assert "input [15:0] host__awaddr;" in text  # the 64 KiB host window
    assert "input [31:0] mem__rdata;" in text
    assert f"output [{MEM_ADDR_WIDTH - 1}:0] mem__araddr;" in text
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"wrote {output}\n"


#: Elaborated by tests/sim/test_amaranth_fixes.py too: the build cache emits it once for both.
TINY = NpuConfig.smallest()


def test_verilog_to_stdout_follows_bus_width(capsys):
    flags = [str(v) for name, f in cli._FLAGS.items() for v in (f, getattr(TINY, name))]
    assert flags[2:4] == ["--bus-width", "32"]
    assert main(["verilog", *flags]) is None
    out, err = capsys.readouterr()
    assert err == ""
    assert "module tinynpu_top(" in out
    assert "input [31:0] mem__rdata;" in out
    assert "output [31:0] mem__wdata;" in out


def test_regs_writes_header_markdown_and_abi(tmp_path, capsys):
    directory = tmp_path / "docs"
    assert main(["regs", "-o", str(directory)]) is None
    names = [f"tinynpu_{m}.{ext}" for m in ("host", "cp") for ext in ("h", "md", "abi.txt")]
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)
    out, _ = capsys.readouterr()
    assert out.splitlines() == [str(directory / name) for name in names]

    header = (directory / "tinynpu_host.h").read_text()
    assert "#define NPU_HOST__INT_MASK__JOB_DONE_bm 0x1" in header
    assert "#define NPU_HOST__INT_MASK__BUS_ERROR_bm 0x8" in header
    markdown = (directory / "tinynpu_host.md").read_text()
    assert "int_raw_status" in markdown
    assert "## npu_host address map" in markdown
    assert (directory / "tinynpu_host.abi.txt").read_text() == abi_listing(HOST)
    assert (directory / "tinynpu_cp.abi.txt").read_text() == abi_listing(CP)
    assert "#define NPU_CP__ENTRY_POP__POP_bm 0x1" in (directory / "tinynpu_cp.h").read_text()


def test_run_without_a_program_file_is_a_usage_error(tmp_path, capsys):
    missing = tmp_path / "nothing.py"
    assert _exit_code(["run", str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"tinynpu: error: {missing}: no such program file\n"


def test_version(capsys):
    assert _exit_code(["--version"]) == 0
    out, err = capsys.readouterr()
    assert out == f"tinynpu {tinynpu.__version__}\n"
    assert err == ""


def test_help_shows_examples_and_environment(capsys):
    assert _exit_code(["--help"]) == 0
    out, _ = capsys.readouterr()
    assert "usage: tinynpu [-h] [--version] COMMAND ..." in out
    assert "register-level simulator of a generic NPU" in out
    examples = out.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    for command in ("verilog", "regs", "docs", "demo", "run", "bench"):
        assert f"  tinynpu {command}" in examples
    environment = out.split("environment:\n", 1)[1]
    for variable in ("WAVES=1", "dump.fst", "TINYNPU_BUILD_DIR", "CXX, CC", "BENCH_*"):
        assert variable in environment


def test_bench_help_names_its_environment(capsys):
    assert _exit_code(["bench", "--help"]) == 0
    out, _ = capsys.readouterr()
    for variable in ("BENCH_SEED", "BENCH_IDLE_CYCLES", "BENCH_MMIO_READS", "BENCH_NOP_JOBS"):
        assert f"  {variable} " in out


# Each costs 0.1 s or more to import; the parser, and so every --help, must do without them.
HEAVY = ("amaranth", "cocotb", "cocotb_tools", "cocotbext", "numpy", "pytest", "systemrdl")


def test_parser_imports_no_heavy_module():
    script = (
        "import sys, tinynpu.cli\n"
        "parser = tinynpu.cli.build_parser()\n"
        "parser.format_help()\n"
        "for name in ('verilog', 'regs', 'docs', 'demo', 'run', 'bench', 'model'):\n"
        "    try:\n"
        "        parser.parse_args([name, '--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('\\n'.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    modules = result.stderr.split()
    assert "tinynpu.cli" in modules
    heavy = [m for m in modules if m.split(".")[0] in HEAVY or m.startswith("tinynpu.sim")]
    assert heavy == []


def _subparsers():
    (action,) = (a for a in build_parser()._actions if a.dest == "command")
    return action.choices


def test_configuration_flags_follow_rtl_config():
    # The flag table holds names only: descriptions, ranges and defaults come from rtl.config.
    assert list(cli._FLAGS) == list(PARAMETERS)
    assert [field.name for field in dataclasses.fields(NpuConfig)] == list(PARAMETERS)
    defaults = NpuConfig()
    with_config = {}
    for command, parser in _subparsers().items():
        actions = {a.dest: a for a in parser._actions if a.dest in PARAMETERS}
        if not actions:
            continue
        with_config[command] = parser
        assert list(actions) == list(PARAMETERS)
        for name, action in actions.items():
            allowed, what = PARAMETERS[name]
            assert action.option_strings == [cli._FLAGS[name]]
            assert action.default is None
            assert action.help == (
                f"{what}: {allowed.describe()} (default {getattr(defaults, name)})"
            )
    assert sorted(with_config) == ["bench", "demo", "run", "verilog"]
    args = build_parser().parse_args(["verilog"])
    assert cli._config(args) == defaults


def test_demo_table_follows_the_demo():
    from tinynpu.runtime.digits import MODELS

    from tinynpu.demo import DEFAULT_SAMPLES

    assert tuple(sorted(MODELS)) == cli._DEMO_MODELS
    assert cli._DEMO_SAMPLES == DEFAULT_SAMPLES


@pytest.mark.parametrize("samples", ["3", "192"])  # 192, the default, is a shared small int
def test_demo_full_and_samples_conflict(capsys, samples):
    assert _exit_code(["demo", "--full", "--samples", samples]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("usage: tinynpu demo")
    assert "argument --samples: not allowed with argument --full" in err


def _record(monkeypatch, module, name, result=None):
    calls = []

    def record(*args, **kwargs):
        calls.append((args, kwargs))
        return result

    monkeypatch.setattr(module, name, record)
    return calls


def test_demo_passes_configuration_and_options(monkeypatch):
    import tinynpu.demo

    calls = _record(monkeypatch, tinynpu.demo, "run_demo", result=True)
    main(["demo", "--array", "4", "--model", "mlp", "--model", "mlp", "--full", "--batch", "8"])
    main(["demo", "--samples", "10", "--trace"])
    main(["demo"])
    assert calls == [
        (
            (NpuConfig(array_size=4),),
            {"models": ["mlp"], "batch": 8, "trace": False, "samples": None},
        ),
        ((NpuConfig(),), {"models": None, "batch": 64, "trace": True, "samples": 10}),
        ((NpuConfig(),), {"models": None, "batch": 64, "trace": False}),
    ]


def test_demo_mismatch_exits_1(monkeypatch):
    import tinynpu.demo

    _record(monkeypatch, tinynpu.demo, "run_demo", result=False)
    assert _exit_code(["demo"]) == 1


def test_run_passes_configuration(monkeypatch, tmp_path):
    import tinynpu.run

    script = tmp_path / "prog.py"
    script.write_text("async def main(system, args):\n    pass\n")
    calls = _record(monkeypatch, tinynpu.run, "run_script")
    main(["run", "--bus-width", "128", "--trace", str(script), "--array", "4", "x"])
    assert calls == [
        ((NpuConfig(mem_data_width=128), str(script), ["--array", "4", "x"]), {"trace": True})
    ]


@pytest.fixture
def bench_calls(monkeypatch):
    import tinynpu.bench
    import tinynpu.bench_compute
    import tinynpu.demo

    monkeypatch.delenv("WAVES", raising=False)
    demo = tinynpu.demo.DemoResult(exact=True, wall_s=2.0, cycles=1000)
    monkeypatch.setattr(tinynpu.demo, "run_demo", lambda config, **_: demo)
    monkeypatch.setattr(tinynpu.bench, "speed_summary", lambda *args: None)
    return (
        _record(monkeypatch, tinynpu.bench, "run_bench", result={}),
        _record(monkeypatch, tinynpu.bench_compute, "run_compute_bench", result=[]),
    )


def test_bench_with_configuration_flags_benchmarks_that_configuration(bench_calls):
    jobs, compute = bench_calls
    main(["bench", "--array", "16", "--bus-width", "128"])
    config = NpuConfig(array_size=16, mem_data_width=128)
    assert jobs == [((config,), {})]
    assert compute == [(([config],), {})]


def test_bench_flag_equal_to_the_default_still_selects_one_configuration(bench_calls):
    jobs, compute = bench_calls
    main(["bench", "--array", "8"])
    assert jobs == [((NpuConfig(),), {})]
    assert compute == [(([NpuConfig()],), {})]


def test_bench_without_configuration_flags_runs_the_compute_configurations(bench_calls):
    jobs, compute = bench_calls
    main(["bench"])
    assert jobs == [((NpuConfig(),), {})]
    assert compute == [((), {})]  # run_compute_bench's own default, bench_compute.CONFIGS


def test_bench_refuses_waves(bench_calls, monkeypatch, capsys):
    monkeypatch.setenv("WAVES", "1")
    assert _exit_code(["bench"]) == 2
    _, err = capsys.readouterr()
    assert err == (
        "tinynpu: error: bench measures simulation speed; unset WAVES "
        "(tracing slows the simulation)\n"
    )
    assert bench_calls == ([], [])


@pytest.fixture
def outputs(monkeypatch, tmp_path):
    """Record where docs and regs would write; the build root is tmp_path/root."""
    import tinynpu.rtl.regmap.export
    import tinynpu.sim.build

    import tinynpu.docgen

    root = tmp_path / "root"
    monkeypatch.setattr(tinynpu.sim.build, "build_root", lambda: root)
    docs = _record(monkeypatch, tinynpu.docgen, "write_reference", result=[])
    regs = _record(monkeypatch, tinynpu.rtl.regmap.export, "export_all", result=[])
    return root, docs, regs


def test_default_outputs_outside_the_checkout_are_under_the_build_root(
    outputs, monkeypatch, tmp_path
):
    root, docs, regs = outputs
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    main(["docs"])
    main(["regs"])
    assert docs == [((root / "docs" / "reference",), {})]
    assert regs == [((root / "docs",), {})]
    assert list(elsewhere.iterdir()) == []


def test_docs_default_inside_the_checkout_is_its_docs_reference(outputs, monkeypatch):
    root, docs, regs = outputs
    monkeypatch.chdir(CHECKOUT / "tests")
    main(["docs"])
    main(["regs"])
    assert docs == [((CHECKOUT / "docs" / "reference",), {})]
    assert regs == [((root / "docs",), {})]


def test_docs_default_of_an_installed_package_is_under_the_build_root(outputs, monkeypatch):
    root, docs, _ = outputs
    monkeypatch.setattr(cli, "_checkout", lambda: None)
    monkeypatch.chdir(CHECKOUT)
    main(["docs"])
    assert docs == [((root / "docs" / "reference",), {})]


def test_explicit_output_is_kept(outputs, monkeypatch, tmp_path):
    _, docs, regs = outputs
    monkeypatch.chdir(tmp_path)
    main(["docs", "-o", "here"])
    main(["regs", "-o", "there"])
    assert docs == [((Path("here"),), {})]
    assert regs == [((Path("there"),), {})]


def test_model_table_follows_the_wakeword_models():
    from tinynpu.wakeword import MODELS

    assert ", ".join(MODELS) == cli._WAKEWORDS


def test_model_info_prints_the_partition(capsys):
    main(["model", "info", "okay_nabu", "--array", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "okay_nabu: 80,824 bytes, 2 subgraphs, 61 operators; inputs INT8[1x3x40]; "
        "outputs UINT8[1x1]"
    )
    rows = {int(line.split()[0]): line.split() for line in lines[2:-1]}
    assert rows[14][:4] == ["14", "CONV_2D", "npu", "12800"]
    assert rows[56][:4] == ["56", "DEPTHWISE_CONV_2D", "npu", "1088"]
    assert " ".join(rows[56][5:]) == "16 groups of 4 channels, block-diagonal weights"
    assert rows[59][:3] == ["59", "LOGISTIC", "cpu"] and rows[7][2:] == [
        "none",
        "1x3x1x40",
        "aliases",
        "its",
        "input",
    ]
    assert lines[-1].startswith("  15 on the array (36,480 MACs), 36 DMA copies, 2 on the CPU")


def _model_file(tmp_path, opcode):
    sys.path.insert(0, str(CHECKOUT / "tests" / "runtime"))
    from tflite_build import ModelBuilder

    m = ModelBuilder()
    g = m.main
    x = g.tensor((1, 1, 3, 40), scale=0.1, zero_point=0)
    y = g.tensor((1, 1, 3, 40), scale=1 / 256, zero_point=-128)
    g.op(opcode, [x], [y])
    g.inputs, g.outputs = [x], [y]
    path = tmp_path / f"{opcode.lower()}.tflite"
    path.write_bytes(m.build())
    return path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["model", "info", "nothing.tflite"], "nothing.tflite: no such file (or a microWakeWord"),
        (["model", "info", "TANH"], "operator 0 TANH: no implementation, on the NPU or the CPU"),
        (["model", "run", "TANH"], "operator 0 TANH: no implementation, on the NPU or the CPU"),
        (["model", "info", "TRUNCATED"], "corrupt or truncated TFLite file"),
        (
            ["model", "run", "LOGISTIC", "--features"],
            "--features makes microWakeWord inputs, INT8[1, 3, 40]; the model takes INT8[1x1x3x40]",
        ),
    ],
    ids=["missing", "info-unsupported", "run-unsupported", "truncated", "features"],
)
def test_model_refusals_are_errors_naming_the_cause(tmp_path, capsys, argv, message):
    argv = list(argv)
    if argv[2] in ("TANH", "LOGISTIC"):
        argv[2] = str(_model_file(tmp_path, argv[2]))
    elif argv[2] == "TRUNCATED":
        path = tmp_path / "cut.tflite"
        path.write_bytes(_model_file(tmp_path, "LOGISTIC").read_bytes()[:200])
        argv[2] = str(path)
    assert _exit_code(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("tinynpu: error: ") and message in err


def test_model_run_passes_its_options(monkeypatch):
    import tinynpu.model_cmd

    calls = _record(monkeypatch, tinynpu.model_cmd, "model_run", result=True)
    main(["model", "run", "alexa", "--steps", "3", "--features", "--compare", "--array", "4"])
    main(["model", "run", "x.tflite", "--input", "x.npy", "--seed", "5"])
    assert calls == [
        (
            (NpuConfig(array_size=4), "alexa"),
            {"steps": 3, "input_file": None, "features": True, "compare": True, "seed": 0},
        ),
        (
            (NpuConfig(), "x.tflite"),
            {
                "steps": 1,
                "input_file": Path("x.npy"),
                "features": False,
                "compare": False,
                "seed": 5,
            },
        ),
    ]
    _record(monkeypatch, tinynpu.model_cmd, "model_run", result=False)
    assert _exit_code(["model", "run", "alexa"]) == 1
