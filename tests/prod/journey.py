"""A client journey through the production-run service (make test-prod): `python journey.py WEB_URL WEB_URL`.

Uses only HTTP, WebSockets and its own JWTs (JWT_SECRET from the environment), like a real client
behind the TLS proxy (X-Forwarded-Proto: https). Exits non-zero naming the step that failed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import jwt
import websockets

PROXY = {"X-Forwarded-Proto": "https"}  # what the TLS-terminating proxy adds
TTL = int(os.environ["MATCHMAKING_REQUEST_TTL_SECONDS"])
SWEEP = int(os.environ["SWEEP_INTERVAL_SECONDS"])
# A WebM (EBML) header, so a service that checks the audio by its first bytes accepts it.
AUDIO = bytes.fromhex("1a45dfa3") + b"\x00" * 28 + os.urandom(2048)


class JourneyError(Exception):
    """A step's answer was not the contract's."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise JourneyError(message)


def token(user_id: str) -> str:
    claims = {"sub": user_id, "exp": int(time.time()) + 600}
    return jwt.encode(claims, os.environ["JWT_SECRET"], algorithm="HS256")


def fetch(method: str, url: str, *, body: bytes | None = None, headers: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of one HTTP call; redirects are not followed."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def api(method: str, url: str, user: str, body: dict | None = None) -> tuple[int, Any]:
    headers = {**PROXY, "Authorization": f"Bearer {token(user)}", "Content-Type": "application/json"}
    data = json.dumps(body).encode() if body is not None else None
    status, raw = fetch(method, url, body=data, headers=headers)
    return status, json.loads(raw or b"null")


async def call(method: str, url: str, user: str, body: dict | None = None) -> tuple[int, Any]:
    return await asyncio.to_thread(api, method, url, user, body)


def ws_url(base: str, path: str, user: str) -> str:
    return base.replace("http://", "ws://") + f"{path}?token={token(user)}"


async def next_event(socket, event_type: str, timeout: float) -> dict:
    """The next event of `event_type`, skipping others."""
    deadline = time.monotonic() + timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            event = json.loads(await asyncio.wait_for(socket.recv(), timeout=remaining))
        except TimeoutError:
            break
        if event.get("type") == event_type:
            return event
    raise JourneyError(f"no {event_type} within {timeout:.0f}s")


def request_body(language: str, level: str) -> dict:
    return {"learningProfileId": "lp-1", "targetLanguageCode": language, "userLevel": level, "preferredDuration": 10}


async def match(web_a: str, web_b: str, alice: str, bob: str) -> str:
    """alice waits on web B's socket; the match is made on web A; returns the session id."""
    async with websockets.connect(ws_url(web_b, "/ws/v1/matchmaking/", alice)) as socket:
        status, first = await call("POST", f"{web_a}/api/v1/matchmaking/requests/", alice, request_body("fr", "B1"))
        check(status == 201 and first["status"] == "pending", f"alice's request: {status} {first}")
        status, second = await call("POST", f"{web_a}/api/v1/matchmaking/requests/", bob, request_body("fr", "B1"))
        check(status == 201 and second["status"] == "matched", f"bob's request: {status} {second}")
        event = await next_event(socket, "match.found", timeout=10)
    check(event["session"]["id"] == second["sessionId"], f"match.found names another session: {event}")
    return second["sessionId"]


async def heartbeat_until_started(socket) -> dict:
    for _ in range(5):
        await socket.send(json.dumps({"type": "heartbeat"}))
        with_started = asyncio.create_task(next_event(socket, "session.started", timeout=3))
        try:
            return await with_started
        except JourneyError:
            continue
    raise JourneyError("no session.started after 5 heartbeats")


async def upload(ticket: dict) -> None:
    """Follows the upload ticket's method: a presigned PUT of the bytes, or a presigned POST form."""
    if ticket["method"] == "PUT":
        status, raw = await asyncio.to_thread(fetch, "PUT", ticket["uploadUrl"], body=AUDIO, headers=ticket["headers"])
    else:
        boundary = uuid.uuid4().hex
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            for name, value in ticket["fields"].items()
        ]
        file_part = f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.webm"\r\n'
        form = b"".join([*parts, file_part.encode(), b"Content-Type: audio/webm\r\n\r\n", AUDIO])
        form += f"\r\n--{boundary}--\r\n".encode()
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        status, raw = await asyncio.to_thread(fetch, "POST", ticket["uploadUrl"], body=form, headers=headers)
    check(200 <= status < 300, f"upload {ticket['method']} answered {status}: {raw[:300]!r}")


