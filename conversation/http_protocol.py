"""uvicorn's httptools protocol with a bound on what a request holds besides its body, which httptools lacks.

The web process served HTTP with h11 for its `--h11-max-incomplete-event-size` alone: httptools, uvicorn's
faster parser, kept reading a head that never ends (it took 8 MiB of headers, 16 MB of RSS). h11 cost
about a fifth more CPU per `/health/live` (docs/BENCHMARKS.md). This class keeps httptools and bounds,
as h11 did, the bytes of a message that are not its body: the head, then a chunked body's framing and
trailers (which httptools buffers and uvicorn keeps in the request's headers). Past `HEAD_LIMIT`, plus
as much again as the body so far (chunk sizes and line ends on a legitimate upload), the connection is
refused: 431 when nothing else is being answered on it, else closed. The Procfile and the Dockerfile
select it with `--http conversation.http_protocol:BoundedHttpToolsProtocol`.

httptools keeps the bytes inside its parser until a head or a trailer ends, so they are counted as they
arrive: a read that stays within one part of one message (its head, or its body) counts whole, minus
the body bytes it delivered. A read that crosses from one part or message to the next is not counted
(which of its bytes are which is unknown), so the bound can be passed by at most one read, as with h11.
"""

from __future__ import annotations

import enum
import logging

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger(__name__)

# h11's limit in the Procfile before: a request line and headers in 16 KiB.
HEAD_LIMIT = 16 * 1024


class _Reading(enum.Enum):
    IDLE = enum.auto()  # between requests
    HEAD = enum.auto()
    BODY = enum.auto()


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """httptools, with a request's bytes besides its body bounded (`HEAD_LIMIT` + the body's own size)."""

    head_limit = HEAD_LIMIT

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._reading = _Reading.IDLE
        self._messages = 0  # messages begun on this connection
        self._body_bytes = 0  # of the message being read
        self._other_bytes = 0  # its head, chunk framing and trailers, as counted

    def data_received(self, data: bytes) -> None:
        was, messages, body = self._reading, self._messages, self._body_bytes
        super().data_received(data)
        if self._reading is _Reading.IDLE or self.transport.is_closing():
            return
        same_part = was is self._reading and self._messages == messages
        new_head = was is _Reading.IDLE and self._reading is _Reading.HEAD and self._messages == messages + 1
        if same_part or new_head:  # the whole read belongs to the part being read
            self._other_bytes += len(data) - (self._body_bytes - body)
        if self._other_bytes > self.head_limit + self._body_bytes:
            self._refuse()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading, self._messages = _Reading.HEAD, self._messages + 1
        self._body_bytes = self._other_bytes = 0

    def on_headers_complete(self) -> None:
        self._reading = _Reading.BODY
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        self._reading = _Reading.IDLE
        super().on_message_complete()

    def _refuse(self) -> None:
        log.warning("request over %s bytes besides its body refused from %s", self.head_limit, self.client)
        if (self.cycle is not None and not self.cycle.response_complete) or self.pipeline:
            self.transport.abort()  # a response is under way on this connection: no 431 in the middle of it
            return
        body = b"Request header fields too large."
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[431],
                    *(name + b": " + value + b"\r\n" for name, value in self.server_state.default_headers),
                    b"content-type: text/plain; charset=utf-8\r\n",
                    b"content-length: " + str(len(body)).encode("ascii") + b"\r\n",
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
