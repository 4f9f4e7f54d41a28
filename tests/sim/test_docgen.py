"""The generated reference pages: committed copies are current and read the real layouts."""

from pathlib import Path

import pytest
from amaranth.lib import data
from tinynpu.driver.uapi import REQUESTS, Ioctl
from tinynpu.rtl.layouts import CommandHeader, GemmCommand, Opcode, nbytes
from tinynpu.rtl.pte import Descriptor
from tinynpu.rtl.regmap import HOST

from tinynpu.cli import main
from tinynpu.docgen import parse_attributes, reference_pages

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


@pytest.fixture(scope="module")
def pages():
    return reference_pages()


def _row(page, cell, column=0):
    """The one table row of ``page`` with ``cell`` in ``column``."""
    rows = [
        line for line in page.splitlines() if line[2:].split(" | ")[column : column + 1] == [cell]
    ]
    assert len(rows) == 1, f"{cell} rows: {rows}"
    return rows[0]


def test_committed_pages_are_current(pages):
    assert sorted(p.name for p in REFERENCE.iterdir()) == sorted(pages)
    for name, text in pages.items():
        assert (REFERENCE / name).read_text() == text, (
            f"docs/reference/{name} is stale: run `make docs`"
        )


def test_commands_page_reads_the_layouts(pages):
    size = nbytes(GemmCommand)
    row = _row(pages["commands.md"], "`GEMM`")
    assert row == f"| `GEMM` | {Opcode.GEMM.value} | [`GemmCommand`](#gemmcommand) | {size} |"
    assert f"Opcode `GEMM` ({Opcode.GEMM.value}). {size} bytes." in pages["commands.md"]
    # The length field of the header sits at its layout offset, with its docstring meaning.
    length = data.Layout.cast(CommandHeader)["length"]
    assert (
        f"| {length.offset // 8} |  | {length.width} | `length` | unsigned | Bytes of this command"
        in pages["commands.md"]
    )
    # Fields that are not byte-aligned show their bit range.
    address = data.Layout.cast(Descriptor)["address"]
    msb = address.offset + address.width - 1
    assert f"| `[{msb}:{address.offset}]` | {address.width} | `address` |" in pages["commands.md"]


def test_registers_page_reads_the_register_map(pages):
    reg = HOST.ring_doorbell
    row = _row(pages["registers.md"], "`ring_doorbell`", 1)
    assert row.startswith(f"| {reg.offset:#06x} | ")
    assert f"`[0]` `ring` {reg.ring.kind.name}" in row
    assert HOST.bank_count("aspace") > 1
    assert "`aspace1_*`" in pages["registers.md"]
    assert "`aspace1_ttbr_lo`" not in pages["registers.md"]


def test_uapi_page_reads_the_requests(pages):
    row = _row(pages["uapi.md"], "`SUBMIT`", 1)
    assert row == (
        f"| {Ioctl.SUBMIT.value:#04x} | `SUBMIT` | [`Submit`](#submit) "
        f"| {nbytes(REQUESTS[Ioctl.SUBMIT])} |"
    )
    assert "- `flags`: Only the flags defined for the request" in pages["uapi.md"]


def test_parse_attributes():
    class Example:
        """Summary.

        Attributes
        ----------
        a : 8 bits
            First line
            second line.
        b, c : shared text
            (continued).
        d : Opcode

        Raises
        ------
        ValueError
            Not an attribute.
        """

    assert parse_attributes(Example) == {
        "a": ("8 bits", "First line second line."),
        "b": ("shared text", "(continued)."),
        "c": ("shared text", "(continued)."),
        "d": ("Opcode", ""),
    }
    assert parse_attributes(Opcode) == {}


def test_cli_writes_the_pages(tmp_path, capsys, pages):
    assert main(["docs", "-o", str(tmp_path)]) is None
    out, _ = capsys.readouterr()
    assert out.splitlines() == [str(tmp_path / name) for name in pages]
    for name, text in pages.items():
        assert (tmp_path / name).read_text() == text
