"""Learners as threads: request, get paired, converse over a session socket, end; record what they saw.

Every learner logs times (monotonic) of its HTTP statuses, pairings, socket opens and closes, and the
sessions whose end it was told of, so a fault test can measure what a failure cost users.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from conversation.auth import mint_token
from tests.helpers import request_body
from tests.processes import http

REQUESTS = "/api/v1/matchmaking/requests/"
CONVERSE_SECONDS = 1.5
HEARTBEAT_SECONDS = 0.3
RETRY_SECONDS = 0.2


@dataclass
class Learner:
    """One user: HTTP to `http_url`, its session socket to `ws_url` (another web process)."""

    user_id: str
    http_url: str
    ws_url: str
    language: str = "fr"
    statuses: list[tuple[float, int]] = field(default_factory=list)
    pairings: list[tuple[float, str, str]] = field(default_factory=list)  # (t, request id, session id)
    opens: list[float] = field(default_factory=list)
    closes: list[tuple[float, int]] = field(default_factory=list)
    told_ended: dict[str, str] = field(default_factory=dict)  # session id -> how: event, close, response
    refusals: list[tuple[float, str]] = field(default_factory=list)  # HTTP 503 or no answer, refused handshakes
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503: never acceptable
    ending: bool = True  # cleared before a stop, so no session ends unseen by a partner already gone

    def __post_init__(self) -> None:
        self.token = mint_token(self.user_id)

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        try:
            status, payload = http(method, self.http_url + path, self.token, body)
        except OSError:  # a web process refusing or resetting is a refusal too
            status, payload = 0, {}
        self.statuses.append((time.monotonic(), status))
        if status in (0, 503):
            self.refusals.append((time.monotonic(), f"http {status}"))
        if status >= 500 and status != 503:
            self.server_errors.append(f"{method} {path}: {status} {payload}")
        return status, payload or {}

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                session_id = self.find_partner(stop)
                if session_id:
                    self.converse(session_id, stop)
        except BaseException as exc:  # a dead thread must fail the test, not just stop its load
            self.server_errors.append(f"learner stopped: {exc!r}")
            raise

    def find_partner(self, stop: threading.Event) -> str | None:
        status, body = self.call("POST", REQUESTS, request_body(targetLanguageCode=self.language, preferredDuration=5))
        if status == 409 and body.get("code") == "in_session":
            status, body = self.call("GET", "/api/v1/sessions/current/")
            return body["id"] if status == 200 else None
        if status == 409 and body.get("code") == "request_pending":
            status, body = self.call("GET", REQUESTS + "current/")
        if status not in (200, 201):
            time.sleep(RETRY_SECONDS)
            return None
        return self.wait_match(body, stop)

    def wait_match(self, request: dict, stop: threading.Event) -> str | None:
        while request.get("status") == "pending" and not stop.is_set():
            time.sleep(RETRY_SECONDS)
            status, body = self.call("GET", f"{REQUESTS}{request['id']}/")
            request = body if status == 200 else request
        if request.get("status") != "matched":
            return None
        self.pairings.append((time.monotonic(), request["id"], request["sessionId"]))
        return request["sessionId"]

    def converse(self, session_id: str, stop: threading.Event) -> None:
        """Heartbeats over the socket until the session ends, reconnecting on any other close."""
        started = time.monotonic()
        while session_id not in self.told_ended and not stop.is_set():
            try:
                with connect(f"{self.ws_url}/ws/v1/sessions/{session_id}/?token={self.token}", open_timeout=5,
                             close_timeout=2) as socket:  # fmt: skip
                    self.opens.append(time.monotonic())
                    self.beat(socket, session_id, started, stop)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else 1006
                self.closes.append((time.monotonic(), code))
                if code == 4410:
                    self.told_ended.setdefault(session_id, "close 4410")
                elif session_id not in self.told_ended:
                    time.sleep(RETRY_SECONDS)
            except (InvalidHandshake, OSError, TimeoutError) as exc:  # refused handshake: try again, as a client would
                status = exc.response.status_code if isinstance(exc, InvalidStatus) else type(exc).__name__
                self.refusals.append((time.monotonic(), f"handshake {status}"))
                time.sleep(RETRY_SECONDS)

    def beat(self, socket: ClientConnection, session_id: str, started: float, stop: threading.Event) -> None:
        """Participant 1 (the one who waited) ends the session once it ran a while; both beat until then."""
        session: dict = {}
        while not stop.is_set():
            socket.send('{"type": "heartbeat"}')
            deadline = time.monotonic() + HEARTBEAT_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                try:
                    event = json.loads(socket.recv(timeout=left))
                except TimeoutError:
                    break
                if event.get("type") == "session.ended":
                    self.told_ended.setdefault(session_id, "event")
                session = event.get("session") or session
            ender = session.get("participant1Id") == self.user_id
            if (
                self.ending
                and ender
                and session.get("status") == "active"
                and time.monotonic() - started > CONVERSE_SECONDS
            ):
                self.end(session_id)

    def end(self, session_id: str) -> None:
        status, _ = self.call("POST", f"/api/v1/sessions/{session_id}/end/")
        if status == 200:
            self.told_ended.setdefault(session_id, "response")
