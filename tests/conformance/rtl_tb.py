"""The conformance suite on the RTL backend: each case is a cocotb test on a fresh SoC."""

import cocotb
from cases_buffers import *  # noqa: F403 (registers the cases)
from cases_isolation import *  # noqa: F403
from cases_sched import *  # noqa: F403
from cases_submit import *  # noqa: F403
from cases_vm import *  # noqa: F403
from conformance_suite import CASES, healthy

from driver.accel import Accel
from driver.memory import PhysicalAllocator
from driver.npu_backend import NpuBackend
from firmware import Firmware
from runtime.libtinynpu import Client
from sim.soc import Soc

MiB = 1 << 20
#: Host memory the driver manages: its ring, page tables and every buffer.
POOL = (1 * MiB, 56 * MiB)


class RtlSystem:
    """What a case may use: the device node, the clock and threads."""

    def __init__(self, soc, device):
        self.soc, self.device = soc, device
        self.clients = []

    def open(self):
        client = Client(self.device.open())
        self.clients.append(client)
        return client

    def now_ns(self):
        return int(self.soc.now_ns())

    async def sleep_ns(self, duration):
        await self.soc.sleep_ns(duration)

    async def gather(self, *coroutines):
        tasks = [cocotb.start_soon(c) for c in coroutines]
        return [await task for task in tasks]


def _test(name, function):
    async def run(dut):
        soc = Soc(dut, firmware=Firmware)
        await soc.start()
        memory = PhysicalAllocator(*POOL)
        device = Accel(soc, NpuBackend(soc, memory), memory)
        await device.start()
        free = memory.free_bytes
        system = RtlSystem(soc, device)
        await function(system)
        for client in system.clients:
            await client.close()
        assert memory.free_bytes == free, f"{free - memory.free_bytes} bytes leaked"
        await healthy(system)
        assert memory.free_bytes == free
        await device.stop()

    run.__name__ = run.__qualname__ = name
    return cocotb.test(name=name)(run)


for _name, _function in CASES.items():
    globals()[_name] = _test(_name, _function)
