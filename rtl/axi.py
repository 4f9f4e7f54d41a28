"""AXI4 and AXI4-Lite signatures.

Signatures are written from the manager's (master's) side; a subordinate takes
``In(AXI4LiteSignature(...))``. Member names follow the AMBA specification, so that a port named
``host`` appears in Verilog as ``host__awaddr`` and attaches to cocotbext-axi with
``bus_separator="__"``.
"""

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AXI4LiteSignature", "AXI4Signature", "Burst", "Resp", "channels", "forward"]


class Resp(enum.Enum, shape=2):
    """Response codes of the B and R channels."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class Burst(enum.Enum, shape=2):
    """Burst types of the AW and AR channels."""

    FIXED = 0
    INCR = 1
    WRAP = 2


def _check_widths(addr_width, data_width, data_widths):
    if not isinstance(addr_width, int) or not 1 <= addr_width <= 64:
        raise ValueError(f"Address width must be an integer between 1 and 64, not {addr_width!r}")
    if data_width not in data_widths:
        raise ValueError(f"Data width must be one of {data_widths}, not {data_width!r}")


class AXI4LiteSignature(wiring.Signature):
    """AXI4-Lite, from the manager's side.

    Parameters
    ----------
    addr_width : int
        Width of ``awaddr`` and ``araddr``.
    data_width : int
        32 or 64.

    Raises
    ------
    ValueError
        If a width is out of range.
    """

    def __init__(self, *, addr_width, data_width=32):
        _check_widths(addr_width, data_width, (32, 64))
        self.addr_width = addr_width
        self.data_width = data_width
        super().__init__(
            {
                "awaddr": Out(addr_width),
                "awprot": Out(3),
                "awvalid": Out(1),
                "awready": In(1),
                "wdata": Out(data_width),
                "wstrb": Out(data_width // 8),
                "wvalid": Out(1),
                "wready": In(1),
                "bresp": In(Resp),
                "bvalid": In(1),
                "bready": Out(1),
                "araddr": Out(addr_width),
                "arprot": Out(3),
                "arvalid": Out(1),
                "arready": In(1),
                "rdata": In(data_width),
                "rresp": In(Resp),
                "rvalid": In(1),
                "rready": Out(1),
            }
        )


class AXI4Signature(wiring.Signature):
    """AXI4 (full), from the manager's side.

    Parameters
    ----------
    addr_width : int
        Width of ``awaddr`` and ``araddr``.
    data_width : int
        32, 64, 128 or 256.
    id_width : int
        Width of the transaction IDs, 1 to 8.

    Raises
    ------
    ValueError
        If a width is out of range.
    """

    def __init__(self, *, addr_width, data_width, id_width):
        _check_widths(addr_width, data_width, (32, 64, 128, 256))
        if not isinstance(id_width, int) or not 1 <= id_width <= 8:
            raise ValueError(f"ID width must be an integer between 1 and 8, not {id_width!r}")
        self.addr_width = addr_width
        self.data_width = data_width
        self.id_width = id_width
        members = {}
        for ch in ("aw", "ar"):
            members |= {
                f"{ch}id": Out(id_width),
                f"{ch}addr": Out(addr_width),
                f"{ch}len": Out(8),
                f"{ch}size": Out(3),
                f"{ch}burst": Out(Burst),
                f"{ch}lock": Out(1),
                f"{ch}cache": Out(4),
                f"{ch}prot": Out(3),
                f"{ch}valid": Out(1),
                f"{ch}ready": In(1),
            }
        members |= {
            "wdata": Out(data_width),
            "wstrb": Out(data_width // 8),
            "wlast": Out(1),
            "wvalid": Out(1),
            "wready": In(1),
            "bid": In(id_width),
            "bresp": In(Resp),
            "bvalid": In(1),
            "bready": Out(1),
            "rid": In(id_width),
            "rdata": In(data_width),
            "rresp": In(Resp),
            "rlast": In(1),
            "rvalid": In(1),
            "rready": Out(1),
        }
        super().__init__(members)


def channels(signature, prefixes):
    """The members of ``signature`` whose names start with one of ``prefixes``.

    ``channels(axi, ("ar", "r"))`` is the read half of an AXI4 signature.
    """
    return wiring.Signature(
        {name: member for name, member in signature.members.items() if name.startswith(prefixes)}
    )


def forward(m, outer, inner, prefixes=("",)):
    """Connect each member of ``inner`` to the same-named member of the wider ``outer``.

    Both are interfaces seen from the same side (``outer`` a port of the enclosing component,
    ``inner`` a port of a submodule): outputs of ``inner`` drive ``outer``, inputs are driven
    from it. Only members whose names start with one of ``prefixes`` are connected.
    """
    for name, member in inner.signature.members.items():
        if not name.startswith(tuple(prefixes)):
            continue
        o, i = getattr(outer, name), getattr(inner, name)
        m.d.comb += o.eq(i) if member.flow == wiring.Flow.Out else i.eq(o)
