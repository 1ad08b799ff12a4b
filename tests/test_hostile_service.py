"""What an attack on the running service found (issue 14), one test per finding, over real sockets and S3.

Each asserts the opposite of what the attack saw; docs/SECURITY.md maps every finding to its test. The admin's
findings are in test_hostile_admin.py: they use the SQL database, which the socket tests here must not.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import re
import socket
import time
import urllib.request
from collections.abc import Iterator

import jwt
import pytest
import websockets
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.core.management import call_command

from config.asgi import application as asgi_app
from conversation import redis_keys
from conversation.auth import mint_token
from conversation.events import user_group
from conversation.redis import client as redis
from conversation.s3 import s3
from sessions_app.documents import ConversationSession
from sessions_app.services.recording import recording_uploads_sweep
from tests.helpers import ask, post_upload
from tests.processes import procfile_web_options, web_servers

WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01" + b"\x00" * 64  # an EBML (WebM) header, then anything
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


def _read_response(sock: socket.socket, timeout: float) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def _status_and_body(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with web_servers(1) as urls:
        yield urls[0]


# --- Body read to disk before auth or size check ------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_huge_content_length_is_refused_before_the_body_is_sent(server):
    port = int(server.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /api/v1/matchmaking/requests/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 314572800\r\n\r\n"
        )
        started = time.monotonic()
        raw = _read_response(sock, timeout=5)  # not one byte of the 300 MiB was sent
    status, body = _status_and_body(raw)
    assert (status, body["code"]) == (413, "payload_too_large")  # not 401: before authentication
    assert time.monotonic() - started < 2
    assert b"connection: close" in raw.lower()


@pytest.mark.timeout(60)
def test_a_chunked_body_is_cut_off_at_the_limit(server):
    port = int(server.rsplit(":", 1)[1])
    chunk = b"x" * 8192
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /api/v1/matchmaking/requests/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        sent = 0
        while sent <= django_settings.MAX_REQUEST_BODY_BYTES:  # one chunk past the limit, never the end chunk
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            sent += len(chunk)
        status, body = _status_and_body(_read_response(sock, timeout=5))
    assert (status, body) == (
        413,
        {"detail": f"Request body too large: at most {django_settings.MAX_REQUEST_BODY_BYTES} bytes.",
         "code": "payload_too_large"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def procfile_server() -> Iterator[str]:
    """A web process started with the Procfile's uvicorn options (its HTTP protocol among them)."""
    with web_servers(1, args=procfile_web_options()) as urls:
        yield urls[0]


def _connect(base: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])))


def _head_in_pieces(sock: socket.socket, padding: int, *, piece: int = 1024) -> None:
    """The head of a GET /health/live with `padding` bytes of X-Pad headers, a piece at a time, not ended."""
    sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    while padding > 0:
        line = b"X-Pad: " + b"a" * (min(piece, padding) - 9) + b"\r\n"
        sock.sendall(line)
        padding -= len(line)
        time.sleep(0.002)  # separate reads on the server's side


@pytest.mark.timeout(60)
def test_the_procfile_server_cuts_off_an_endless_header_block(procfile_server):
    # httptools alone took 8 MiB of headers (its RSS grew 16 MB); conversation.http_protocol bounds the head.
    with _connect(procfile_server) as sock:
        sock.settimeout(10)
        line = b"X-Pad: " + b"a" * 8000 + b"\r\n"
        answer = b""
        try:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            for _ in range(8 * 2**20 // len(line)):
                sock.sendall(line)
            sock.sendall(b"\r\n")
            answer = sock.recv(65536)
        except OSError:
            pass  # reset while sending: refused
    assert not answer.startswith(b"HTTP/1.1 200"), answer[:80]


@pytest.mark.timeout(60)
def test_the_procfile_server_answers_431_to_a_head_over_16_kib_and_serves_one_under_it(procfile_server):
    with _connect(procfile_server) as sock:
        for _ in range(2):  # the second request on the connection is counted afresh
            _head_in_pieces(sock, 15 * 1024)
            sock.sendall(b"\r\n")
            assert _read_response(sock, timeout=5).startswith(b"HTTP/1.1 200 OK")
    with _connect(procfile_server) as sock:
        _head_in_pieces(sock, 16 * 1024)  # past the limit with its request line; not ended, nothing more sent
        refused = _read_response(sock, timeout=5)
        assert sock.recv(1) == b""  # and the connection is closed
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), refused[:80]


