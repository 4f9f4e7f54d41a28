"""A faster combinational-cycle check for Amaranth releases that lack one.

Every conversion to Verilog runs ``Netlist.check_comb_cycles``, a depth-first search over the
netlist's nets. In Amaranth 0.5.10 the search asks each cell, one output bit at a time, for the
inputs that bit depends on. For an arithmetic operator, a shift or a variable part select
(``bit_select``, ``word_select``, indexing an array) every output bit depends on every input bit,
so a cell of ``w`` output bits costs ``w`` times its input width even when the inputs were
already checked. With the post-processor's wide part selects and multipliers this was half of
the 8 x 8 NPU's Verilog emission and four fifths of 16 x 16's (Amaranth issue #1628). The
fix on Amaranth's main branch (pull request #1632, "hdl._nir: speed up combinational cycle
detection") is in no release yet.

:func:`faster_comb_cycle_check` replaces the check while the build converts a design. The
search visits the same nets in the same order, but the inputs a cell's output bits share are one
node of the graph, walked once per cell instead of once per bit; the search also keeps its own
stack instead of recursing. A design with a cycle raises Amaranth's own ``CombinationalCycle``
with the message Amaranth's check would give, naming the same path.

The replacement is used only where it is known to be right: an Amaranth older than
:data:`FIXED_IN` whose check, and the input lists of the cells the search treats as shared, are
the source this module was written against (:data:`EXPECTED_SOURCES`). Anything else, a
release with the upstream fix or a patched 0.5.x, keeps Amaranth's check unchanged.
"""

import contextlib
import hashlib
import inspect
import re
from importlib.metadata import version

from amaranth.hdl import _nir

__all__ = [
    "EXPECTED_SOURCES",
    "FIXED_IN",
    "check_comb_cycles",
    "comb_cycle_fix_applies",
    "faster_comb_cycle_check",
]

#: The first Amaranth version that may carry the upstream fix: 0.6, the release after 0.5.10
#: that main (where pull request #1632 was merged) becomes.
FIXED_IN = (0, 6)

#: The source (first 16 hex digits of its SHA-256) of what this module relies on, as in Amaranth
#: 0.5.10: the check it replaces and the ``comb_edges_to`` of the cells it treats as shared.
EXPECTED_SOURCES = {
    "Netlist.check_comb_cycles": "3896dd1aabb3cd2b",
    "Operator.comb_edges_to": "6920f388b003af99",
    "Part.comb_edges_to": "fbb7fa6c3fdc0b37",
    "Matches.comb_edges_to": "be7c16969b9a5f41",
    "AsyncReadPort.comb_edges_to": "5f981a855d58f415",
}

# Operators whose output bit i depends on input bit i alone; every other operator's output bits
# all depend on all of its inputs (Operator.comb_edges_to).
_BITWISE = {1: ("~",), 2: ("&", "|", "^"), 3: ("m",)}


def _source_digest(qualname):
    owner, name = qualname.split(".")
    function = getattr(getattr(_nir, owner), name)
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def _version_tuple(text):
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else FIXED_IN


def comb_cycle_fix_applies():
    """Whether the installed Amaranth is one the replacement check was written for.

    Returns
    -------
    bool
        True for an Amaranth older than :data:`FIXED_IN` whose sources match
        :data:`EXPECTED_SOURCES`.
    """
    if _version_tuple(version("amaranth")) >= FIXED_IN:
        return False
    try:
        return all(_source_digest(name) == digest for name, digest in EXPECTED_SOURCES.items())
    except (AttributeError, OSError, TypeError):
        return False


def _shares_inputs(cell):
    """Whether every output bit of ``cell`` depends on the same inputs."""
    kind = type(cell)
    if kind is _nir.Operator:
        return cell.operator not in _BITWISE.get(len(cell.inputs), ())
    return kind in (_nir.Part, _nir.Matches, _nir.AsyncReadPort)


