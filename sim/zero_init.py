"""Verilog without the initial contents of memories that start at zero.

Amaranth writes every memory's initial contents into the netlist, one constant bit at a time,
even when they are all zero (``init=[]``, as every scratchpad and SRAM of the NPU is): for the
8 x 8 NPU, 1.4 million bits, a third of the time Amaranth 0.5.10 takes to convert the design,
then an ``initial`` block of one statement per memory word that Yosys writes and Verilator
compiles into start-up code. The SoC's Verilator build starts every variable at zero
(``--x-initial 0``, the one setting that guarantees it), so those blocks say what the model does
anyway; for synthesis, a zero initial value of an SRAM says nothing.

:func:`omitted` leaves out the initial contents of such memories while the build converts a
design. A memory with any non-zero initial word keeps them all. The replacement is used only
where Amaranth's ``ModuleEmitter.emit_memory`` is the source it was written against
(:data:`EXPECTED_SOURCE`); elsewhere Amaranth's emission stays, and the model is the same.
"""

import contextlib
import hashlib
import inspect

from amaranth.back import rtlil

__all__ = ["EXPECTED_SOURCE", "applies", "omitted"]

#: The first 16 hex digits of the SHA-256 of ``ModuleEmitter.emit_memory`` in Amaranth 0.5.10,
#: which emits a memory's ``$meminit_v2`` cell and nothing else.
EXPECTED_SOURCE = "181b0bb8f5d58042"


def applies():
    """Whether the installed Amaranth emits memories as this module expects.

    Returns
    -------
    bool
    """
    try:
        source = inspect.getsource(rtlil.ModuleEmitter.emit_memory)
    except (AttributeError, OSError, TypeError):
        return False
    return hashlib.sha256(source.encode()).hexdigest()[:16] == EXPECTED_SOURCE


@contextlib.contextmanager
def omitted():
    """Emit no initial contents for all-zero memories within the ``with`` block.

    Yields
    ------
    bool
        Whether they are omitted (:func:`applies`).
    """
    if not applies():
        yield False
        return
    original = rtlil.ModuleEmitter.emit_memory

    def emit_memory(self, cell_idx, cell):
        if any(cell.init):
            original(self, cell_idx, cell)

    rtlil.ModuleEmitter.emit_memory = emit_memory
    try:
        yield True
    finally:
        rtlil.ModuleEmitter.emit_memory = original
