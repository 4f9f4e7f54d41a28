"""tinynpu: a register-level simulator of a generic NPU, with its firmware and driver.

The design's layers are the subpackages :mod:`tinynpu.rtl` (the hardware),
:mod:`tinynpu.sim` (the simulated machine), :mod:`tinynpu.firmware`, :mod:`tinynpu.driver` and
:mod:`tinynpu.runtime`; this package itself holds the applications (command line, demo, run,
bench, docgen). ``docs/architecture.md`` says what each layer may import.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("tinynpu")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
