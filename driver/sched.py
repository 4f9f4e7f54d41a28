"""The job scheduler, in the manner of Linux's ``drm_sched``.

* Each context is an :class:`Entity` with its own queue; jobs of a context run in the order
  they were submitted. Entities take turns (round robin) for the hardware queue, which holds at
  most ``queue_depth`` jobs.
* A job's out-fence is a :class:`Fence`: its context and a sequence number. A job waits for its
  in-fences; if one of them failed, the job does not run and fails with ``ECANCELED``.
* A timer watches the job at the head of the hardware queue (the one running). If it has not
  ended ``timeout_ns`` after it got there, the scheduler resets the device: the job fails with
  ``ETIMEDOUT``, the others on the hardware are lost and fail with ``ECANCELED``, queued jobs
  run afterwards as usual. A context whose jobs time out ``ban_hangs`` times is banned: its
  queued jobs fail with ``ECANCELED`` and it takes no more.
* An MMU fault fails the faulting job with ``EFAULT``. Its address space stays stopped until
  none of the context's jobs is on the hardware (later ones end without running and are queued
  again, in order); then the fault is acknowledged and the context goes on.
* A job the backend refuses (``run_job`` raises) ends with the backend's errno (``EIO``) and
  the device is reset, as after a timeout. An interrupt the backend cannot serve (its
  completion records cannot be read) resets the device too: the jobs on the hardware end with
  ``EIO``, their outcome being unknown. Either way every fence signals and every buffer
  reference is dropped.
* A hardware queue stopped on an error (``backend.stopped_at``) runs the jobs it took to their
  end; then the device is reset, the job it could not take fails with ``EIO`` and the jobs
  behind it, which never reached the device, are queued again. A backend that needs a reset
  before the next job (``backend.reset_pending``: a TLB invalidation hung) gets it at once.
* A reset is tried :data:`RESET_ATTEMPTS` times before the device is declared dead.
* Hangs count per context and per client (a :class:`~tinynpu.driver.tenant.Tenant`, which
  outlives its contexts): a client whose jobs time out ``tenant.ban_hangs`` times is banned,
  every context of it with it.
"""

import errno
from collections import deque

from . import tracepoints
from .backend import Backend, Outcome
from .platform import MAX_WAIT_NS
from .sync import Mutex

__all__ = ["RESET_ATTEMPTS", "Entity", "Fence", "Job", "Scheduler"]

#: Resets tried in a row (each bringing the firmware up again) before the device is dead.
RESET_ATTEMPTS = 3


class Fence:
    """A job's out-fence: pending until the job ends, then its ``error`` (0 on success)."""

    def __init__(self, platform, seqno):
        self.seqno = seqno
        self.error = None
        self.outcome = Outcome()
        self._platform = platform
        self._event = platform.event()

    @property
    def signaled(self):
        """Whether the job has ended."""
        return self.error is not None

    def signal(self, error, outcome=None):
        """End the job with ``error`` (0 for success)."""
        self.error = error
        if outcome is not None:
            self.outcome = outcome
        self._event.set()

    async def wait(self, timeout_ns):
        """Wait up to ``timeout_ns`` (``None``: for ever); whether the fence signaled.

        A long wait is slept in slices of at most :data:`~tinynpu.driver.platform.MAX_WAIT_NS`,
        so that any deadline (``INT64_MAX`` included) is one the platform can schedule.
        """
        if timeout_ns is None:
            return self.signaled or await self._event.wait(None)
        deadline = self._platform.now_ns() + timeout_ns
        while not self.signaled:
            remaining = deadline - self._platform.now_ns()
            if remaining <= 0:
                return False
            await self._event.wait(min(remaining, MAX_WAIT_NS))
        return True


class Job:
    """A command stream to run in an entity's address space, and what it depends on."""

    def __init__(self, entity, fence, cmd_va, cmd_size, bos, deps, timeout_ns):
        self.entity, self.fence = entity, fence
        self.cmd_va, self.cmd_size = cmd_va, cmd_size
        self.bos, self.deps, self.timeout_ns = bos, deps, timeout_ns
        self.hw = None  # the backend's handle while on the hardware
        for bo in bos:
            bo.get().jobs.add(self)

    def ready(self):
        """Whether every in-fence has signaled."""
        return all(dep.signaled for dep in self.deps)


