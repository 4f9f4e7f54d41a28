"""What one client may hold of the device, what it holds, and how often its jobs hung.

A :class:`Tenant` belongs to an open file and outlives its contexts, so a client cannot shed
its record by creating a new context. The limits (DEV_QUERY's ``max_client_bytes``,
``max_client_contexts`` and ``client_ban_hangs``):

* memory: the bytes of the device's pool the client holds, its buffers and the page tables of
  its contexts; a request that would pass the quota is ``EDQUOT``;
* contexts: a CONTEXT_CREATE past the quota is ``EDQUOT``;
* hangs: once its jobs have timed out ``ban_hangs`` times, over all its contexts, the client is
  banned: its contexts are (queued jobs ``ECANCELED``, SUBMIT ``ECANCELED``) and
  CONTEXT_CREATE is ``EPERM``.
"""

import errno
from dataclasses import dataclass

from .uapi import UapiError

__all__ = ["Tenant"]


@dataclass(eq=False)
class Tenant:
    """One client's quotas and use.

    Attributes
    ----------
    max_bytes, max_contexts, ban_hangs : int
        The limits.
    bytes, contexts, hangs : int
        Bytes of the pool held, contexts held, jobs that timed out.
    banned : bool
    """

    max_bytes: int
    max_contexts: int
    ban_hangs: int
    bytes: int = 0
    contexts: int = 0
    hangs: int = 0
    banned: bool = False

    @classmethod
    def unlimited(cls):
        """A tenant no limit binds (a file opened without the device's limits)."""
        return cls(1 << 64, 1 << 32, 1 << 32)

    def charge(self, size):
        """Count ``size`` more bytes against the quota.

        Raises
        ------
        UapiError
            ``EDQUOT`` if they do not fit it (nothing is counted then).
        """
        if self.bytes + size > self.max_bytes:
            raise UapiError(
                errno.EDQUOT,
                f"{size} bytes more than the {self.bytes} held pass the client's quota of "
                f"{self.max_bytes}",
            )
        self.bytes += size

    def uncharge(self, size):
        """The client no longer holds ``size`` bytes."""
        self.bytes -= size

    def check_context(self):
        """Whether the client may create one more context.

        Raises
        ------
        UapiError
            ``EPERM`` for a banned client; ``EDQUOT`` if it holds its quota of contexts.
        """
        if self.banned:
            raise UapiError(errno.EPERM, f"The client is banned: its jobs hung {self.hangs} times")
        if self.contexts >= self.max_contexts:
            raise UapiError(
                errno.EDQUOT, f"The client holds its quota of {self.max_contexts} contexts"
            )
