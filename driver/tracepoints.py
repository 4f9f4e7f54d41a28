"""Tracepoints: named events the driver reports, for whoever listens.

As in Linux, the driver calls a tracepoint whether or not anything listens; with no probe
registered, the call costs building its keyword arguments and a loop over an empty list. A
probe is a callable ``probe(name, fields)``; the platform that registers it adds the time stamp,
so the driver never needs a clock for tracing. Fields are plain values (ints, strings, and
tuples and dicts of them), so that a probe can decode or store them as it likes.

The events, and their fields:

==============  ===========================================================================
``ioctl``       ``request``, ``args`` (the request's fields as passed)
``ioctl_done``  ``request``, ``errno`` (0 on success), ``reply`` (the fields it returns);
                also for a request refused before it was decoded (no ``ioctl`` event then)
``bo_create``   ``bo`` (its mmap offset, unique per device), ``size``, ``pieces``
                (``(address, bytes)`` of the pages behind it)
``bo_free``     ``bo``
``vm_map``      ``va``, ``size``, ``bo``, ``offset``, ``prot`` (written before its PTEs)
``vm_unmap``    ``va``, ``size``
``pte``         ``level``, ``table`` (its physical address), ``index``, ``value``
``job_queued``  ``seqno`` (the context's fence)
``job_run``     ``seqno``, ``hw`` (the backend's handle: the ring's seqno on the NPU)
``completion``  ``seqno`` (the ring's), ``status``, ``error``, ``offset``, ``cycles``
``fence``       ``seqno``, ``errno``
==============  ===========================================================================
"""

__all__ = ["register", "trace", "unregister"]

_probes = []


def register(probe):
    """Call ``probe(name, fields)`` for every event from now on."""
    _probes.append(probe)


def unregister(probe):
    """Stop calling ``probe``."""
    _probes.remove(probe)


def trace(name, **fields):
    """Report event ``name`` with ``fields`` to every registered probe."""
    for probe in _probes:
        probe(name, fields)