class Entity:
    """A context's scheduling state.

    Attributes
    ----------
    space : object
        The backend's address space the jobs run in.
    hangs, canceled : int
        Jobs of the context that timed out, and that resets or a ban canceled.
    banned : bool
    resets_seen : int
        The scheduler's reset count when the context was created.
    tenant : Tenant or None
        The client the context belongs to (``None`` for the driver's own).
    """

    def __init__(self, space, resets_seen, tenant=None):
        self.space, self.tenant = space, tenant
        self.queue = deque()
        self.held = []  # jobs that did not run on a stopped address space, in order
        self.on_hw = 0
        self.stopped = self.banned = self.closing = False
        self.hangs = self.canceled = 0
        self.resets_seen = resets_seen


class Scheduler:
    """Queues, fences, timeouts and resets over a :class:`~tinynpu.driver.backend.Backend`.

    Parameters
    ----------
    platform : Platform
    backend : Backend
    queue_depth : int
        Jobs kept on the hardware at once.
    ban_hangs : int
        Timed-out jobs after which a context is banned.

    Attributes
    ----------
    lock : Mutex
        Held around every call into the backend and change of state.
    resets : int
        Device resets so far.
    irq_errors : list of Exception
        Every error the interrupt's bottom half recovered from, and every failed reset
        attempt, oldest first.
    """

    def __init__(self, platform, backend: Backend, *, queue_depth, ban_hangs):
        self.platform, self.backend = platform, backend
        self.queue_depth, self.ban_hangs = queue_depth, ban_hangs
        self.lock = Mutex(platform)
        self.entities = []
        self.pending = deque()  # on the hardware, in the order it runs them
        self.resets = 0
        self.irq_errors = []
        self.dead = None  # why the device is unusable, after a failed reset
        self._next = 0  # round-robin position
        self._timer = self._armed = None

    # --- entities and submission (call with the lock held) ----------------------------------

    def add(self, space, tenant=None):
        """A new :class:`Entity` for ``space``, of ``tenant``'s."""
        entity = Entity(space, self.resets, tenant)
        self.entities.append(entity)
        return entity

    def remove(self, entity):
        """Forget ``entity``; it has no jobs left."""
        self.entities.remove(entity)

    def cancel_queued(self, entity):
        """Fail every job of ``entity`` not on the hardware with ``ECANCELED``."""
        jobs = [*entity.held, *entity.queue]
        entity.held, entity.queue = [], deque()
        for job in jobs:
            self._finish(job, errno.ECANCELED)
        entity.canceled += len(jobs)

    async def push(self, job):
        """Queue ``job`` behind its context's other jobs and run what can run."""
        job.entity.queue.append(job)
        tracepoints.trace("job_queued", seqno=job.fence.seqno)
        await self.run()

    async def settle(self):
        """Reset now if the backend needs it (:attr:`Backend.reset_pending`), then run."""
        if self.backend.reset_pending and self.dead is None:
            await self._reset([], errno.EIO)
        await self.run()

    async def run(self):
        """Fill the hardware queue from the entities' heads, in turn."""
        if self.backend.reset_pending and self.dead is None:
            await self._reset([], errno.EIO)
        # A stopped queue takes no job until the reset that the jobs it took are waited for.
        while (
            self.dead is None
            and self.backend.stopped_at is None
            and len(self.pending) < self.queue_depth
        ):
            job = self._pick()
            if job is None:
                break
            job.entity.queue.popleft()
            if any(dep.error for dep in job.deps):
                self._finish(job, errno.ECANCELED)
                continue
            try:
                job.hw = await self.backend.run_job(job.entity.space, job.cmd_va, job.cmd_size)
            except OSError as error:  # drm_sched: run_job's error is the job's; then recover
                await self._reset([job], error.errno or errno.EIO)
                continue
            tracepoints.trace("job_run", seqno=job.fence.seqno, hw=job.hw)
            self.pending.append(job)
            job.entity.on_hw += 1
        self._arm()

    def _pick(self):
        count = len(self.entities)
        for turn in range(count):
            entity = self.entities[(self._next + turn) % count]
            runnable = not (entity.stopped or entity.banned or entity.closing)
            if runnable and entity.queue and entity.queue[0].ready():
                self._next = (self._next + turn + 1) % count
                return entity.queue[0]
        return None

    def _finish(self, job, error, outcome=None):
        tracepoints.trace("fence", seqno=job.fence.seqno, errno=error)
        job.fence.signal(error, outcome)
        for bo in job.bos:
            bo.jobs.discard(job)
            bo.put()

    # --- interrupts -------------------------------------------------------------------------

    async def service(self):
        """The interrupt's bottom half: faults, then completions, then refill the queue.

        It never raises: if the backend cannot serve the interrupt (or its completions do not
        match the jobs on it), the error is kept in :attr:`irq_errors` and the device is reset;
        the jobs on it end with ``EIO``.

        Returns
        -------
        bool
            Whether there was anything to serve (``False``: a spurious interrupt).
        """
        try:
            served = await self._service()
        except Exception as error:  # an interrupt handler must not die: recover instead
            self.irq_errors.append(error)
            await self._reset(list(self.pending), errno.EIO)
            served = True
        await self.run()
        return served

    async def _service(self):
        done, faulted = await self.backend.handle_irq()
        for space in faulted:
            entity = next((e for e in self.entities if e.space is space), None)
            if entity is not None:
                entity.stopped = True
        for handle, outcome in done:
            job = self.pending.popleft()
            if job.hw != handle:
                raise RuntimeError(f"Completion of {handle} while {job.hw} was expected first")
            entity = job.entity
            entity.on_hw -= 1
            if outcome.retry:
                entity.held.append(job)
            else:
                self._finish(job, outcome.error, outcome)
        stopped = self.backend.stopped_at
        if stopped is not None and self.pending and self.pending[0].hw == stopped:
            # The queue took every job before this one, which have ended; this one and those
            # behind it never reached the device.
            failed, *behind = self.pending
            await self._reset([failed], errno.EIO, requeue=behind)
        for entity in self.entities:
            if (entity.stopped or entity.held) and not entity.on_hw:
                entity.queue.extendleft(reversed(entity.held))
                entity.held = []
                await self.backend.resume_space(entity.space)
                entity.stopped = False
                if entity.closing:
                    self.cancel_queued(entity)
        return bool(done or faulted or stopped is not None)

    # --- timeouts and reset -----------------------------------------------------------------

    def _arm(self):
        """Watch the job at the head of the hardware queue, if it is a new one."""
        head = self.pending[0] if self.pending else None
        if head is self._armed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = head
        if head is not None:
            self._timer = self.platform.spawn(self._watchdog(head))

    async def _watchdog(self, job):
        await self.platform.sleep_ns(job.timeout_ns)
        async with self.lock:
            if self._armed is job:
                self._timer = None  # this task: never cancel it from within
                await self._timed_out(job)

    async def _timed_out(self, job):
        await self.service()  # it may have ended just now
        if not self.pending or self.pending[0] is not job:
            return
        await self._reset([job], errno.ETIMEDOUT)
        entity, tenant = job.entity, job.entity.tenant
        entity.hangs += 1
        if entity.hangs >= self.ban_hangs:
            self._ban(entity)
        if tenant is not None:
            tenant.hangs += 1
            if tenant.hangs >= tenant.ban_hangs:
                tenant.banned = True
                for other in self.entities:
                    if other.tenant is tenant:
                        self._ban(other)
        await self.run()

    def _ban(self, entity):
        entity.banned = True
        self.cancel_queued(entity)

    async def _reset(self, failed, error, requeue=()):
        """Reset the device: ``failed`` jobs end with ``error``, the others on it are lost.

        The lost ones end with ``ECANCELED``, except ``requeue``: jobs the device never took,
        queued again at the head of their contexts. Queued and held jobs run afterwards, unless
        the device did not come back in :data:`RESET_ATTEMPTS` tries (then they are canceled
        and :attr:`dead` says why).
        """
        lost = [job for job in self.pending if job not in failed and job not in requeue]
        self.pending.clear()
        if self._timer is not None:
            self._timer.cancel()  # never the running watchdog: it cleared _timer first
        self._timer = self._armed = None
        for attempt in range(RESET_ATTEMPTS):
            try:
                await self.backend.reset()
                break
            except OSError as reason:
                self.irq_errors.append(reason)
                if attempt == RESET_ATTEMPTS - 1:
                    self.dead = reason
        self.resets += 1
        for job in failed:
            self._finish(job, error)
        for job in lost:
            self._finish(job, errno.ECANCELED)
            job.entity.canceled += 1
        for job in reversed(requeue):
            job.hw = None
            job.entity.queue.appendleft(job)
        for entity in self.entities:
            entity.on_hw, entity.stopped = 0, False  # a reset clears the MMU's fault state
            entity.queue.extendleft(reversed(entity.held))
            entity.held = []
            if self.dead is not None or entity.closing:
                self.cancel_queued(entity)

    def stop(self):
        """Stop the timer (the device is going away)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._armed = None
