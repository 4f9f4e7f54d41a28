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
    """Write each register map's C header, Markdown reference and ABI listing into ``directory``.

    The files are ``tinynpu_<map>.h``, ``.md`` and ``.abi.txt``, for each map of :data:`MAPS`;
    the call returns their paths (``pathlib.Path``), the directory being created if need be.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in MAPS:
        top = compile_rdl(name)
        paths = {kind: directory / f"tinynpu_{name}.{kind}" for kind in ("h", "md", "abi.txt")}
        CHeaderExporter().export(top, str(paths["h"]))
        MarkdownExporter().export(top, str(paths["md"]))
        paths["abi.txt"].write_text(abi_listing(load(name)))
        written += paths.values()
    return written
