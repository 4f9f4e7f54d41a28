"""The simulator executable's own C++ entry points (``csrc/``), typed for :mod:`ctypes`.

The Verilated model links the host memory and the access queue of ``csrc/`` and exports their
symbols (``-rdynamic``); cocotb runs this Python inside that executable, so the harness calls them
directly.
"""

import ctypes
import functools

__all__ = ["model"]

_u32, _u64, _i64, _int = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_int

#: name: (argument types, result type)
_PROTOTYPES = {
    "tinynpu_host_memory_attach": ([ctypes.c_void_p, _u64], None),
    "tinynpu_host_memory_timing": ([_u32, _u32, _u32], _int),
    "tinynpu_host_memory_add_rule": (
        [_int, _u32, _u32, _u64, _u64, _u64, _i64, _u32, _u32],
        _int,
    ),
    "tinynpu_host_memory_clear_rules": ([], None),
    "tinynpu_host_memory_stats": ([ctypes.POINTER(_u64), _int], _int),
    "tinynpu_lite_push": ([_int, _int, _u32, _u32, _u32, _u32, _int], _u32),
    "tinynpu_lite_notify": ([_int, _u32], _int),
    "tinynpu_lite_pending": ([_int], _int),
    "tinynpu_lite_withdraw": ([_int, _u32], None),
    "tinynpu_lite_clear": ([_int], None),
    "tinynpu_lite_logging": ([_int, _int], None),
    "tinynpu_lite_values": ([_int, _u32, _int, ctypes.POINTER(_u32)], _int),
    "tinynpu_lite_told": ([_int, ctypes.POINTER(_u32)], None),
    "tinynpu_lite_collect": (
        [_int, ctypes.POINTER(_u32), ctypes.POINTER(ctypes.c_double), _int],
        _int,
    ),
}


@functools.cache
def model():
    """The executable's symbols, each with its prototype set.

    Raises
    ------
    RuntimeError
        Outside a simulator built by :func:`tinynpu.sim.build.build_simulator`.
    """
    lib = ctypes.CDLL(None)
    for name, (arguments, result) in _PROTOTYPES.items():
        try:
            function = getattr(lib, name)
        except AttributeError:
            raise RuntimeError(
                f"{name} is not in this process: the SoC's host memory exists only inside a "
                "simulator built by tinynpu.sim.build"
            ) from None
        function.argtypes, function.restype = arguments, result
    return lib
