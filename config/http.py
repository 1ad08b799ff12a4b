"""Django's ASGI HTTP handler with each request's sync work on a fixed pool of threads.

Django's own ASGIHandler opens a ThreadSensitiveContext per request, so asgiref starts a fresh
thread for every request and hops to it for the signals, the middleware chain and the view. Our
middleware and views are sync, so here the whole request (request_started, middleware, view,
request_finished) runs in one hop to a long-lived pool thread, as under WSGI, while the event loop
keeps the sockets; `async_to_sync` in a view (event pushes) still runs on the server's loop.
Measured in docs/BENCHMARKS.md (pairing cost: `/health/live` and the pairing POST).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponseBase
from django.urls import set_script_prefix


class PooledASGIHandler(ASGIHandler):
    def __init__(self, *, threads: int) -> None:
        super().__init__()
        self.load_middleware(is_async=False)  # one sync chain, run inside the pool thread
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="http")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        in_pool = sync_to_async(self._respond, thread_sensitive=False, executor=self.executor)
        response = await in_pool(scope, body_file)
        try:
            await self.send_response(response, send)
        finally:
            if response.streaming:  # its body was read while sending: close it (request_finished) now
                await sync_to_async(self._close, thread_sensitive=False, executor=self.executor)(response, body_file)

    def _respond(self, scope, body_file) -> HttpResponseBase:
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
        if not response.streaming:  # the body is in memory: finish the request in this same hop
            self._close(response, body_file)
        return response

    @staticmethod
    def _close(response: HttpResponseBase, body_file) -> None:
        try:
            response.close()  # sends request_finished
        finally:
            body_file.close()
