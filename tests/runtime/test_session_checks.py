"""Session.run refuses inputs the program cannot take, before touching the device."""

import asyncio
import errno

import numpy as np
import pytest
from tinynpu.driver.uapi import UapiError
from tinynpu.runtime.compiler import compile_model
from tinynpu.runtime.model import Dense, Flatten, Sequential
from tinynpu.runtime.quantize import quantize
from tinynpu.runtime.session import Session


@pytest.fixture(scope="module")
def session():
    model = Sequential("tiny", (2, 2, 1), [Flatten(), Dense(3)])
    model.init(seed=0)
    x = np.random.default_rng(0).uniform(0, 1, (16, 2, 2, 1))
    program = compile_model(quantize(model, x), batch=4)
    session = Session(client=None, program=program, clock=lambda: 0.0)
    session.maps = {"activations": None}  # run() must refuse before it writes anything
    return session


@pytest.mark.parametrize(
    ("batch", "error", "message"),
    [
        (
            np.zeros((2, 2, 2, 1)),
            TypeError,
            "Inputs must be int8 (quantize them first), not float64",
        ),
        (np.zeros((2, 4), dtype=np.int16), TypeError, "not int16"),
        (
            np.zeros((0, 4), dtype=np.int8),
            ValueError,
            "Batch of shape (0, 4); the program takes 1 to 4 samples of (2, 2, 1)",
        ),
        (np.zeros((5, 4), dtype=np.int8), ValueError, "Batch of shape (5, 4)"),
        (np.zeros((2, 5), dtype=np.int8), ValueError, "Batch of shape (2, 5)"),
    ],
)
def test_bad_batches_are_refused(session, batch, error, message):
    with pytest.raises(error) as info:
        asyncio.run(session.run(batch))
    assert message in str(info.value)


class _FailingClient:
    """Records calls; VM_BIND of the second buffer fails as the driver would (EEXIST)."""

    def __init__(self):
        self.calls, self.mappings = [], []

    async def context_create(self):
        self.calls.append("context_create")
        return 1

    async def bo_create(self, size):
        self.calls.append(("bo_create", size))
        return len([c for c in self.calls if c[0] == "bo_create"])

    async def vm_map(self, context, handle, va, size, *, flags):
        self.calls.append(("vm_map", handle))
        if handle == 2:
            raise UapiError(errno.EEXIST, "overlap")

    async def mmap(self, handle, length):
        client = self

        class Mapping:
            def close(self):
                client.calls.append(("unmap", handle))

        return Mapping()

    async def bo_close(self, handle):
        self.calls.append(("bo_close", handle))

    async def context_destroy(self, context):
        self.calls.append(("context_destroy", context))


def test_a_failed_open_releases_what_it_created(session):
    client = _FailingClient()
    failing = Session(client, session.program, clock=lambda: 0.0)
    with pytest.raises(UapiError) as info:
        asyncio.run(failing.open())
    assert info.value.errno == errno.EEXIST
    assert client.calls[-4:] == [
        ("unmap", 1),
        ("bo_close", 1),
        ("bo_close", 2),
        ("context_destroy", 1),
    ]
    assert failing.context is None and failing.handles == {} and failing.maps == {}
