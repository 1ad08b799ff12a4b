"""uvicorn's httptools protocol with a bound on a request head, which httptools itself does not have.

The web process served HTTP with h11 for its `--h11-max-incomplete-event-size` alone: httptools, uvicorn's
faster parser, kept reading a head that never ends (it took 8 MiB of headers, 16 MB of RSS). h11 cost
a quarter of `/health/live`'s CPU (0.91 ms a request against 0.67, docs/BENCHMARKS.md). This class keeps
httptools and refuses a head still incomplete past `HEAD_LIMIT` bytes with 431, as h11 refuses one past
its 16 KiB. The Procfile and the Dockerfile select it with `--http conversation.http_protocol:...`.

httptools buffers a head inside its parser until the head ends, so the bytes are counted as they arrive:
a read that starts inside a head, or starts a head from an idle connection, and ends inside that same head
is head bytes. A read that ends a request body and starts the next pipelined head is not counted (which
part is head is unknown), so a head can pass the limit by at most one read, as with h11.
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
    """httptools, with a request head of over `HEAD_LIMIT` bytes refused with 431 and the connection closed."""

    head_limit = HEAD_LIMIT

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._reading = _Reading.IDLE
        self._heads = 0  # heads begun on this connection
        self._head_bytes = 0

    def data_received(self, data: bytes) -> None:
        was, heads = self._reading, self._heads
        super().data_received(data)
        if self._reading is not _Reading.HEAD or self.transport.is_closing():
            return
        same_head = was is _Reading.HEAD and self._heads == heads
        new_head = was is _Reading.IDLE and self._heads == heads + 1
        if same_head or new_head:  # the whole read is the head still being read
            self._head_bytes += len(data)
        if self._head_bytes > self.head_limit:
            self._refuse_head()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading, self._heads, self._head_bytes = _Reading.HEAD, self._heads + 1, 0

    def on_headers_complete(self) -> None:
        self._reading = _Reading.BODY
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._reading = _Reading.IDLE
        super().on_message_complete()

    def _refuse_head(self) -> None:
        log.warning("request head over %s bytes refused (431) from %s", self.head_limit, self.client)
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
