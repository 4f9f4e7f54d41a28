"""The conformance suite on the RTL backend: each case is a cocotb test on a fresh SoC."""

import cocotb
from cases_buffers import *  # noqa: F403 (registers the cases)
from cases_faults import *  # noqa: F403
from cases_isolation import *  # noqa: F403
from cases_sched import *  # noqa: F403
from cases_submit import *  # noqa: F403
from cases_vm import *  # noqa: F403
from conformance_suite import CASES, healthy
from driver_idle import Ledger
from tinynpu.sim.system import System, boot


class RtlSystem(System):
    """What a case may use: the device node, the clock (whole ns, for uAPI deadlines), tasks."""

    def now_ns(self):
        return int(super().now_ns())


def _test(name, function):
    async def run(dut):
        system = await boot(dut, cls=RtlSystem)
        ledger = Ledger(system.device)
        await function(system)
        for client in system.clients:
            await client.close()
        system.clients = []
        await ledger.check()  # every client closed: no job, no context, no byte left
        await healthy(system)
        await ledger.finish()
        await system.shutdown()

    run.__name__ = run.__qualname__ = name
    # The longest case takes 1.02 ms of simulated time (vm_unmap_under_queued_job); the limit
    # is ten times that, rounded up.
    return cocotb.test(name=name, timeout_time=20, timeout_unit="ms")(run)


for _name, _function in CASES.items():
    globals()[_name] = _test(_name, _function)
