"""The Python register description, derived from the SystemRDL model.

The driver, the firmware, the tests and the RTL generator all read registers through these
objects, by name: ``HOST.int_mask.job_done.mask``, ``HOST.version.decode(value)``. Nothing else in
the project writes a register offset or a field mask.
"""

import enum
import functools
from dataclasses import dataclass
from pathlib import Path

from systemrdl import RDLCompiler
from systemrdl.node import AddrmapNode, FieldNode, RegfileNode, RegNode
from systemrdl.rdltypes import AccessType, OnWriteType

__all__ = [
    "Bank",
    "Field",
    "Kind",
    "Register",
    "RegisterMap",
    "compile_rdl",
    "join_address",
    "load",
    "split_address",
]

RDL_DIR = Path(__file__).parent


class Kind(enum.Enum):
    """How software and hardware access a field."""

    #: Read-write storage; the hardware reads the value.
    RW = "rw"
    #: Read-only; the hardware drives the value.
    RO = "ro"
    #: Read-only constant: always the reset value.
    CONST = "const"
    #: Sticky status: the hardware sets bits, software writes 1 to clear them.
    W1C = "w1c"
    #: Write-pulse: the written value is presented to the hardware for one cycle; reads as zero.
    PULSE = "pulse"

    @property
    def sw_writable(self):
        """Whether a software write has any effect on this kind of field."""
        return self in (Kind.RW, Kind.W1C, Kind.PULSE)


@dataclass(frozen=True)
class Field:
    """A bit field of a register.

    Attributes
    ----------
    name : str
        Instance name in the SystemRDL source.
    lsb, width : int
        Position and width in bits.
    kind : Kind
        Access semantics.
    reset : int or None
        Reset value; ``None`` where the hardware drives the field.
    desc : str
        Description from the SystemRDL source.
    param : str or None
        For capability fields, the elaboration parameter the field reports.
    """

    name: str
    lsb: int
    width: int
    kind: Kind
    reset: int | None
    desc: str = ""
    param: str | None = None

    @property
    def msb(self):
        """Most significant bit of the field within the register."""
        return self.lsb + self.width - 1

    @property
    def mask(self):
        """The field's bits within the register."""
        return ((1 << self.width) - 1) << self.lsb

    def get(self, value):
        """Extract this field from a register value."""
        return (value & self.mask) >> self.lsb

    def put(self, value):
        """Return ``value`` shifted into this field's position.

        Raises
        ------
        ValueError
            If ``value`` does not fit in the field.
        """
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"Value {value!r} does not fit field {self.name} of {self.width} bits")
        return value << self.lsb


@dataclass(frozen=True)
class Register:
    """A 32-bit register of a register map.

    Fields are attributes: ``reg.job_done`` is the :class:`Field` named ``job_done``. A register
    of an element of a register-file array (a *bank*, such as one address space's registers) is
    named ``<bank><index>_<local>``, ``aspace2_ttbr_lo``; its ``bank`` is ``("aspace", 2)`` and
    its ``local`` name ``ttbr_lo``.
    """

    name: str
    offset: int
    fields: tuple[Field, ...]
    title: str = ""
    desc: str = ""
    width: int = 32
    bank: tuple[str, int] | None = None
    local: str | None = None

    def __getattr__(self, name):
        return self.field(name)

    def field(self, name):
        """Return the field called ``name``.

        Raises
        ------
        AttributeError
            If the register has no such field.
        """
        field = _index(self, "fields", "name").get(name)
        if field is None:
            raise AttributeError(f"Register {self.__dict__.get('name')} has no field {name!r}")
        return field

    def field_names(self):
        """Names of the fields, from the least significant up."""
        return [f.name for f in self.fields]

    @property
    def mask(self):
        """All bits that belong to a field."""
        return functools.reduce(lambda acc, f: acc | f.mask, self.fields, 0)

    @property
    def reset(self):
        """Reset value of the register, counting hardware-driven fields as zero."""
        return sum((f.reset or 0) << f.lsb for f in self.fields)

    def decode(self, value):
        """Split a register value into a ``{field: value}`` dictionary."""
        return {f.name: f.get(value) for f in self.fields}

    def encode(self, **values):
        """Build a register value from field values; unnamed fields are zero.

        Raises
        ------
        AttributeError
            If a name is not a field of this register.
        ValueError
            If a value does not fit its field.
        """
        fields = _index(self, "fields", "name")
        value = 0
        for name, field_value in values.items():
            field = fields.get(name)
            value |= (field or self.field(name)).put(field_value)  # field() raises, naming it
        return value

    def format(self, value):
        """Describe a value of this register with field names, for traces."""
        if len(self.fields) == 1 and self.fields[0].width == self.width:
            return f"{self.name} = {value:#010x}"
        parts = " ".join(f"{name}={v:#x}" for name, v in self.decode(value).items())
        return f"{self.name} = {value:#010x} {{{parts}}}"