@pytest.mark.timeout(60)
def test_the_procfile_server_cuts_off_endless_trailers_and_serves_a_chunked_body(procfile_server):
    # httptools parses a chunked body's trailers like headers, after the head is done.
    chunked = b"POST /api/v1/matchmaking/requests/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
    with _connect(procfile_server) as sock:
        pieces = b"".join(b"10\r\n" + b"x" * 16 + b"\r\n" for _ in range(1000))  # 16 KB in 16-byte chunks
        sock.sendall(chunked + b"\r\n" + pieces + b"0\r\nX-Trailer: a\r\n\r\n")
        assert _read_response(sock, timeout=5).startswith(b"HTTP/1.1 401 ")  # read whole, then refused
    with _connect(procfile_server) as sock:
        sock.sendall(chunked + b"\r\n4\r\nabcd\r\n0\r\n")
        sock.settimeout(5)
        try:
            for _ in range(1024):  # 1 MiB of trailers, a line at a time
                sock.sendall(b"X-Pad: " + b"a" * 1015 + b"\r\n")
                time.sleep(0.001)
            cut_off = sock.recv(1) == b""
        except TimeoutError:
            cut_off = False  # still reading them, or waiting for more
        except OSError:
            cut_off = True  # reset while sending
    assert cut_off


@pytest.mark.timeout(60)
def test_the_procfile_server_serves_a_request_pipelined_behind_a_body(procfile_server):
    # A read that ends a 20 KB body and starts the next head: the bound counts head bytes only.
    body = b"x" * 20_000
    with _connect(procfile_server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\nx" % len(body))
        time.sleep(0.2)  # the server reads the head apart from the rest
        sock.sendall(body[1:] + b"GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
        time.sleep(0.2)  # that read ends inside the second head
        sock.sendall(b"\r\n")
        sock.settimeout(5)
        answers = b""
        while chunk := sock.recv(65536):
            answers += chunk
    assert re.findall(rb"HTTP/1\.1 (\d+) ", answers) == [b"200", b"200"], answers[:300]


# --- Sockets: token expiry, per-user cap, frame rate ---------------------------------------------------------


def _token_expiring_in(user_id: str, seconds: float) -> str:
    claims = {"sub": user_id, "exp": dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)}
    return jwt.encode(claims, django_settings.JWT_SECRET, algorithm="HS256")


async def _close_code(communicator: WebsocketCommunicator, timeout: float) -> tuple[int, list[str]]:
    """The close code, and the types of the events received before it."""
    seen = []
    while True:
        output = await communicator.receive_output(timeout=timeout)
        if output["type"] == "websocket.close":
            return output["code"], seen
        seen.append(json.loads(output["text"])["type"])


@pytest.mark.timeout(60)
def test_a_socket_is_closed_4401_when_its_token_expires(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]

    async def scenario() -> tuple[float, int, list[str]]:
        token = _token_expiring_in("alice", 3)
        expires = jwt.decode(token, options={"verify_signature": False})["exp"]  # whole seconds
        communicator = WebsocketCommunicator(asgi_app, f"/ws/v1/sessions/{session_id}/?token={token}")
        assert (await communicator.connect())[0]
        await communicator.send_json_to({"type": "heartbeat"})
        code, seen = await _close_code(communicator, timeout=8)
        closed_at = time.time()
        await communicator.disconnect(timeout=0.1)
        return closed_at - expires, code, seen

    late, code, seen = async_to_sync(scenario)()
    assert code == 4401 and seen == ["session.state", "heartbeat.ack"]
    assert -0.1 < late < 1.5
    assert redis().zcard(redis_keys.user_sockets("alice")) == 0  # its slot given back


@pytest.mark.timeout(120)
def test_a_user_holds_at_most_the_cap_of_sockets_across_processes():
    cap = 3
    with web_servers(2, env={"WEBSOCKET_MAX_PER_USER": str(cap)}) as urls:
        ws_urls = [url.replace("http://", "ws://") + "/ws/v1/matchmaking/" for url in urls]
        token = mint_token("hoarder")
        # A web process that crashed with a socket open leaves a lease that has run out: it must not count.
        redis().zadd(redis_keys.user_sockets("hoarder"), {"dead-process-socket": time.time() - 1})

        async def scenario() -> tuple[list[int], int, int, int]:
            held = []
            for index in range(cap):
                sock = await websockets.connect(f"{ws_urls[index % 2]}?token={token}")
                await sock.send(json.dumps({"type": "ping"}))
                assert json.loads(await asyncio.wait_for(sock.recv(), 5))["type"] == "pong"
                held.append(sock)
            refused = []
            for url in ws_urls:
                extra = await websockets.connect(f"{url}?token={token}")
                with pytest.raises(websockets.ConnectionClosed):
                    await asyncio.wait_for(extra.recv(), 5)
                refused.append(extra.close_code)
            other = await websockets.connect(f"{ws_urls[0]}?token={mint_token('bystander')}")
            await other.send(json.dumps({"type": "ping"}))
            bystander = json.loads(await asyncio.wait_for(other.recv(), 5))["type"] == "pong"
            await other.close()
            await held.pop().close()
            await asyncio.sleep(0.3)
            again = await websockets.connect(f"{ws_urls[1]}?token={token}")
            await again.send(json.dumps({"type": "ping"}))
            reopened = json.loads(await asyncio.wait_for(again.recv(), 5))["type"] == "pong"
            held.append(again)
            # Slots and group places go together: a refused socket took neither, a closed one gave both back.
            counted = redis().zcard(redis_keys.user_sockets("hoarder")), redis().zcard(group)
            for sock in held:
                await sock.close()
            await asyncio.sleep(0.3)
            return refused, bystander and reopened, counted, (redis().zcard(redis_keys.user_sockets("hoarder")),
                                                             redis().zcard(group))  # fmt: skip

        group = get_channel_layer()._group_key(user_group("hoarder"))
        refused, others_fine, counted, left = asyncio.run(scenario())
    assert refused == [4429, 4429]
    assert others_fine
    assert (counted, left) == ((cap, cap), (0, 0))


@pytest.mark.timeout(60)
def test_a_socket_offering_compression_gets_none_in_the_production_form():
    """Browsers offer permessage-deflate; its zlib state cost ~30 KB a socket and ~15 % of a heartbeat's CPU
    for frames of a few hundred bytes, so the Procfile turns it off (docs/BENCHMARKS.md, sessions)."""
    with web_servers(1, args=procfile_web_options()) as (url,):

        async def scenario() -> tuple[str | None, str]:
            ws_url = url.replace("http://", "ws://") + f"/ws/v1/matchmaking/?token={mint_token('zipper')}"
            async with websockets.connect(ws_url, compression="deflate") as sock:
                await sock.send(json.dumps({"type": "ping"}))
                pong = json.loads(await asyncio.wait_for(sock.recv(), 5))["type"]
                return sock.response.headers.get("Sec-WebSocket-Extensions"), pong

        assert asyncio.run(scenario()) == (None, "pong")


@pytest.mark.timeout(60)
def test_a_frame_flood_gets_rate_limited_then_closed_1008(api):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    path = f"/ws/v1/sessions/{session_id}/"
    sent = 1000

    async def scenario() -> tuple[int, list[dict], int]:
        alice = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('alice')}")
        bob = WebsocketCommunicator(asgi_app, f"{path}?token={mint_token('bob')}")
        assert (await alice.connect())[0] and (await bob.connect())[0]
        await alice.receive_json_from(timeout=3)
        await bob.receive_json_from(timeout=3)
        for index in range(sent):
            await alice.send_json_to({"type": "signal", "payload": {"n": index}})
        errors, code = [], None
        while code is None:
            output = await alice.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                code = output["code"]
            else:
                errors.append(json.loads(output["text"]))
        relayed = 0
        while not await bob.receive_nothing(timeout=0.5):
            relayed += (await bob.receive_json_from())["type"] == "signal"
        await alice.disconnect(timeout=0.1)
        await bob.disconnect(timeout=0.1)
        return code, errors, relayed

    code, errors, relayed = async_to_sync(scenario)()
    burst = django_settings.WEBSOCKET_MAX_MESSAGES_PER_SECOND * django_settings.WEBSOCKET_RATE_BURST_SECONDS
    assert code == 1008
    assert errors == [{"type": "error", "code": "rate_limited", "detail": "More than 20 messages a second."}]
    assert burst <= relayed < 2 * burst  # the reserve, plus what refilled while the consumer worked through it


