"""WAVES=1 writes an FST waveform into the run's own directory."""

import pytest
from configs import CONFIGS

# An FST file opens with its header block: type 0 (FST_BL_HDR), then its 64-bit big-endian
# length, 329 bytes.
FST_HEADER = bytes([0]) + (329).to_bytes(8, "big")


@pytest.mark.cosim
def test_waves_writes_fst(cosim, monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    run = cosim("host_regs_tb", CONFIGS["n4"], "interrupt_line")
    dump = run.directory / "dump.fst"
    assert dump.read_bytes()[: len(FST_HEADER)] == FST_HEADER
    assert dump.stat().st_size > 1000