@dataclass(frozen=True)
class RegisterMap:
    """A register map: registers at offsets in a bus window.

    Registers are attributes: ``regmap.scratch`` is the :class:`Register` named ``scratch``.
    """

    name: str
    registers: tuple[Register, ...]
    title: str = ""
    desc: str = ""

    def __getattr__(self, name):
        return _named(self, "name", name, "Register map")

    def __iter__(self):
        return iter(self.registers)

    def __len__(self):
        return len(self.registers)

    @property
    def span(self):
        """Bytes from offset 0 to the end of the last register."""
        return max(r.offset + r.width // 8 for r in self.registers)

    def bank(self, name, index):
        """Return the registers of element ``index`` of the register-file array ``name``.

        Raises
        ------
        IndexError
            If the array has no element ``index``.
        AttributeError
            If there is no such array.
        """
        elements = self._banks().get(name)
        if elements is None:
            raise AttributeError(f"Register map {self.name} has no bank {name!r}")
        if not isinstance(index, int) or not 0 <= index < len(elements):
            raise IndexError(f"Bank {name} has elements 0 to {len(elements) - 1}, not {index!r}")
        return elements[index]

    def bank_count(self, name):
        """Number of elements of the register-file array ``name``."""
        elements = self._banks().get(name)
        if elements is None:
            raise AttributeError(f"Register map {self.name} has no bank {name!r}")
        return len(elements)

    def _banks(self):
        """``{array name: [Bank of element 0, 1, ...]}``, built once."""
        banks = self.__dict__.get("_banks_cache")
        if banks is None:
            members = {}
            for reg in self.registers:
                if reg.bank is not None:
                    members.setdefault(reg.bank[0], {}).setdefault(reg.bank[1], []).append(reg)
            banks = {
                name: [Bank(name, i, tuple(elements[i])) for i in sorted(elements)]
                for name, elements in members.items()
            }
            object.__setattr__(self, "_banks_cache", banks)
        return banks

    def at(self, offset):
        """Return the register at a byte offset, or ``None`` where nothing is mapped."""
        return _index(self, "registers", "offset").get(offset)

    def format_access(self, offset, value):
        """Describe an access at ``offset`` with register and field names."""
        reg = self.at(offset)
        if reg is None:
            return f"<unmapped {offset:#06x}> = {value:#010x}"
        return reg.format(value)


@dataclass(frozen=True)
class Bank:
    """The registers of one element of a register-file array, by local name.

    ``HOST.bank("aspace", 2).ttbr_lo`` is the :class:`Register` ``aspace2_ttbr_lo``.
    """

    name: str
    index: int
    registers: tuple[Register, ...]

    def __getattr__(self, local):
        return _named(self, "local", local, "Bank")

    def __iter__(self):
        return iter(self.registers)

    @property
    def prefix(self):
        """What the names of the bank's registers start with: ``aspace2_``."""
        reg = self.registers[0]
        return reg.name[: -len(reg.local)]


def _index(owner, members, key):
    """``{member.key: member}`` over ``owner.<members>``, built on first use and kept.

    Lookups by name run for every register access of the driver and the firmware: a dictionary
    makes them constant-time. The maps are frozen, so the index never goes stale. Read through
    ``__dict__``, so that a lookup during construction or copying cannot recurse.
    """
    cache = f"_{members}_by_{key}"
    index = owner.__dict__.get(cache)
    if index is None:
        index = {}
        for member in owner.__dict__.get(members, ()):
            index.setdefault(getattr(member, key), member)  # the first of a duplicate wins
        object.__setattr__(owner, cache, index)
    return index


def _named(owner, key, value, kind):
    """The register of ``owner.registers`` whose attribute ``key`` is ``value``, for __getattr__."""
    reg = _index(owner, "registers", key).get(value)
    if reg is None:
        raise AttributeError(f"{kind} {owner.__dict__.get('name')} has no register {value!r}")
    return reg


def _field_kind(node: FieldNode):
    if node.get_property("onread") is not None:
        raise ValueError(f"Field {node.get_path()}: read side effects (onread) are not supported")
    sw = node.get_property("sw")
    hw = node.get_property("hw")
    onwrite = node.get_property("onwrite")
    if node.get_property("singlepulse"):
        if sw != AccessType.w:
            raise ValueError(f"Field {node.get_path()}: singlepulse fields must be sw=w")
        return Kind.PULSE
    if onwrite == OnWriteType.woclr:
        if not (node.get_property("intr") or node.get_property("hwset")):
            raise ValueError(f"Field {node.get_path()}: woclr fields must be intr or hwset")
        return Kind.W1C
    if onwrite is not None:
        raise ValueError(f"Field {node.get_path()}: onwrite={onwrite.name} is not supported")
    if sw == AccessType.rw and hw in (AccessType.r, AccessType.na):
        return Kind.RW
    if sw == AccessType.r and hw == AccessType.w:
        return Kind.RO
    if sw == AccessType.r and hw in (AccessType.na, AccessType.r):
        if node.get_property("reset") is None:
            raise ValueError(f"Field {node.get_path()}: a constant field needs a reset value")
        return Kind.CONST
    raise ValueError(
        f"Field {node.get_path()}: sw={sw.name} hw={hw.name} is not a supported field kind"
    )


def _check_name(node, owner):
    # Registers and fields are looked up as attributes: a name that an attribute of the model
    # already has (``reset``, ``offset``, ``span``...) would be unreachable.
    holder = RegisterMap if owner is Register and isinstance(node, RegNode) else owner
    if node.inst_name in dir(holder):
        raise ValueError(
            f"{node.get_path()}: the name {node.inst_name!r} is reserved by the register model"
        )


def _text(node, prop):
    text = node.get_property(prop) or ""
    return " ".join(text.split())


def _register(reg: RegNode, name, bank=None):
    _check_name(reg, Register)
    if reg.is_array:
        raise ValueError(f"Register {reg.get_path()}: register arrays are not supported")
    if reg.get_property("regwidth") != 32:
        raise ValueError(f"Register {reg.get_path()}: only 32-bit registers are supported")
    for field in reg.fields():
        _check_name(field, Register)
    fields = tuple(
        Field(
            name=f.inst_name,
            lsb=f.lsb,
            width=f.width,
            kind=(kind := _field_kind(f)),
            reset=None if kind is Kind.RO else (f.get_property("reset") or 0),
            desc=_text(f, "desc"),
            param=f.get_property("param", default=None),
        )
        for f in reg.fields()
    )
    return Register(
        name=name,
        offset=reg.absolute_address,
        fields=fields,
        title=_text(reg, "name"),
        desc=_text(reg, "desc"),
        bank=bank,
        local=reg.inst_name if bank else None,
    )


def from_rdl(top: AddrmapNode):
    """Build a :class:`RegisterMap` from an elaborated SystemRDL address map.

    Registers sit directly in the address map, or in a register file (an array of them is a
    bank per element) whose registers sit directly in it. The map must start at address 0.

    Raises
    ------
    ValueError
        If a register is not 32 bits wide, a field uses a kind the generator does not support,
        or the map nests deeper than that.
    """
    registers = []
    for node in top.children(unroll=True):
        if isinstance(node, RegNode):
            registers.append(_register(node, node.inst_name))
        elif isinstance(node, RegfileNode):
            if node.is_array and len(node.array_dimensions) > 1:
                raise ValueError(f"{node.get_path()}: only one-dimensional regfile arrays")
            # A single regfile is a bank of one element, without an index in its names.
            index = node.current_idx[0] if node.is_array else 0
            for reg in node.children(unroll=True):
                if not isinstance(reg, RegNode):
                    raise ValueError(f"{reg.get_path()}: only registers may sit in a regfile")
                suffix = str(index) if node.is_array else ""
                name = f"{node.inst_name}{suffix}_{reg.inst_name}"
                registers.append(_register(reg, name, (node.inst_name, index)))
        else:
            raise ValueError(
                f"{node.get_path()}: only registers and register files are supported, not "
                "nested address maps or memories"
            )
    names = [r.name for r in registers]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"Register map {top.inst_name}: names {clashes} are given twice")
    registers.sort(key=lambda r: r.offset)
    return RegisterMap(
        name=top.inst_name,
        registers=tuple(registers),
        title=_text(top, "name"),
        desc=_text(top, "desc"),
    )


