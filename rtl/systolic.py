"""The output-stationary systolic array: N x N int8 multiply-accumulate cells.

Each step ``k`` of a tile brings a column of A (``a[i] = A[i][k]``) and a row of B
(``b[j] = B[k][j]``). Row ``i`` of A enters the array ``i`` cycles late and column ``j`` of B
``j`` cycles late (the skew), so cell ``(i, j)`` sees ``A[i][k]`` and ``B[k][j]`` together, at
``k + i + j`` cycles after step ``k`` entered; it passes ``a`` right and ``b`` down::

            b0   b1   b2          (column j delayed j cycles)
             |    |    |
    a0  --> c00->c01->c02
    a1 -->  c10->c11->c12         (row i delayed i cycles)
    a2 -->  c20->c21->c22

Each cell holds its accumulator (output-stationary). The step's flags travel with ``a``: ``first``
starts a new sum, ``last`` copies the finished sum into the cell's result register, so the next
tile's steps follow the last one without a gap while the results drain. Row ``i`` of a tile is
complete ``N + i`` cycles after its last step entered and is offered on ``row`` for that one cycle:
rows come out in order, one per cycle. Results are overwritten by the next tile's after ``K``
cycles, so tiles must be at least ``N`` steps long (the sequencer pads shorter ones with bubbles).
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StepFlags", "SystolicArray"]


class StepFlags(data.Struct):
    """What a step tells every cell it reaches."""

    valid: 1
    first: 1  # start a new sum with this step's product
    last: 1  # the sum is complete after this step's product


class SystolicArray(wiring.Component):
    """``n`` x ``n`` int8 cells with int32 accumulators, fed one step per cycle.

    Parameters
    ----------
    n : int
        Rows and columns of cells.

    Attributes
    ----------
    flags : In(StepFlags)
        The step entering this cycle; no step when ``valid`` is low (a bubble).
    a, b : In(data.ArrayLayout(signed(8), n))
        Column of A and row of B of the step.
    row_valid : Out(1)
        A result row is offered this cycle.
    row_index : Out(range(n))
        Which row of the tile.
    row : Out(data.ArrayLayout(signed(32), n))
        Its ``n`` int32 sums (wrapping on overflow, as int32 arithmetic does).
    """

    def __init__(self, n):
        self.n = n
        lanes8 = data.ArrayLayout(signed(8), n)
        super().__init__(
            {
                "flags": In(StepFlags),
                "a": In(lanes8),
                "b": In(lanes8),
                "row_valid": Out(1),
                "row_index": Out(range(n)),
                "row": Out(data.ArrayLayout(signed(32), n)),
            }
        )

    @staticmethod
    def _delay(m, value, cycles, name):
        """``value`` delayed by ``cycles`` registers."""
        for stage in range(cycles):
            reg = Signal.like(value, name=f"{name}_d{stage}")
            m.d.sync += reg.eq(value)
            value = reg
        return value

    def elaborate(self, platform):
        """Build the skew registers and the cells."""
        m = Module()
        n = self.n
        # Skew: what enters cell (i, 0) and cell (0, j) this cycle.
        a_in = [self._delay(m, self.a[i], i, f"a{i}") for i in range(n)]
        f_in = [self._delay(m, self.flags, i, f"f{i}") for i in range(n)]
        b_in = [self._delay(m, self.b[j], j, f"b{j}") for j in range(n)]

        results = []
        done = []
        b_above = b_in
        for i in range(n):
            a_left, f_left = a_in[i], f_in[i]
            row_results, b_here = [], []
            for j in range(n):
                a_reg = Signal(signed(8), name=f"pe{i}_{j}_a")
                b_reg = Signal(signed(8), name=f"pe{i}_{j}_b")
                f_reg = Signal(StepFlags, name=f"pe{i}_{j}_f")
                acc = Signal(signed(32), name=f"pe{i}_{j}_acc")
                result = Signal(signed(32), name=f"pe{i}_{j}_res")
                total = Mux(f_left.first, 0, acc) + a_left * b_above[j]
                m.d.sync += [a_reg.eq(a_left), b_reg.eq(b_above[j]), f_reg.eq(f_left)]
                with m.If(f_left.valid):
                    m.d.sync += acc.eq(total)
                    with m.If(f_left.last):
                        m.d.sync += result.eq(total)
                a_left, f_left = a_reg, f_reg
                row_results.append(result)
                b_here.append(b_reg)
            # The last cell of row i has taken the tile's last step: the row is complete.
            done.append(f_left.valid & f_left.last)
            results.append(row_results)
            b_above = b_here

        m.d.comb += self.row_valid.eq(Cat(done).any())
        for i in range(n):
            with m.If(done[i]):
                m.d.comb += [self.row_index.eq(i), self.row.eq(Cat(results[i]))]
        return m
