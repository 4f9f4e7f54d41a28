"""File.ioctl reports every request to the tracepoints, refused ones included."""

import asyncio
import errno

import pytest
from tinynpu.driver import tracepoints
from tinynpu.driver.file import File
from tinynpu.driver.uapi import REQUESTS, Ioctl, UapiError
from tinynpu.rtl.layouts import nbytes, pack


class _Device:
    """Just enough device for DEV_QUERY."""

    def query(self):
        return {"array_size": 8, "page_size": 4096}


@pytest.fixture
def events():
    seen = []

    def probe(name, fields):
        seen.append((name, fields))

    tracepoints.register(probe)
    yield seen
    tracepoints.unregister(probe)


def _arg(request, **fields):
    layout = REQUESTS[request]
    return bytearray(pack(layout, {"size": nbytes(layout)} | fields))


def _ioctl(file, request, arg):
    with pytest.raises(UapiError) as info:
        asyncio.run(file.ioctl(request, arg))
    return info.value.errno


def test_a_request_and_its_reply(events):
    file = File(_Device())
    asyncio.run(file.ioctl(Ioctl.DEV_QUERY, _arg(Ioctl.DEV_QUERY)))
    (call, reply) = events
    assert call[0] == "ioctl" and call[1]["request"] == "DEV_QUERY"
    assert "size" not in call[1]["args"] and call[1]["args"]["array_size"] == 0
    assert reply == (
        "ioctl_done",
        {"request": "DEV_QUERY", "errno": 0, "reply": {"array_size": 8, "page_size": 4096}},
    )


def test_a_failing_handler_reports_its_errno(events):
    file = File(_Device())
    assert _ioctl(file, Ioctl.DEV_QUERY, _arg(Ioctl.DEV_QUERY, flags=1)) == errno.EINVAL
    assert [name for name, _ in events] == ["ioctl", "ioctl_done"]
    assert events[1][1] == {"request": "DEV_QUERY", "errno": errno.EINVAL, "reply": {}}


@pytest.mark.parametrize(
    ("request_", "arg", "closed", "code", "name"),
    [
        (99, bytearray(16), False, errno.EINVAL, "99"),
        (
            Ioctl.SUBMIT,
            bytearray((8).to_bytes(4, "little") + bytes(60)),
            False,
            errno.EINVAL,
            "SUBMIT",
        ),
        (int(Ioctl.WAIT), bytearray((200).to_bytes(4, "little")), False, errno.EFAULT, "WAIT"),
        (Ioctl.DEV_QUERY, _arg(Ioctl.DEV_QUERY), True, errno.EBADF, "DEV_QUERY"),
    ],
)
def test_refused_before_decoding(events, request_, arg, closed, code, name):
    file = File(None)
    file.closed = closed
    assert _ioctl(file, request_, arg) == code
    assert events == [("ioctl_done", {"request": name, "errno": code, "reply": {}})]