# --- Recording: presigned POST, overwrite, type, count, window, orphans ----------------------------------------


def _active_session(api) -> str:
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    for user in ("alice", "bob"):
        api(user).post(f"/api/v1/sessions/{session_id}/heartbeat/")
        api(user).put(f"/api/v1/sessions/{session_id}/recording-consent/", {"consent": True}, format="json")
    return session_id


def _stored(session_id: str) -> bytes:
    url = ConversationSession.objects.get(id=session_id).audio_recording_url
    key = url.removeprefix(f"s3://{django_settings.S3_BUCKET}/")
    return s3().get_object(Bucket=django_settings.S3_BUCKET, Key=key)["Body"].read()


def _keys(prefix: str) -> list[str]:
    listed = s3().list_objects_v2(Bucket=django_settings.S3_BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_a_completed_recording_cannot_be_overwritten(api):
    session_id = _active_session(api)
    base = f"/api/v1/sessions/{session_id}/recording"
    upload = api("alice").post(f"{base}/upload-url/", {}, format="json").json()
    assert (upload["method"], upload["maxBytes"]) == ("POST", django_settings.RECORDING_MAX_BYTES)
    assert post_upload(upload, WEBM) in (200, 204)
    done = api("alice").post(f"{base}/complete/", {"key": upload["key"]}, format="json")
    assert done.status_code == 200
    assert done.json()["audioRecordingUrl"].startswith(f"s3://{django_settings.S3_BUCKET}/recordings/{session_id}/")

    # The old policy still works until it expires, but only under its own key, which is not the recording.
    assert post_upload(upload, b"\x1a\x45\xdf\xa3 something else entirely") in (200, 204)
    assert _stored(session_id) == WEBM
    again = api("bob").post(f"{base}/complete/", {"key": upload["key"]}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "recording_exists")
    refused = api("bob").post(f"{base}/upload-url/", {}, format="json")
    assert (refused.status_code, refused.json()["code"]) == (409, "recording_exists")
    assert _stored(session_id) == WEBM


def test_non_audio_labelled_audio_is_refused_and_deleted(api):
    session_id = _active_session(api)
    base = f"/api/v1/sessions/{session_id}/recording"
    upload = api("alice").post(f"{base}/upload-url/", {"contentType": "audio/webm"}, format="json").json()
    assert post_upload(upload, HTML) in (200, 204)  # the label is all S3 can check
    refused = api("alice").post(f"{base}/complete/", {"key": upload["key"]}, format="json")
    assert refused.status_code == 400 and "not audio" in json.dumps(refused.json())
    assert _keys(f"uploads/{session_id}/") == []
    assert ConversationSession.objects.get(id=session_id).audio_recording_url is None


def test_the_upload_policy_bounds_type_and_size_and_complete_checks_both_again(api, settings):
    settings.RECORDING_MAX_BYTES = 1024
    session_id = _active_session(api)
    base = f"/api/v1/sessions/{session_id}/recording"
    upload = api("alice").post(f"{base}/upload-url/", {}, format="json").json()
    conditions = json.loads(base64.b64decode(upload["fields"]["policy"]))["conditions"]
    assert ["content-length-range", 1, 1024] in conditions
    assert ["starts-with", "$Content-Type", "audio/"] in conditions
    # AWS S3 answers 403 to both; moto 5.2.5 stores them (docs/SECURITY.md), so `complete` is the check that holds.
    assert post_upload(upload, HTML, content_type="text/html") in (204, 403)
    refused = api("alice").post(f"{base}/complete/", {"key": upload["key"]}, format="json")
    assert refused.status_code == 400
    upload = api("alice").post(f"{base}/upload-url/", {}, format="json").json()
    assert post_upload(upload, WEBM * 20) in (204, 403)  # 1460 bytes
    too_big = api("alice").post(f"{base}/complete/", {"key": upload["key"]}, format="json")
    assert too_big.status_code == 400 and "1 to 1024 bytes" in json.dumps(too_big.json())
    assert _keys(f"uploads/{session_id}/") == []


def test_uploads_are_bounded_in_number_and_time_and_orphans_are_swept(api, frozen_clock, settings):
    waiting = ask(api, "carol").json() and ask(api, "dave").json()["sessionId"]
    for user in ("carol", "dave"):
        api(user).put(f"/api/v1/sessions/{waiting}/recording-consent/", {"consent": True}, format="json")
    early = api("carol").post(f"/api/v1/sessions/{waiting}/recording/upload-url/", {}, format="json")
    assert (early.status_code, early.json()["code"]) == (409, "not_active")

    session_id = _active_session(api)
    base = f"/api/v1/sessions/{session_id}/recording"
    uploads = [api("alice").post(f"{base}/upload-url/", {}, format="json") for _ in range(4)]
    assert [r.status_code for r in uploads] == [200, 200, 200, 429]
    assert 1 <= int(uploads[3]["Retry-After"]) <= settings.SESSION_MAX_DURATION_SECONDS + 3600
    assert api("bob").post(f"{base}/upload-url/", {}, format="json").status_code == 200  # per participant

    for upload in uploads[:3]:
        assert post_upload(upload.json(), WEBM) in (200, 204)
    assert len(_keys(f"uploads/{session_id}/")) == 3
    assert recording_uploads_sweep() == 0  # nothing is due yet
    due = time.time() + 2 * settings.RECORDING_URL_TTL_SECONDS + 1
    assert recording_uploads_sweep(now=due) == 4 and recording_uploads_sweep(now=due) == 0
    assert _keys(f"uploads/{session_id}/") == []
    assert redis().zcard(redis_keys.recording_pending()) == 0

    api("alice").post(f"/api/v1/sessions/{session_id}/end/")
    frozen_clock.advance(seconds=settings.RECORDING_UPLOAD_WINDOW_SECONDS + 1)
    late = api("bob").post(f"{base}/upload-url/", {}, format="json")
    assert (late.status_code, late.json()["code"]) == (409, "upload_window_closed")

    call_command("ensure_bucket", stdout=open("/dev/null", "w"))  # noqa: SIM115
    rules = s3().get_bucket_lifecycle_configuration(Bucket=settings.S3_BUCKET)["Rules"]
    assert [(r["Filter"]["Prefix"], r["Expiration"]["Days"]) for r in rules] == [("uploads/", 1)]


# --- Headers, Swagger UI, /metrics, the schema ----------------------------------------------------------------


def test_responses_carry_a_csp_and_no_server_header(server):
    with urllib.request.urlopen(f"{server}/health/live", timeout=5) as response:
        assert response.headers.get("Server") is None
    for path in ("/admin/login/", "/api/docs/", "/practice/"):
        with urllib.request.urlopen(f"{server}{path}", timeout=5) as response:
            policy = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path


def test_swagger_ui_is_served_by_the_service_with_no_cdn(server):
    with urllib.request.urlopen(f"{server}/api/docs/", timeout=5) as response:
        page = response.read().decode()
    assert "cdn" not in page.lower() and "@latest" not in page and "<script>" not in page
    scripts = [part.split('"', 1)[0] for part in page.split('src="')[1:]]
    assert scripts and all(src.startswith("/") for src in scripts)
    for src in scripts:
        with urllib.request.urlopen(f"{server}{src.replace('&amp;', '&')}", timeout=5) as response:
            assert response.status == 200 and "javascript" in response.headers["Content-Type"]


def test_metrics_need_the_metrics_token_outside_debug(client, settings):
    settings.DEBUG = False
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.METRICS_TOKEN = "scrape-secret-" + "x" * 20
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    scraped = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {settings.METRICS_TOKEN}")
    assert scraped.status_code == 200 and b"# TYPE" in scraped.content
    settings.DEBUG = True
    assert client.get("/metrics").status_code == 200


def test_the_schema_is_built_once_per_process_and_matches_the_code(client, monkeypatch):
    from drf_spectacular.generators import SchemaGenerator

    from conversation.schema import CachedSchemaView

    fresh = SchemaGenerator().get_schema(request=None, public=True)
    CachedSchemaView._built.clear()
    builds = []
    original = SchemaGenerator.get_schema
    monkeypatch.setattr(SchemaGenerator, "get_schema", lambda self, **kw: builds.append(1) or original(self, **kw))
    first = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    second = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert first.status_code == second.status_code == 200
    assert len(builds) == 1 and first.content == second.content
    assert json.loads(second.content)["paths"].keys() == fresh["paths"].keys()
