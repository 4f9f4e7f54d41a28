"""WAVES=1 writes an FST waveform into the run's own directory."""

import pytest
from tinynpu.rtl.config import NpuConfig

# An FST file opens with its header block: type 0 (FST_BL_HDR), then its 64-bit big-endian
# length, 329 bytes.
FST_HEADER = bytes([0]) + (329).to_bytes(8, "big")
#: The smallest configuration: its traced build is the quickest, and its Verilog is shared with
#: tests/test_cli.py and tests/sim/test_amaranth_fixes.py through the build cache.
TINY = NpuConfig.smallest()


@pytest.mark.cosim
def test_waves_writes_fst(cosim, monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    run = cosim("host_regs_tb", TINY, "interrupt_line")
    dump = run.directory / "dump.fst"
    assert dump.read_bytes()[: len(FST_HEADER)] == FST_HEADER
    assert dump.stat().st_size > 1000
