"""The ``tinynpu`` command line, run in-process (no simulator; at most two elaborations)."""

import pytest
from tinynpu.rtl.config import MEM_ADDR_WIDTH
from tinynpu.rtl.regmap import CP, HOST
from tinynpu.rtl.regmap.export import abi_listing

from tinynpu.cli import main


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


def test_verilog_to_file(tmp_path, capsys):
    output = tmp_path / "npu.v"
    assert main(["verilog", "--array", "4", "-o", str(output)]) is None
    text = output.read_text()
    assert "module tinynpu_top(" in text
    assert "host__awaddr" in text
    assert "mem__araddr" in text
    assert "input [15:0] host__awaddr;" in text  # the 64 KiB host window
    assert f"output [{MEM_ADDR_WIDTH - 1}:0] mem__araddr;" in text
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"wrote {output}\n"


def test_verilog_to_stdout_follows_bus_width(capsys):
    assert main(["verilog", "--bus-width", "128"]) is None
    out, err = capsys.readouterr()
    assert err == ""
    assert "module tinynpu_top(" in out
    assert "input [127:0] mem__rdata;" in out
    assert "output [127:0] mem__wdata;" in out


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