async def record(web: str, session_id: str, alice: str, bob: str) -> None:
    base = f"{web}/api/v1/sessions/{session_id}"
    for user in (alice, bob):
        status, body = await call("PUT", f"{base}/recording-consent/", user, {"consent": True})
        check(status == 200, f"{user}'s consent: {status} {body}")
    status, ticket = await call("POST", f"{base}/recording/upload-url/", alice, {"contentType": "audio/webm"})
    check(status == 200, f"upload-url: {status} {ticket}")
    await upload(ticket)
    status, body = await call("POST", f"{base}/recording/complete/", alice, {"key": ticket["key"]})
    check(status == 200 and body.get("audioRecordingUrl"), f"recording/complete: {status} {body}")
    status, link = await call("GET", f"{base}/recording/", bob)
    check(status == 200, f"GET recording: {status} {link}")
    status, stored = await asyncio.to_thread(fetch, "GET", link["downloadUrl"])
    check(status == 200 and stored == AUDIO, f"download: {status}, {len(stored)} bytes, same={stored == AUDIO}")


async def session(web_a: str, web_b: str, session_id: str, alice: str, bob: str) -> None:
    path = f"/ws/v1/sessions/{session_id}/"
    async with (
        websockets.connect(ws_url(web_b, path, alice)) as alice_socket,
        websockets.connect(ws_url(web_a, path, bob)) as bob_socket,
    ):
        await asyncio.gather(heartbeat_until_started(alice_socket), heartbeat_until_started(bob_socket))
        await record(web_a, session_id, alice, bob)
        status, ended = await call("POST", f"{web_a}/api/v1/sessions/{session_id}/end/", bob)
        check(status == 200 and ended["status"] == "completed", f"end: {status} {ended}")
        for socket in (alice_socket, bob_socket):
            event = await next_event(socket, "session.ended", timeout=10)
            check(event["session"]["status"] == "completed", f"session.ended: {event}")


async def expiry(web: str, carol: str) -> float:
    """carol's request (nobody else at her level) expires by beat + worker: seconds after its creation."""
    async with websockets.connect(ws_url(web, "/ws/v1/matchmaking/", carol)) as socket:
        status, created = await call("POST", f"{web}/api/v1/matchmaking/requests/", carol, request_body("de", "A2"))
        began = time.monotonic()
        check(status == 201 and created["status"] == "pending", f"carol's request: {status} {created}")
        limit = TTL + 2 * SWEEP + 1  # one second for the round trips
        event = await next_event(socket, "request.expired", timeout=limit)
        waited = time.monotonic() - began
    check(event["request"]["id"] == created["id"], f"request.expired names another request: {event}")
    status, stored = await call("GET", f"{web}/api/v1/matchmaking/requests/{created['id']}/", carol)
    check(stored.get("status") == "expired", f"carol's request after expiry: {status} {stored}")
    return waited


def operations(web: str) -> None:
    for path in ("/admin/login/", "/static/admin/css/base.css", "/health/ready"):
        status, body = fetch("GET", f"{web}{path}", headers=PROXY)
        check(status == 200, f"GET {path}: {status} {body[:200]!r}")
    status, _ = fetch("GET", f"{web}/admin/login/")
    check(status == 301, f"plain HTTP (no proxy header) should redirect to HTTPS, got {status}")


async def main(web_a: str, web_b: str) -> None:
    run = uuid.uuid4().hex[:6]
    alice, bob, carol = f"alice-{run}", f"bob-{run}", f"carol-{run}"
    began = time.monotonic()
    expired = asyncio.create_task(expiry(web_b, carol))  # runs while the pair practises
    session_id = await match(web_a, web_b, alice, bob)
    print(f"journey: matched across processes in {time.monotonic() - began:.1f}s (session {session_id})")
    await session(web_a, web_b, session_id, alice, bob)
    print(f"journey: session started, recording stored and read back, session ended at {time.monotonic() - began:.1f}s")
    await asyncio.to_thread(operations, web_a)
    print("journey: admin login page, admin CSS, /health/ready answer 200; plain HTTP redirects")
    waited = await expired
    print(f"journey: a lone request expired {waited:.1f}s after creation (TTL {TTL}s, sweep {SWEEP}s)")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: journey.py WEB_URL WEB_URL")
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except (JourneyError, OSError, websockets.exceptions.WebSocketException) as error:
        sys.exit(f"journey FAILED: {type(error).__name__}: {error}")