def compile_rdl(source):
    """Compile and elaborate a SystemRDL file; return its top address map node.

    Parameters
    ----------
    source : str or pathlib.Path
        A map name (``"host"`` for ``rtl/regmap/host.rdl``) or the path of an ``.rdl`` file.
    """
    path = Path(source)
    if path.suffix != ".rdl":
        path = RDL_DIR / f"{source}.rdl"
    compiler = RDLCompiler()
    compiler.compile_file(str(path))
    return compiler.elaborate().top


@functools.cache
def load(source):
    """Return the :class:`RegisterMap` of a SystemRDL file (compiled once per process).

    Parameters
    ----------
    source : str or pathlib.Path
        As for :func:`compile_rdl`.
    """
    return from_rdl(compile_rdl(source))


# Wide addresses span a pair of registers: ``<name>_lo`` holds address bits 31:0 in place (its
# field may start above bit 0, for an alignment), ``<name>_hi`` the bits from 32 up in its field.


def split_address(lo: Register, hi: Register, address):
    """The values of the ``lo`` and ``hi`` registers that hold ``address``.

    Raises
    ------
    ValueError
        If ``address`` has bits below ``lo``'s field (misaligned) or beyond ``hi``'s field.
    """
    (low,), (high,) = lo.fields, hi.fields
    if address & ((1 << low.lsb) - 1) or address >> (lo.width + high.width):
        raise ValueError(f"Address {address:#x} does not fit registers {lo.name}/{hi.name}")
    return address & low.mask, high.put(address >> lo.width)


def join_address(lo: Register, hi: Register, lo_value, hi_value):
    """The address held by the values of the ``lo`` and ``hi`` registers."""
    (low,), (high,) = lo.fields, hi.fields
    return (lo_value & low.mask) | high.get(hi_value) << lo.width
