"""The round-robin choice shared by the read arbiter and the MMU's request sequencer."""

from amaranth.hdl import Const, Signal

__all__ = ["round_robin"]


def round_robin(m, requests, last):
    """The requester a round robin serves next: the first after ``last`` whose request is set.

    The scan starts at ``last + 1`` and wraps, so ``last`` itself comes last. The choice is
    combinational; it is 0 when nothing is requested (``requests.any()`` tells).

    Parameters
    ----------
    m : Module
        Where the choice's logic goes.
    requests : Value
        One bit per requester.
    last : Value
        Index of the requester served last.

    Returns
    -------
    Value
        The index, of shape ``range(len(requests))``.
    """
    count = len(requests)
    if count == 1:
        return Const(0, range(1))
    pick = Signal(range(count))
    with m.Switch(last):
        for served in range(count):
            with m.Case(served):
                # The later assignment wins: scan from the far end back to the next one.
                for offset in reversed(range(1, count + 1)):
                    index = (served + offset) % count
                    with m.If(requests[index]):
                        m.d.comb += pick.eq(index)
    return pick
