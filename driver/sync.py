"""A sleeping lock over the platform's events: the driver's ``struct mutex``."""

from collections import deque

__all__ = ["Mutex"]


class Mutex:
    """Serialise the driver's register sequences and state changes between tasks.

    Use as ``async with mutex:``. Not recursive.
    """

    def __init__(self, platform):
        self._platform = platform
        self._held = False
        self._waiters = deque()

    @property
    def locked(self):
        """Whether a task holds the lock."""
        return self._held

    async def __aenter__(self):
        while self._held:
            event = self._platform.event()
            self._waiters.append(event)
            try:
                await event.wait()
            except BaseException:  # cancelled while waiting: do not swallow a wake-up
                if event in self._waiters:
                    self._waiters.remove(event)
                elif not self._held and self._waiters:
                    self._waiters.popleft().set()
                raise
        self._held = True
        return self

    async def __aexit__(self, *exc):
        self._held = False
        if self._waiters:
            self._waiters.popleft().set()
