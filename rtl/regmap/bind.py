"""Wire a group of registers to a layout's members, matching them by name.

A command, a record or a set of controls is held in a group of registers sharing a name prefix
(``dma_``, ``mx_``, ``aspace2_fault_``). :func:`bind` connects each member of a struct (or of an
interface) to the register field of the group that holds it, so the layout and the register map
stay the one source of both and a new field needs no new line of wiring. Member ``x`` of the
group ``<prefix>`` is held by the one field that is:

* a field named ``x`` of a register of the group (``dma_control.kind`` for ``kind``);
* field ``f`` of register ``<prefix><r>`` with ``x == "<r>_<f>"`` (``mx_acc.row_log2`` for
  ``acc_row_log2``);
* the only field of register ``<prefix>x`` (``dma_rows.count`` for ``rows``);
* or the pair ``<prefix>x_lo`` / ``<prefix>x_hi``, one field each, read as one value with the
  bits in place (the ``split_address`` convention: zeros below ``_lo``'s field, ``_hi``'s field
  from bit 32).

The direction follows the field's kind: an RW or PULSE field drives the member, an RO field is
driven by it (and may be wider: a count's field has room for the largest configuration). Other
widths must agree. A member no field holds, or that two fields could hold, is an error at
elaboration.
"""

from amaranth.hdl import Cat, Const, Value
from amaranth.lib import data

from .model import Kind

__all__ = ["bind", "group_value"]

_READ_BY_HARDWARE = (Kind.RW, Kind.PULSE)


def _group(block, prefix):
    """``{suffix: register}`` of the implemented registers named ``<prefix><suffix>``."""
    return {
        reg.name[len(prefix) :]: reg
        for reg in block.regmap
        if reg.name.startswith(prefix) and reg.name not in block.omit
    }


def _holders(group, name):
    """The fields of ``group`` that may hold member ``name``: tuples of (register, field)."""
    pairs = {s[:-3] for s in group if s.endswith("_lo") and f"{s[:-3]}_hi" in group}
    if name in pairs:
        lo, hi = group[f"{name}_lo"], group[f"{name}_hi"]
        if len(lo.fields) != 1 or len(hi.fields) != 1 or lo.fields[0].msb != lo.width - 1:
            raise ValueError(f"Registers {lo.name}/{hi.name} are not one value in place")
        return [((lo, lo.fields[0]), (hi, hi.fields[0]))]
    found = []
    for suffix, reg in group.items():
        if suffix[-3:] in ("_lo", "_hi") and suffix[:-3] in pairs:
            continue
        for field in reg.fields:
            sole = len(reg.fields) == 1 and name == suffix
            named = name in (field.name, f"{suffix}_{field.name}")
            if field.kind is not Kind.CONST and (sole or named):
                found.append(((reg, field),))
    return found


def _ports(block, holder):
    return [block.port(reg.name, field.name).value for reg, field in holder]


def _resolve(block, prefix, name, alias):
    holders = _holders(_group(block, prefix), alias)
    if len(holders) != 1:
        where = [" and ".join(f"{r.name}.{f.name}" for r, f in h) for h in holders]
        raise ValueError(
            f"Member {name!r} is held by {len(holders)} fields of the {prefix}* registers, "
            f"not one: {where}"
        )
    (holder,) = holders
    kinds = {field.kind for _, field in holder}
    if len(kinds) != 1 or not kinds <= {Kind.RW, Kind.PULSE, Kind.RO}:
        raise ValueError(f"Member {name!r}: fields of kinds {sorted(k.value for k in kinds)}")
    return holder, kinds.pop()


def group_value(block, prefix, name):
    """The value the ``prefix`` registers hold for member ``name`` (see the module docstring)."""
    holder, _ = _resolve(block, prefix, name, name)
    ports = _ports(block, holder)
    if len(ports) == 1:
        return ports[0]
    (_, lo_field), _ = holder
    return Cat(Const(0, lo_field.lsb), *ports)


def bind(m, block, prefix, target, *, members=None, aliases=None):
    """Connect each member of ``target`` to the field of the ``prefix`` registers that holds it.

    Parameters
    ----------
    m : Module
        Where the connections go (combinational).
    block : RegisterBlock
        The registers, and their hardware-side ports.
    prefix : str
        Name prefix of the group.
    target : data.View or interface
        What the registers hold: a struct (its members, but for ``_reserved*`` ones) or, with
        ``members``, any object with those attributes.
    members : iterable of str, optional
        The members to connect; by default every member of the struct ``target``.
    aliases : dict of str to str, optional
        Members known in the registers by another name (``{"level": "table_level"}``).

    Raises
    ------
    ValueError
        If a member is held by no field or by several, or its width does not fit theirs.
    """
    aliases = aliases or {}
    if members is None:
        layout = data.Layout.cast(target.shape())
        members = [name for name, _ in layout if not name.startswith("_")]
    for name in members:
        holder, kind = _resolve(block, prefix, name, aliases.get(name, name))
        member = getattr(target, name)
        bits, ports = Value.cast(member), _ports(block, holder)
        (_, first), *_ = holder
        lsb = first.lsb if len(ports) > 1 else 0  # a pair holds the value in place
        width = lsb + sum(len(port) for port in ports)
        if width < len(bits) or (width > len(bits) and kind in _READ_BY_HARDWARE):
            raise ValueError(f"Member {name!r} is {len(bits)} bits, its fields {width}")
        if kind in _READ_BY_HARDWARE:
            m.d.comb += member.eq(Cat(Const(0, lsb), *ports))
        else:
            for port in ports:
                m.d.comb += port.eq(bits[lsb : lsb + len(port)])
                lsb += len(port)
