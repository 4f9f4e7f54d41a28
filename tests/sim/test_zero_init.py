"""Memories that start at zero are emitted without initial contents; others keep theirs."""

from amaranth import Module
from amaranth.back import rtlil
from amaranth.lib.memory import Memory
from tinynpu.sim import zero_init


def two_memories():
    m = Module()
    m.submodules.zeros = zeros = Memory(shape=8, depth=4, init=[])
    m.submodules.table = table = Memory(shape=8, depth=4, init=[0, 0x5A, 0, 0])
    ports = []
    for memory in (zeros, table):
        read = memory.read_port()
        ports += [read.addr, read.data]
    return m, ports


def test_the_installed_amaranth_is_the_one_written_for():
    # If this fails, Amaranth's memory emission changed: check zero_init against it and record
    # the new source digest, or the build goes back to writing every zero (slower, same model).
    assert zero_init.applies()


def test_only_the_all_zero_memory_loses_its_initial_contents():
    m, ports = two_memories()
    with zero_init.omitted() as applied:
        text = rtlil.convert(m, ports=ports)
    assert applied
    assert text.count("cell $meminit_v2") == 1
    assert 'parameter \\MEMID "\\\\table"' in text.split("cell $meminit_v2")[1]
    assert "32'00000000000000000101101000000000" in text  # the table's words, last first

    m, ports = two_memories()
    assert rtlil.convert(m, ports=ports).count("cell $meminit_v2") == 2  # restored after
