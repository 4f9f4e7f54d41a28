"""Documents generated from the register maps: C header, Markdown reference, ABI listing."""

from pathlib import Path

from peakrdl_cheader.exporter import CHeaderExporter
from peakrdl_markdown.exporter import MarkdownExporter

from .model import RegisterMap, compile_rdl, load

__all__ = ["MAPS", "abi_listing", "export_all"]

#: The register maps of the design, by name.
MAPS = ("host", "cp")


def abi_listing(regmap: RegisterMap):
    """A canonical text of a register map's ABI: offsets, fields, kinds and constant values.

    A golden copy of this text is kept under ``tests/``: any change to the ABI shows up in review
    as a change of that file.
    """
    lines = [f"map {regmap.name}"]
    for reg in regmap:
        lines.append(f"{reg.offset:#06x} {reg.name}")
        for field in reg.fields:
            bits = f"[{field.msb}:{field.lsb}]"
            reset = "hw" if field.reset is None else f"{field.reset:#x}"
            param = f" param={field.param}" if field.param else ""
            lines.append(f"       {bits:>7} {field.name} {field.kind.value} reset={reset}{param}")
    return "\n".join(lines) + "\n"


def export_all(directory):
    """Write ``<map>.h`` and ``<map>.md`` for every register map into ``directory``.

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in MAPS:
        top = compile_rdl(name)
        header = directory / f"tinynpu_{name}.h"
        CHeaderExporter().export(top, str(header))
        markdown = directory / f"tinynpu_{name}.md"
        MarkdownExporter().export(top, str(markdown))
        listing = directory / f"tinynpu_{name}.abi.txt"
        listing.write_text(abi_listing(load(name)))
        written += [header, markdown, listing]
    return written
