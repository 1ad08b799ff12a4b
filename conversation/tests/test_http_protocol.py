"""The bound on a request's bytes besides its body (conversation/http_protocol.py), read by read.

These drive uvicorn's protocol object directly, with a transport that records what is written, so the
reads arrive exactly as written here; tests/test_hostile_service.py runs the same bound over sockets.
"""

from __future__ import annotations

import asyncio

from uvicorn.config import Config
from uvicorn.server import ServerState

from conversation.http_protocol import HEAD_LIMIT, BoundedHttpToolsProtocol


class Transport(asyncio.Transport):
    """Records what is written; closing it tells the protocol, as the event loop's transport does."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closing = self.aborted = False
        self.protocol: asyncio.Protocol | None = None

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes) -> None:
        if not self.closing:  # an event loop's transport drops what is written once it is closed
            self.written += data

    def close(self) -> None:
        if not self.closing:
            asyncio.get_running_loop().call_soon(self.protocol.connection_lost, None)
        self.closing = True

    def abort(self) -> None:
        self.close()
        self.aborted = True

    def is_closing(self) -> bool:
        return self.closing

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _answer_when_released(scope, receive, send, release: asyncio.Event) -> None:
    while (message := await receive())["type"] == "http.request" and message.get("more_body"):
        pass
    if message["type"] == "http.disconnect":
        return
    await release.wait()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def _connection(release: asyncio.Event) -> tuple[BoundedHttpToolsProtocol, Transport]:
    async def app(scope, receive, send):
        await _answer_when_released(scope, receive, send, release)

    config = Config(app=app, lifespan="off", log_config=None)  # no dictConfig over the tests' logging
    protocol = BoundedHttpToolsProtocol(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    transport.protocol = protocol
    protocol.connection_made(transport)
    return protocol, transport


def _feed(protocol: BoundedHttpToolsProtocol, transport: Transport, reads: list[bytes]) -> None:
    """Each read in turn, as the event loop hands them over: none once the transport is closing."""
    for data in reads:
        if transport.is_closing():
            return
        protocol.data_received(data)


def _padding(size: int) -> list[bytes]:
    """Header lines of 1 KiB, `size` bytes in all."""
    return [b"X-Pad: " + b"a" * 1015 + b"\r\n" for _ in range(size // 1024)]


def test_a_head_read_in_pieces_up_to_the_limit_is_served_and_past_it_gets_431():
    async def scenario() -> tuple[bytes, bytes]:
        release = asyncio.Event()
        release.set()
        served, transport = await _connection(release)
        _feed(served, transport, [b"GET / HTTP/1.1\r\nHost: x\r\n", *_padding(HEAD_LIMIT - 1024), b"\r\n"])
        await asyncio.sleep(0.01)
        refused, refused_transport = await _connection(release)
        _feed(refused, refused_transport, [b"GET / HTTP/1.1\r\nHost: x\r\n", *_padding(HEAD_LIMIT)])
        return transport.written, refused_transport.written

    served, refused = asyncio.run(scenario())
    assert served.startswith(b"HTTP/1.1 200 OK\r\n")
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")


def test_a_head_past_the_limit_behind_a_response_under_way_closes_without_a_431():
    async def scenario() -> Transport:
        release = asyncio.Event()  # the first request's answer waits
        protocol, transport = await _connection(release)
        _feed(protocol, transport, [b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n"])
        await asyncio.sleep(0.01)
        _feed(protocol, transport, [b"GET /second HTTP/1.1\r\nHost: x\r\n", *_padding(HEAD_LIMIT)])
        release.set()  # the first answer, to a connection gone
        await asyncio.sleep(0.01)
        return transport

    transport = asyncio.run(scenario())
    assert transport.aborted and b"431" not in transport.written


def test_trailers_count_and_a_body_leaves_its_framing_room():
    async def scenario() -> tuple[bytes, bytes]:
        release = asyncio.Event()
        release.set()
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        served, transport = await _connection(release)
        # 32 KiB of body in 4-byte chunks: 40 KiB of framing, within 16 KiB plus the body
        _feed(served, transport, [chunked, *[b"4\r\nxxxx\r\n"] * 8192, b"0\r\n\r\n"])
        await asyncio.sleep(0.01)
        refused, refused_transport = await _connection(release)
        _feed(refused, refused_transport, [chunked, b"4\r\nabcd\r\n0\r\n", *_padding(HEAD_LIMIT + 4096)])
        await asyncio.sleep(0.01)
        return transport.written, refused_transport.written if refused_transport.aborted else b"not closed"

    served, refused = asyncio.run(scenario())
    assert served.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"431" not in refused and refused != b"not closed"  # the request under way is not answered 431
