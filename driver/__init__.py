"""The tinynpu driver: it talks to the NPU only through a :class:`~.platform.Platform`.

Two halves, as a Linux accel driver has:

* the generic core: :mod:`.accel` (the device), :mod:`.file` (per-client handles and the ioctls
  of :mod:`.uapi`), :mod:`.bo` and :mod:`.vm` (buffers and VM_BIND), :mod:`.sched` (queues,
  fences, timeouts, resets); it knows no register;
* one backend behind :class:`.backend.Backend`: :class:`.npu.NpuBackend` (bring-up, interrupt
  handler, reset) over :mod:`.device` (probe), :mod:`.ring` (the command ring), :mod:`.mmu` and
  :mod:`.pgtable` (address spaces) and :mod:`.interrupts`, reading and writing registers by name
  (:mod:`tinynpu.rtl.regmap.access`).

Command streams are user space's to build (:mod:`tinynpu.runtime.commands`).
"""

# One module, one name: imported as a top-level ``driver`` (from the checkout), every enum and
# class would exist twice and compare unequal to the installed copy.
if __name__ != "tinynpu.driver":
    raise ImportError(f"{__name__!r} is tinynpu.driver: import it by that name")
