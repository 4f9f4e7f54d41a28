"""The build's combinational-cycle check finds what Amaranth's finds, says it the same way, and
leaves the Verilog unchanged."""

import re
from importlib.metadata import version

import pytest
from amaranth import Cat, Const, Module, Signal
from amaranth.back import rtlil
from amaranth.hdl import _nir
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.top import NpuTop
from tinynpu.sim import amaranth_fixes
from tinynpu.sim.amaranth_fixes import comb_cycle_fix_applies, faster_comb_cycle_check
from tinynpu.sim.build import TOP_NAME, emit_rtlil

#: Verilog in a few seconds; tests/test_cli.py and tests/cosim/test_waves.py use it too, and the
#: build cache emits it once for all.
SMALL = NpuConfig.smallest()

needs_fix = pytest.mark.skipif(
    not comb_cycle_fix_applies(), reason="the installed Amaranth keeps its own check"
)


def inverter_ring():
    """Two inverters in a ring: one bit, cells whose bits have inputs of their own."""
    m, a, b = Module(), Signal(name="a"), Signal(name="b")
    m.d.comb += [a.eq(~b), b.eq(~a)]
    return m, [a, b], ["operator ~ bit 0", "signal b bit 0", "operator ~ bit 0", "signal a bit 0"]


def adder_feedback():
    """An adder whose output bit 2 feeds its input bit 1: the search enters the adder at bit 0
    and comes back to it through bit 2."""
    m, x, y = Module(), Signal(4, name="x"), Signal(4, name="y")
    m.d.comb += [y.eq(x + 1), x.eq(Cat(Const(0, 1), y[2], Const(0, 2)))]
    return m, [x, y], ["signal x bit 1", "signal y bit 2", "operator + bit 2"]


def part_select_feedback():
    """A variable bit select whose offset comes from its own output."""
    m, data, sel, out = Module(), Signal(16, name="data"), Signal(4, name="sel"), Signal(name="out")
    m.d.comb += [out.eq(data.bit_select(sel, 1)), sel.eq(Cat(out, Const(0, 3)))]
    return m, [data, sel, out], ["cell Part bit 0", "signal sel bit 0", "signal out bit 0"]


def conditional_feedback():
    """A cycle through a condition (``If``) and a multiplier."""
    m, a, b, c = Module(), Signal(8, name="a"), Signal(8, name="b"), Signal(name="c")
    m.d.comb += b.eq(a * 3)
    with m.If(b[7]):
        m.d.comb += c.eq(1)
    m.d.comb += a.eq(Cat(Const(0, 7), c))
    return (
        m,
        [a, b, c],
        [
            "signal a bit 7",
            "signal c bit 0",
            "cell AssignmentList bit 0",
            "cell PriorityMatch bit 0",
            "cell Matches bit 0",
            "signal b bit 7",
            "operator * bit 7",
        ],
    )


CYCLES = [inverter_ring, adder_feedback, part_select_feedback, conditional_feedback]


def cycle_error(design, ports):
    """The CombinationalCycle converting ``design`` raises."""
    with pytest.raises(_nir.CombinationalCycle) as error:
        rtlil.convert(design, ports=ports)
    return str(error.value)


@pytest.mark.skipif(version("amaranth") != "0.5.10", reason="written for Amaranth 0.5.10")
def test_applies_to_amaranth_0_5_10():
    assert comb_cycle_fix_applies()


def test_not_applied_from_the_fixed_release(monkeypatch):
    monkeypatch.setattr(amaranth_fixes, "version", lambda name: "0.6.0")
    assert not comb_cycle_fix_applies()
    original = _nir.Netlist.check_comb_cycles
    with faster_comb_cycle_check() as applied:
        assert applied is False
        assert _nir.Netlist.check_comb_cycles is original


def test_not_applied_over_a_changed_check(monkeypatch):
    def check_comb_cycles(self):
        """A check of another Amaranth."""

    monkeypatch.setattr(_nir.Netlist, "check_comb_cycles", check_comb_cycles)
    assert not comb_cycle_fix_applies()
    with faster_comb_cycle_check() as applied:
        assert applied is False
        assert _nir.Netlist.check_comb_cycles is check_comb_cycles


@needs_fix
def test_restores_amaranths_check():
    original = _nir.Netlist.check_comb_cycles
    with faster_comb_cycle_check() as applied:
        assert applied is True
        assert _nir.Netlist.check_comb_cycles is amaranth_fixes.check_comb_cycles
    assert _nir.Netlist.check_comb_cycles is original


@needs_fix
@pytest.mark.parametrize("make", CYCLES, ids=lambda make: make.__name__)
def test_cycle_reported_as_amaranth_reports_it(make):
    design, ports, path = make()
    expected = cycle_error(design, ports)
    design, ports, _ = make()
    with faster_comb_cycle_check():
        message = cycle_error(design, ports)
    assert message == expected
    title, *lines = message.splitlines()
    assert title == "Combinational cycle detected, path:"
    assert [line.split(": ", 1)[1] for line in lines] == path


@needs_fix
def test_shared_inputs_enumerated_once_per_cell(monkeypatch):
    # Amaranth issue #1628's example, smaller: ten shifts, each of whose output bits depends on
    # all the input bits; Amaranth's check asks each cell for its inputs once per output bit.
    m, a = Module(), Signal(8)
    for i in range(10):
        m.d.comb += Signal.like(a, name=f"s{i}").eq(1 << a)
    calls = []
    edges = _nir.Operator.comb_edges_to

    def counted(self, bit):
        calls.append((self.operator, bit))
        return edges(self, bit)

    with faster_comb_cycle_check() as applied:
        # Patched after the guard, which refuses a changed comb_edges_to.
        monkeypatch.setattr(_nir.Operator, "comb_edges_to", counted)
        rtlil.convert(m, ports=[a])
    assert applied
    assert calls.count(("<<", 0)) == 10
    assert len([call for call in calls if call[0] == "<<"]) == 10


@needs_fix
def test_emitted_netlist_unchanged(monkeypatch):
    runs = []
    check = amaranth_fixes.check_comb_cycles
    monkeypatch.setattr(amaranth_fixes, "check_comb_cycles", lambda n: runs.append(check(n)))
    text = emit_rtlil(SMALL)
    assert runs == [None]
    amaranths = rtlil.convert(NpuTop(SMALL), name=TOP_NAME, emit_src=False)
    # Less the initial contents of the memories that start at zero (tinynpu.sim.zero_init),
    # which are all of this design's memories; without them, later cells take lower numbers.
    inits = re.findall(r"\n  cell \$meminit_v2 .*?\n  end\n", amaranths, flags=re.DOTALL)
    assert len(inits) == amaranths.count("$meminit_v2") == 12
    assert all(re.search(r"connect \\DATA \d+'0+\n", init) for init in inits)
    for init in inits:
        amaranths = amaranths.replace(init, "", 1)
    assert "$meminit" not in text
    assert _numbered_in_order(text) == _numbered_in_order(amaranths)
    assert f"module \\{TOP_NAME}\n" in text


def _numbered_in_order(text):
    """``text`` with the numbered names of its cells and processes renumbered in order.

    Those names (``cell $memwr_v2 $135``, ``process $144``) are referred to nowhere else.
    """
    count = iter(range(1 << 30))
    pattern = r"(?m)^(  cell \S+ |  process )\$\d+$"
    return re.sub(pattern, lambda m: f"{m[1]}${next(count)}", text)
