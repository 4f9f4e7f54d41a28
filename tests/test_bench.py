"""The bench's summary: every phase's simulation speed against the idle rate of its build."""

from tinynpu.bench import speed_summary
from tinynpu.demo import DemoResult


def test_every_phase_is_a_ratio_to_the_idle_rate_of_its_own_build():
    figures = {
        "idle_cycles_per_s": 200_000.0,
        "mmio_cycles_per_s": 50_000.0,
        "nop_cycles_per_s": 100_000.0,
        "copy_sequential_mmu_cycles_per_s": 150_000.0,
    }
    compute = [
        {
            "name": "gemm 128x128x128",
            "array": 16,
            "cycles_per_s": 90_000.0,
            "idle_cycles_per_s": 100_000.0,
        }
    ]
    lines = []
    speed_summary(figures, compute, DemoResult(True, 4.0, 600_000), out=lines.append)
    assert lines == [
        "simulation speed, as a ratio to the idle rate of the same build:",
        "  idle simulation                    200000 cycles/s   1.00",
        "  back-to-back host MMIO reads        50000 cycles/s   0.25",
        "  NOP jobs back to back              100000 cycles/s   0.50",
        "  1 MiB COPY through the MMU         150000 cycles/s   0.75",
        "  gemm 128x128x128 on 16 x 16         90000 cycles/s   0.90",
        "  demo: 600,000 cycles in 4.0 s      150000 cycles/s   0.75",
    ]


def test_a_demo_result_is_true_when_its_outputs_are_exact():
    assert DemoResult(True, 1.0, 10)
    assert not DemoResult(False, 1.0, 10)
