"""One open client of the device: its handles and the ioctls that act on them.

Every request goes through :meth:`File.ioctl`, which copies the structure in, checks its size,
flags and reserved fields, calls the request's handler and copies the result back (see
:mod:`tinynpu.driver.uapi`). Handles are per file: a client names only its own buffers and contexts,
and a number it never received is ``ENOENT``. Handle numbers are never reused by a file.

Each file is one client, with a :class:`~tinynpu.driver.tenant.Tenant`: its quotas of memory
(buffers and its contexts' page tables) and contexts, and its record of hangs.
"""

import errno
import itertools
from dataclasses import dataclass, field

from tinynpu.rtl.layouts import nbytes, pack, unpack

from . import tracepoints
from .bo import BufferObject, CpuMapping
from .pgtable import Prot
from .sched import Fence, Job
from .tenant import Tenant
from .uapi import (
    MIN_SIZES,
    PAGE_SIZE,
    REQUESTS,
    Ioctl,
    SyncPoint,
    UapiError,
    VmBindFlags,
    WaitFlags,
)
from .usermem import UserMemory
from .vm import Vm

__all__ = ["Context", "File"]

_U64 = 1 << 64
_SYNC_BYTES = nbytes(SyncPoint)


@dataclass(eq=False)
class Context:
    """A client's context: a scheduler entity and its address space's mappings."""

    entity: object
    vm: Vm
    last_seqno: int = 0
    fences: dict = field(default_factory=dict)
    table_bytes: int = 0  # of its page tables, counted against the client's quota


def _fields(layout, raw):
    const = unpack(layout, raw)
    return {name: const[name] for name, _ in const.shape()}


def _install(table, handles, obj):
    """Store ``obj`` in ``table`` under the next of ``handles``; the reply naming it."""
    handle = next(handles)
    table[handle] = obj
    return {"handle": handle}


