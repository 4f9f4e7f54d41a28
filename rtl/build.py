"""Elaborate the NPU to Verilog, cached by configuration and sources.

Everything generated lives under ``build/<config slug>-<key>/``, where the key hashes the
configuration, every file under ``rtl/`` and the Amaranth version. A directory, once complete, is
never rewritten: a change of any input yields a new key. Concurrent builders (pytest-xdist
workers) serialise on a lock file, so a configuration is elaborated once.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import time
from importlib.metadata import version
from pathlib import Path

from amaranth.back import verilog

from .config import NpuConfig
from .top import NpuTop

__all__ = ["TOP_NAME", "build_root", "config_dir", "elaborate", "emit_verilog", "file_lock"]

#: Verilog module name of the NPU top level.
TOP_NAME = "tinynpu_top"

RTL_DIR = Path(__file__).parent


def build_root():
    """The root of generated files: ``$TINYNPU_BUILD_DIR``, or ``build/`` in the checkout."""
    if env := os.environ.get("TINYNPU_BUILD_DIR"):
        return Path(env).resolve()
    checkout = RTL_DIR.parent
    if (checkout / "pyproject.toml").exists():
        return checkout / "build"
    return Path.cwd() / "build"


def source_digest():
    """Hash of every RTL source file and of the Amaranth version (hex)."""
    digest = hashlib.sha256(version("amaranth").encode())
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


def emit_verilog(config: NpuConfig):
    """Elaborate ``config`` and return the Verilog text of the top level ``tinynpu_top``."""
    return verilog.convert(NpuTop(config), name=TOP_NAME, emit_src=False)


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