def _cycle_message(path):
    """Amaranth's text for a cycle, from (object, bit, source location) along it."""
    msg = ["Combinational cycle detected, path:\n"]
    for obj, bit, src_loc in path:
        if isinstance(obj, _nir._ast.Signal):
            obj = f"signal {obj.name}"
        elif isinstance(obj, _nir.Operator):
            obj = f"operator {obj.operator}"
        else:
            obj = f"cell {obj.__class__.__qualname__}"
        src_loc = "<unknown>:0" if src_loc is None else f"{src_loc[0]}:{src_loc[1]}"
        msg.append(f"  {src_loc}: {obj} bit {bit}\n")
    return "".join(msg)


def check_comb_cycles(netlist):
    """Raise ``CombinationalCycle`` if ``netlist`` has a combinational cycle.

    The graph is Amaranth's: a net depends on the nets its driving cell's ``comb_edges_to``
    yields for its bit, a late-bound net on the net it is connected to. A cell whose output bits
    share one input list (:func:`_shares_inputs`) is a node of its own between its output bits
    and those inputs. Nets and cells are visited in the order of Amaranth's check, so the first
    cycle found, and its message, are the same.

    Parameters
    ----------
    netlist : amaranth.hdl._nir.Netlist
        A netlist before ``resolve_all_nets``, as ``build_netlist`` checks it.

    Raises
    ------
    amaranth.hdl._nir.CombinationalCycle
        Naming each signal and cell of the cycle's path, as Amaranth's check does.
    """
    cells = netlist.cells
    connections = netlist.connections
    late_to_signal = netlist.late_to_signal
    shared = {}  # cell index -> its output bits' common input edges
    checked = set()  # nodes on no cycle
    busy = {}  # node on the current path -> its frame

    # A node is a net (an int: negative late-bound, 0 and 1 constant, else cell << 16 | bit) or,
    # for a cell with shared inputs, the tuple (cell index,). Its frame is [node, edges, next].
    def frame(node):
        if type(node) is tuple:
            (index,) = node
            if index not in shared:
                shared[index] = list(cells[index].comb_edges_to(0))
            return [node, shared[index], 0]
        if node < 0:
            return [node, ((connections[node], None),), 0]
        if node < 2:
            return [node, (), 0]
        index = node >> 16
        cell = cells[index]
        if _shares_inputs(cell):
            return [node, (((index,), None),), 0]
        return [node, list(cell.comb_edges_to(node & 0xFFFF)), 0]

    def cycle(stack, start):
        # Amaranth's check records, from the innermost frame out to the start, each net with
        # the source location of the edge it followed; a shared-inputs node adds nothing and
        # its output bit takes the location of the input edge the node is following.
        path = []
        for node, edges, position in reversed(stack):
            if type(node) is tuple:
                pass
            elif node < 0:
                signal, bit = late_to_signal[node]
                path.append((signal, bit, signal.src_loc))
            else:
                src, src_loc = edges[position - 1]
                if type(src) is tuple:
                    _, inner_edges, inner_position = busy[src]
                    src_loc = inner_edges[inner_position - 1][1]
                path.append((cells[node >> 16], node & 0xFFFF, src_loc))
            if node == start:
                break
        return _nir.CombinationalCycle(_cycle_message(reversed(path)))

    def visit(root):
        if root in checked:
            return
        stack = [frame(root)]
        busy[root] = stack[0]
        while stack:
            top = stack[-1]
            node, edges, position = top
            if position == len(edges):
                stack.pop()
                del busy[node]
                checked.add(node)
                continue
            top[2] = position + 1
            src = edges[position][0]
            if src in checked:
                continue
            if src in busy:
                raise cycle(stack, src)
            busy[src] = new = frame(src)
            stack.append(new)

    for index, cell in enumerate(cells):
        for net in cell.output_nets(index):
            visit(net)
    for value in netlist.signals.values():
        for net in value:
            visit(net)


@contextlib.contextmanager
def faster_comb_cycle_check():
    """Use :func:`check_comb_cycles` as Amaranth's check within the ``with`` block.

    Where :func:`comb_cycle_fix_applies` is false, Amaranth's own check stays.

    Yields
    ------
    bool
        Whether the replacement is in use.
    """
    if not comb_cycle_fix_applies():
        yield False
        return
    original = _nir.Netlist.check_comb_cycles
    _nir.Netlist.check_comb_cycles = check_comb_cycles
    try:
        yield True
    finally:
        _nir.Netlist.check_comb_cycles = original
