"""Thin user-space wrappers over the uAPI, as libdrm's are over a DRM driver's ioctls.

A :class:`Client` packs each request's structure (:mod:`tinynpu.driver.uapi`) with its full
``size``, calls ``ioctl`` on its open file, and unpacks what the driver wrote back. Arrays go
through the client's process memory. Errors come back as :class:`~tinynpu.driver.uapi.UapiError`.
"""

from tinynpu.driver.uapi import REQUESTS, Ioctl, SyncPoint, VmBindFlags, WaitFlags
from tinynpu.rtl.layouts import nbytes, pack, unpack

__all__ = ["Client"]


class Client:
    """One open file of the device, through the uAPI only.

    Parameters
    ----------
    file : driver.file.File
        What opening the device node returned.
    """

    def __init__(self, file):
        self.file = file
        self.user = file.user
        self._mappings = []

    async def ioctl(self, request: Ioctl, **fields):
        """Run ``request`` with ``fields`` (the rest zero); return every field after it."""
        layout = REQUESTS[request]
        arg = bytearray(pack(layout, {"size": nbytes(layout)} | fields))
        await self.file.ioctl(request, arg)
        const = unpack(layout, bytes(arg))
        return {name: const[name] for name, _ in const.shape()}

    async def query(self):
        """DEV_QUERY's fields."""
        return await self.ioctl(Ioctl.DEV_QUERY)

    async def context_create(self):
        """A new context's handle."""
        return (await self.ioctl(Ioctl.CONTEXT_CREATE))["handle"]

    async def context_destroy(self, handle):
        """Destroy a context (its queued jobs are canceled)."""
        await self.ioctl(Ioctl.CONTEXT_DESTROY, handle=handle)

    async def bo_create(self, size):
        """A new zeroed buffer's handle."""
        return (await self.ioctl(Ioctl.BO_CREATE, bo_size=size))["handle"]

    async def bo_close(self, handle):
        """Close a buffer handle."""
        await self.ioctl(Ioctl.BO_CLOSE, handle=handle)

    async def mmap(self, handle, length):
        """A CPU mapping of the first ``length`` bytes of a buffer."""
        offset = (await self.ioctl(Ioctl.BO_MMAP, handle=handle))["offset"]
        mapping = await self.file.mmap(offset, length)
        self._mappings.append(mapping)
        return mapping

    async def vm_map(self, context, handle, va, size, *, bo_offset=0, flags=0):
        """Map ``size`` bytes of a buffer at ``va`` of a context."""
        await self.ioctl(
            Ioctl.VM_BIND,
            flags=VmBindFlags.MAP | flags,
            context=context,
            handle=handle,
            bo_offset=bo_offset,
            va=va,
            range=size,
        )

    async def vm_unmap(self, context, va, size):
        """Unmap ``size`` bytes at ``va`` of a context."""
        await self.ioctl(Ioctl.VM_BIND, flags=VmBindFlags.UNMAP, context=context, va=va, range=size)

    async def submit(self, context, cmd_va, cmd_size, *, handles=(), in_syncs=(), timeout_ns=0):
        """Submit a job; return its out-fence's sequence number.

        ``in_syncs`` are ``(context, seqno)`` pairs.
        """
        handle_bytes = b"".join(h.to_bytes(4, "little") for h in handles)
        sync_bytes = b"".join(pack(SyncPoint, {"context": c, "seqno": s}) for c, s in in_syncs)
        handles_ptr, syncs_ptr = self.user.alloc(handle_bytes), self.user.alloc(sync_bytes)
        try:
            reply = await self.ioctl(
                Ioctl.SUBMIT,
                context=context,
                cmd_va=cmd_va,
                cmd_size=cmd_size,
                handles=handles_ptr,
                handle_count=len(handles),
                in_syncs=syncs_ptr,
                in_sync_count=len(in_syncs),
                timeout_ns=timeout_ns,
            )
        finally:
            self.user.free(handles_ptr)
            self.user.free(syncs_ptr)
        return reply["seqno"]

    async def wait(self, context, seqno, deadline_ns):
        """Wait for a fence; its ``job_errno``, ``hw_error``, ``hw_offset`` and ``fault_va``."""
        reply = await self.ioctl(
            Ioctl.WAIT, flags=WaitFlags.FENCE, handle=context, seqno=seqno, deadline_ns=deadline_ns
        )
        return {k: reply[k] for k in ("job_errno", "hw_error", "hw_offset", "fault_va")}

    async def wait_bo(self, handle, deadline_ns):
        """Wait until no unfinished job uses a buffer."""
        await self.ioctl(Ioctl.WAIT, flags=WaitFlags.BO, handle=handle, deadline_ns=deadline_ns)

    async def reset_status(self, context):
        """GET_RESET_STATUS: ``resets``, ``hangs``, ``canceled``, ``banned``."""
        reply = await self.ioctl(Ioctl.GET_RESET_STATUS, context=context)
        return {k: reply[k] for k in ("resets", "hangs", "canceled", "banned")}

    async def close(self):
        """What the process's exit does: unmap its CPU mappings, close the file."""
        for mapping in self._mappings:
            mapping.close()
        await self.file.close()