class File:
    """An open client of an :class:`~tinynpu.driver.accel.Accel` device.

    Parameters
    ----------
    device : Accel
    user : UserMemory, optional
        The client's process memory.
    tenant : Tenant, optional
        Its quotas and record (:meth:`Accel.open` gives the device's limits); no limit if
        omitted.
    """

    #: Buffer handles a SUBMIT may list.
    MAX_HANDLES = 64
    #: In-syncs a SUBMIT may list.
    MAX_IN_SYNCS = 16

    def __init__(self, device, user=None, tenant=None):
        self.device = device
        self.user = user if user is not None else UserMemory()
        self.tenant = tenant if tenant is not None else Tenant.unlimited()
        self.bos = {}
        self.contexts = {}
        # Handles count up from 1 and are never reused within a file.
        self._bo_handles, self._context_handles = itertools.count(1), itertools.count(1)
        self.closed = False
        self._handlers = {
            Ioctl.DEV_QUERY: self._dev_query,
            Ioctl.CONTEXT_CREATE: self._context_create,
            Ioctl.CONTEXT_DESTROY: self._context_destroy,
            Ioctl.BO_CREATE: self._bo_create,
            Ioctl.BO_MMAP: self._bo_mmap,
            Ioctl.BO_CLOSE: self._bo_close,
            Ioctl.VM_BIND: self._vm_bind,
            Ioctl.SUBMIT: self._submit,
            Ioctl.WAIT: self._wait,
            Ioctl.GET_RESET_STATUS: self._reset_status,
        }

    # --- the entry point --------------------------------------------------------------------

    async def ioctl(self, request, arg: bytearray):
        """Run ``request`` on the structure in ``arg``; write its results back into ``arg``.

        Raises
        ------
        UapiError
            ``EBADF`` on a closed file; ``EINVAL`` for an unknown request, a ``size`` below the
            request's first version, unknown flags, non-zero reserved fields or non-zero bytes
            past the structure this driver knows; ``EFAULT`` if ``arg`` is shorter than its
            ``size``; and whatever the request itself raises.
        """
        try:
            request, layout, fields, copied = self._parse(request, arg)
        except UapiError as error:
            name = Ioctl(request).name if request in Ioctl.__members__.values() else str(request)
            tracepoints.trace("ioctl_done", request=name, errno=error.errno, reply={})
            raise
        args = {k: v for k, v in fields.items() if k != "size" and not k.startswith("_")}
        tracepoints.trace("ioctl", request=request.name, args=args)
        try:
            out = await self._handlers[request](fields)
        except OSError as error:
            tracepoints.trace("ioctl_done", request=request.name, errno=error.errno, reply={})
            if isinstance(error, UapiError):
                raise
            raise UapiError(error.errno, error.strerror or str(error)) from error
        tracepoints.trace("ioctl_done", request=request.name, errno=0, reply=out or {})
        arg[:copied] = pack(layout, fields | (out or {}))[:copied]

    def _parse(self, request, arg):
        """The request, its layout, its fields and the bytes to copy back; or ``UapiError``."""
        if self.closed:
            raise UapiError(errno.EBADF, "The file is closed")
        try:
            request = Ioctl(request)
        except ValueError:
            raise UapiError(errno.EINVAL, f"Unknown request {request!r}") from None
        layout = REQUESTS[request]
        known = nbytes(layout)
        if len(arg) < 4:
            raise UapiError(errno.EFAULT, "The argument has no size field")
        size = int.from_bytes(arg[:4], "little")
        if size < MIN_SIZES[request]:
            raise UapiError(
                errno.EINVAL, f"{request.name}: size {size} < {MIN_SIZES[request]} bytes"
            )
        if size > len(arg):
            raise UapiError(errno.EFAULT, f"{request.name}: size {size} > {len(arg)} bytes")
        if any(arg[known:size]):
            raise UapiError(errno.EINVAL, f"{request.name}: unknown fields past {known} are set")
        copied = min(size, known)
        fields = _fields(layout, bytes(arg[:copied]).ljust(known, b"\0"))
        if any(value for name, value in fields.items() if name.startswith("_reserved")):
            raise UapiError(errno.EINVAL, f"{request.name}: reserved fields are not zero")
        return request, layout, fields, copied

    # --- lookups ----------------------------------------------------------------------------

    def _bo(self, handle):
        try:
            return self.bos[handle]
        except KeyError:
            raise UapiError(errno.ENOENT, f"No buffer handle {handle}") from None

    def _context(self, handle):
        try:
            return self.contexts[handle]
        except KeyError:
            raise UapiError(errno.ENOENT, f"No context handle {handle}") from None

    @staticmethod
    def _no_flags(fields, allowed=0):
        if fields["flags"] & ~allowed:
            raise UapiError(errno.EINVAL, f"Unknown flags {fields['flags'] & ~allowed:#x}")

    @property
    def _sched(self):
        return self.device.sched

    # --- requests ---------------------------------------------------------------------------

    async def _dev_query(self, fields):
        self._no_flags(fields)
        return self.device.query()

    async def _context_create(self, fields):
        self._no_flags(fields)
        device, tenant = self.device, self.tenant
        async with self._sched.lock:
            tenant.check_context()
            if len(self._sched.entities) >= device.backend.limits["max_contexts"]:
                raise UapiError(
                    errno.EBUSY,
                    f"All {device.backend.limits['max_contexts']} contexts are in use",
                )
            space = await device.backend.create_space()
            await self._sched.settle()
            table_bytes = device.backend.space_bytes(space)
            try:
                tenant.charge(table_bytes)
            except UapiError:
                await device.backend.destroy_space(space)
                raise
            tenant.contexts += 1
            entity = self._sched.add(space, tenant)
        query = device.query()
        vm = Vm(device.backend, space, query["va_start"], query["va_end"])
        context = Context(entity, vm, table_bytes=table_bytes)
        return _install(self.contexts, self._context_handles, context)

    async def _context_destroy(self, fields):
        self._no_flags(fields)
        self._context(fields["handle"])
        await self._destroy(self.contexts.pop(fields["handle"]))

    async def _destroy(self, context):
        """Cancel the queued jobs, let those on the hardware end, then free the space.

        While it waits, the context is ``closing``: the scheduler runs none of its jobs and
        cancels those a fault or a reset puts back in its queue.
        """
        sched, entity = self._sched, context.entity
        async with sched.lock:
            entity.closing = True
            sched.cancel_queued(entity)
            running = [job.fence for job in sched.pending if job.entity is entity]
        for fence in running:
            await fence.wait(None)  # bounded by the job's timeout
        async with sched.lock:
            sched.remove(entity)
            await self.device.backend.destroy_space(entity.space)
            await sched.settle()
            context.vm.forget()
            self.tenant.uncharge(context.table_bytes)
            self.tenant.contexts -= 1

    async def _bo_create(self, fields):
        self._no_flags(fields)
        size = fields["bo_size"]
        if size == 0:
            raise UapiError(errno.EINVAL, "A buffer of 0 bytes")
        rounded = -(-size // PAGE_SIZE) * PAGE_SIZE
        if rounded >= _U64:
            raise UapiError(errno.EOVERFLOW, f"{size} bytes overflow when rounded to pages")
        if rounded > self.device.memory.size:
            raise UapiError(
                errno.ENOMEM, f"{size} bytes exceed the {self.device.memory.size} of the device"
            )
        async with self._sched.lock:
            bo = await BufferObject.create(self.device, rounded, self.tenant)
        self.device.bos_by_offset[bo.mmap_offset] = bo
        return _install(self.bos, self._bo_handles, bo)

    async def _bo_mmap(self, fields):
        self._no_flags(fields)
        return {"offset": self._bo(fields["handle"]).mmap_offset}

    async def _bo_close(self, fields):
        self._no_flags(fields)
        self._bo(fields["handle"])
        self.bos.pop(fields["handle"]).put()

    async def _vm_bind(self, fields):
        self._no_flags(fields, sum(flag.value for flag in VmBindFlags))
        flags = VmBindFlags(fields["flags"])
        op = flags & (VmBindFlags.MAP | VmBindFlags.UNMAP)
        if op not in (VmBindFlags.MAP, VmBindFlags.UNMAP):
            raise UapiError(errno.EINVAL, "VM_BIND needs exactly one of MAP and UNMAP")
        context = self._context(fields["context"])
        va, size = fields["va"], fields["range"]
        if op is VmBindFlags.UNMAP:
            if flags != VmBindFlags.UNMAP or fields["handle"] or fields["bo_offset"]:
                raise UapiError(errno.EINVAL, "UNMAP takes no rights, handle or buffer offset")
            async with self._sched.lock:
                if context.entity.on_hw:
                    raise UapiError(
                        errno.EBUSY, "A job of the context is on the device: wait for it first"
                    )
                await self._tables(context, context.vm.unmap(va, size))
            return None
        bo = self._bo(fields["handle"])
        prot = Prot.READ
        if VmBindFlags.READ_ONLY not in flags:
            prot |= Prot.WRITE
        if VmBindFlags.NO_EXEC in flags:
            prot |= Prot.NOEXEC
        async with self._sched.lock:
            grown = await self._tables(
                context, context.vm.map(va, bo, fields["bo_offset"], size, prot)
            )
            if self.tenant.bytes > self.tenant.max_bytes:
                await self._tables(context, context.vm.unmap(va, size))
                raise UapiError(
                    errno.EDQUOT,
                    f"The {grown} bytes of page tables the mapping needs pass the client's quota "
                    f"of {self.tenant.max_bytes}",
                )
        return None

    async def _tables(self, context, change):
        """Await ``change`` to the context's mappings; count its page tables' growth (returned)."""
        backend, space = self.device.backend, context.entity.space
        before = backend.space_bytes(space)
        try:
            await change
        finally:
            grown = backend.space_bytes(space) - before
            context.table_bytes += grown
            self.tenant.bytes += grown
            await self._sched.settle()
        return grown

    async def _submit(self, fields):
        self._no_flags(fields)
        context = self._context(fields["context"])
        entity, limits = context.entity, self.device.query()
        if self._sched.dead is not None:
            raise UapiError(
                errno.EIO, f"The device did not come back from a reset: {self._sched.dead}"
            )
        if entity.banned:
            raise UapiError(errno.ECANCELED, "The context is banned: its jobs hung")
        va, size = fields["cmd_va"], fields["cmd_size"]
        if size == 0 or size % 8 or va % 8 or size > limits["max_cmd_size"]:
            raise UapiError(
                errno.EINVAL,
                f"Command stream {va:#x}+{size}: size must be a multiple of 8 from 8 to "
                f"{limits['max_cmd_size']}, address 8-byte aligned",
            )
        if not context.vm.covers(va, size, exec_only=True):
            raise UapiError(
                errno.EINVAL, f"Command stream {va:#x}+{size} is not in an executable mapping"
            )
        count, syncs = fields["handle_count"], fields["in_sync_count"]
        if count > self.MAX_HANDLES or syncs > self.MAX_IN_SYNCS:
            raise UapiError(
                errno.EINVAL,
                f"{count} handles and {syncs} in-syncs: at most {self.MAX_HANDLES} and "
                f"{self.MAX_IN_SYNCS}",
            )
        raw = self.user.copy_from_user(fields["handles"], 4 * count)
        handles = {int.from_bytes(raw[i : i + 4], "little") for i in range(0, len(raw), 4)}
        bos = [self._bo(handle) for handle in sorted(handles)]
        raw = self.user.copy_from_user(fields["in_syncs"], _SYNC_BYTES * syncs)
        deps = []
        for i in range(syncs):
            point = _fields(SyncPoint, raw[i * _SYNC_BYTES : (i + 1) * _SYNC_BYTES])
            if point["_reserved0"]:
                raise UapiError(errno.EINVAL, f"In-sync {i}: reserved field is not zero")
            deps.append(self._fence(self._context(point["context"]), point["seqno"]))
        timeout = fields["timeout_ns"] or self.device.default_timeout_ns
        if timeout > self.device.max_timeout_ns:
            raise UapiError(
                errno.EINVAL, f"Timeout {timeout} ns exceeds {self.device.max_timeout_ns}"
            )
        async with self._sched.lock:
            if entity.banned:
                raise UapiError(errno.ECANCELED, "The context is banned: its jobs hung")
            seqno = context.last_seqno + 1
            fence = Fence(self.device.platform, seqno)
            context.last_seqno, context.fences[seqno] = seqno, fence
            await self._sched.push(Job(entity, fence, va, size, bos, deps, timeout))
        return {"seqno": seqno}

    @staticmethod
    def _fence(context, seqno):
        if not 0 < seqno <= context.last_seqno:
            raise UapiError(
                errno.EINVAL, f"Fence {seqno} was not issued (last is {context.last_seqno})"
            )
        return context.fences[seqno]

    async def _wait(self, fields):
        flags = fields["flags"]
        self._no_flags(fields, WaitFlags.FENCE | WaitFlags.BO)
        if flags not in (WaitFlags.FENCE, WaitFlags.BO):
            raise UapiError(errno.EINVAL, "WAIT needs exactly one of FENCE and BO")
        deadline = fields["deadline_ns"]
        if flags == WaitFlags.FENCE:
            fences = [self._fence(self._context(fields["handle"]), fields["seqno"])]
        else:
            if fields["seqno"]:
                raise UapiError(errno.EINVAL, "A WAIT on a buffer takes no sequence number")
            fences = [job.fence for job in self._bo(fields["handle"]).jobs]
        for fence in fences:
            remaining = max(0.0, deadline - self.device.now_ns())
            if not await fence.wait(remaining):
                raise UapiError(errno.ETIMEDOUT, f"Not idle at {deadline} ns")
        if flags != WaitFlags.FENCE:
            return None
        fence = fences[0]
        outcome = fence.outcome
        return {
            "job_errno": fence.error,
            "hw_error": outcome.hw_error,
            "hw_offset": outcome.hw_offset,
            "fault_va": outcome.fault_va,
        }

    async def _reset_status(self, fields):
        self._no_flags(fields)
        entity = self._context(fields["context"]).entity
        return {
            "resets": self._sched.resets - entity.resets_seen,
            "hangs": entity.hangs,
            "canceled": entity.canceled,
            "banned": int(entity.banned),
            "client_hangs": self.tenant.hangs,
        }

    # --- CPU mappings and close -------------------------------------------------------------

    async def mmap(self, offset, length):
        """Map ``length`` bytes of the buffer whose BO_MMAP offset is ``offset``.

        Raises
        ------
        UapiError
            ``EBADF`` on a closed file; ``EACCES`` if the offset is not one of this file's
            buffers; ``EINVAL`` for a length of 0 or past the buffer.
        """
        if self.closed:
            raise UapiError(errno.EBADF, "The file is closed")
        bo = self.device.bos_by_offset.get(offset)
        if bo is None or all(mine is not bo for mine in self.bos.values()):
            raise UapiError(errno.EACCES, f"Offset {offset:#x} is no buffer of this file")
        if not 0 < length <= bo.size:
            raise UapiError(errno.EINVAL, f"Length {length} for a {bo.size}-byte buffer")
        return CpuMapping(bo, length)

    async def close(self):
        """Release everything: contexts (after their jobs on the device end), then handles."""
        if self.closed:
            return
        self.closed = True
        for handle in list(self.contexts):
            await self._destroy(self.contexts.pop(handle))
        for handle in list(self.bos):
            self.bos.pop(handle).put()
        self.device.files.remove(self)
