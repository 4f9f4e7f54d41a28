"""The user-space API: ioctl numbers, request structures, flags and the error type.

This module is the driver's ``include/uapi`` header: the kernel side (:mod:`tinynpu.driver.file`)
and user space (:mod:`tinynpu.runtime.libtinynpu`) share it. Every request is a little-endian
structure (a shared :class:`~amaranth.lib.data.Struct`) that starts with two 32-bit words:

``size``
    The bytes of the structure as the caller knows it. A caller built against an older header
    passes a shorter structure (never shorter than :data:`MIN_SIZES`); one built against a
    newer header a longer one, whose bytes beyond this version's structure must be zero. The
    driver reads and writes back only ``min(size, its own size)`` bytes.
``flags``
    Only the flags defined for the request; anything else is ``EINVAL``.

Fields named ``_reserved*`` must be zero (``EINVAL``). Arrays (a submit's buffer handles and
in-syncs) are passed by user pointer and read with ``copy_from_user``; a bad pointer is
``EFAULT``. Every error is a :class:`UapiError` carrying its ``errno``.
"""

import enum
import errno

from amaranth.lib import data
from tinynpu.rtl.layouts import nbytes

__all__ = [
    "MIN_SIZES",
    "PAGE_SIZE",
    "REQUESTS",
    "UAPI_VERSION",
    "BoCreate",
    "BoHandle",
    "BoMmap",
    "ContextCreate",
    "ContextHandle",
    "DevQuery",
    "Ioctl",
    "ResetStatus",
    "Submit",
    "SyncPoint",
    "UapiError",
    "VmBind",
    "VmBindFlags",
    "Wait",
    "WaitFlags",
]

#: The uAPI's (major, minor) version, reported by DEV_QUERY. 1.1 added the client limits to
#: DEV_QUERY and ``client_hangs`` to GET_RESET_STATUS (longer structures).
UAPI_VERSION = (1, 1)
#: The page size: VM_BIND addresses, sizes and buffer offsets are multiples of it, buffers are
#: allocated and mapped for the CPU in whole pages (DEV_QUERY's ``page_size``).
PAGE_SIZE = 4096


class UapiError(OSError):
    """A request failed: ``errno`` says why (``EINVAL``, ``ENOENT``, ``EFAULT``...)."""

    def __init__(self, code, message):
        super().__init__(code, f"{errno.errorcode.get(code, code)}: {message}")


class Ioctl(enum.IntEnum):
    """Request numbers."""

    DEV_QUERY = 0x00
    CONTEXT_CREATE = 0x01
    CONTEXT_DESTROY = 0x02
    BO_CREATE = 0x03
    BO_MMAP = 0x04
    BO_CLOSE = 0x05
    VM_BIND = 0x06
    SUBMIT = 0x07
    WAIT = 0x08
    GET_RESET_STATUS = 0x09


class VmBindFlags(enum.IntFlag):
    """VM_BIND operations and mapping rights. Exactly one of MAP and UNMAP."""

    MAP = 1 << 0
    UNMAP = 1 << 1
    #: The device may only read the mapping (MAP only).
    READ_ONLY = 1 << 2
    #: The mapping may not hold command streams (MAP only).
    NO_EXEC = 1 << 3


class WaitFlags(enum.IntFlag):
    """What WAIT waits for. Exactly one of FENCE and BO."""

    #: A job's out-fence: ``handle`` is a context, ``seqno`` the fence.
    FENCE = 1 << 0
    #: Every job that uses a buffer: ``handle`` is a buffer.
    BO = 1 << 1


class DevQuery(data.Struct):
    """DEV_QUERY: what the device and this driver offer (all fields out).

    ``max_contexts`` is the number of contexts the device can hold at once (one hardware
    address space each); ``va_start .. va_end`` is where VM_BIND may map; ``queue_depth`` is how
    many jobs the scheduler keeps on the hardware at once (the jobs a reset can lose);
    ``ban_hangs`` is the number of timed-out jobs after which a context is banned.

    The client limits (1.1; a caller of 1.0 passes the 96 bytes before them): a client (an open
    file) may hold ``max_client_bytes`` of device memory (its buffers and its contexts' page
    tables) and ``max_client_contexts`` contexts, past which requests fail with ``EDQUOT``;
    once its jobs have timed out ``client_ban_hangs`` times, over all its contexts, it is
    banned (SUBMIT ``ECANCELED``, CONTEXT_CREATE ``EPERM``). ``max_timeout_ns`` caps the
    timeout a SUBMIT may ask for (``EINVAL`` past it).
    """

    size: 32
    flags: 32
    uapi_version: 32
    hw_version: 32
    array_size: 32
    max_contexts: 32
    page_size: 32
    max_cmd_size: 32
    max_handles: 32
    max_in_syncs: 32
    queue_depth: 32
    ban_hangs: 32
    va_start: 64
    va_end: 64
    max_bo_size: 64
    default_timeout_ns: 64
    max_timeout_ns: 64
    _reserved0: 64
    max_client_bytes: 64
    max_client_contexts: 32
    client_ban_hangs: 32


class ContextCreate(data.Struct):
    """CONTEXT_CREATE: a new context with its own address space; ``handle`` out."""

    size: 32
    flags: 32
    handle: 32
    _reserved0: 32


class ContextHandle(data.Struct):
    """CONTEXT_DESTROY: the context ``handle``."""

    size: 32
    flags: 32
    handle: 32
    _reserved0: 32


class BoCreate(data.Struct):
    """BO_CREATE: a zeroed buffer of ``bo_size`` bytes (rounded up to pages); ``handle`` out."""

    size: 32
    flags: 32
    bo_size: 64
    handle: 32
    _reserved0: 32


class BoMmap(data.Struct):
    """BO_MMAP: the ``offset`` (out) to pass to ``File.mmap`` for CPU access to ``handle``."""

    size: 32
    flags: 32
    handle: 32
    _reserved0: 32
    offset: 64


class BoHandle(data.Struct):
    """BO_CLOSE: the buffer ``handle``."""

    size: 32
    flags: 32
    handle: 32
    _reserved0: 32


class VmBind(data.Struct):
    """VM_BIND: map or unmap a range of a context's address space.

    MAP maps ``range`` bytes of buffer ``handle`` from ``bo_offset`` at ``va`` in the address
    space of ``context``; UNMAP unmaps ``range`` bytes at ``va`` (``handle`` and ``bo_offset``
    zero). Addresses and sizes are page multiples.
    """

    size: 32
    flags: 32
    context: 32
    handle: 32
    bo_offset: 64
    va: 64
    range: 64


class SyncPoint(data.Struct):
    """An in-sync: the out-fence ``seqno`` of ``context``."""

    context: 32
    _reserved0: 32
    seqno: 64


class Submit(data.Struct):
    """SUBMIT: one job in ``context``; its out-fence ``seqno`` is returned.

    ``cmd_va``/``cmd_size`` name the command stream in the context's address space.
    ``handles`` points to ``handle_count`` 32-bit buffer handles the job uses (kept alive, and
    waited on by a WAIT on the buffer, until it ends); ``in_syncs`` to ``in_sync_count``
    :class:`SyncPoint` entries the job waits for. ``timeout_ns`` of 0 takes the default.
    """

    size: 32
    flags: 32
    context: 32
    cmd_size: 32
    cmd_va: 64
    handles: 64
    handle_count: 32
    in_sync_count: 32
    in_syncs: 64
    timeout_ns: 64
    seqno: 64


class Wait(data.Struct):
    """WAIT: for a fence or for a buffer to be idle, until an absolute deadline.

    With FENCE, ``handle`` is a context and ``seqno`` its fence; with BO, ``handle`` is a
    buffer. Past ``deadline_ns`` (on the device clock) the wait fails with ``ETIMEDOUT``. For a
    fence, ``job_errno`` (out) is 0 or the errno the job failed with, ``hw_error`` the
    hardware's error code, ``hw_offset`` the failing command's offset and ``fault_va`` the
    faulting address, if any.
    """

    size: 32
    flags: 32
    handle: 32
    _reserved0: 32
    seqno: 64
    deadline_ns: 64
    job_errno: 32
    hw_error: 32
    hw_offset: 32
    _reserved1: 32
    fault_va: 64


class ResetStatus(data.Struct):
    """GET_RESET_STATUS: what resets did to ``context`` (all other fields out).

    ``resets`` counts device resets since the context was created, ``hangs`` its own jobs that
    timed out, ``canceled`` its jobs canceled by resets or a ban; ``banned`` is 1 once banned
    (by its own hangs or its client's). ``client_hangs`` (1.1; a caller of 1.0 passes the 32
    bytes before it) counts the client's jobs that timed out, in all its contexts, destroyed
    ones included.
    """

    size: 32
    flags: 32
    context: 32
    resets: 32
    hangs: 32
    canceled: 32
    banned: 32
    _reserved0: 32
    client_hangs: 32
    _reserved1: 32


#: The structure of each request.
REQUESTS = {
    Ioctl.DEV_QUERY: DevQuery,
    Ioctl.CONTEXT_CREATE: ContextCreate,
    Ioctl.CONTEXT_DESTROY: ContextHandle,
    Ioctl.BO_CREATE: BoCreate,
    Ioctl.BO_MMAP: BoMmap,
    Ioctl.BO_CLOSE: BoHandle,
    Ioctl.VM_BIND: VmBind,
    Ioctl.SUBMIT: Submit,
    Ioctl.WAIT: Wait,
    Ioctl.GET_RESET_STATUS: ResetStatus,
}

#: The first field each request's structure gained in uAPI 1.1.
_ADDED_IN_1_1 = {Ioctl.DEV_QUERY: "max_client_bytes", Ioctl.GET_RESET_STATUS: "client_hangs"}

#: The shortest ``size`` each request accepts: the first version of its structure (1.0).
MIN_SIZES = {
    request: layout.as_shape()[_ADDED_IN_1_1[request]].offset // 8
    if request in _ADDED_IN_1_1
    else nbytes(layout)
    for request, layout in REQUESTS.items()
}
