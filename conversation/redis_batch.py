"""One Lua script's calls from many coroutines, sent as one pipelined round trip per event-loop turn.

A socket's hot path (a heartbeat) runs a short script whose cost in the web process is mostly
redis-py's per-command overhead and one write syscall; sockets that beat in the same turn share both.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from functools import partial

from redis import asyncio as aioredis
from redis.exceptions import NoScriptError

MAX_BATCH = 256


class ScriptBatch:
    """Runs `script` for every caller, each with its own keys, arguments, result and error.

    Calls made in one turn of the loop are queued and sent together in the next (at most
    `max_batch` per pipeline, the rest in the turn after). Each call still runs its own script
    in Redis: nothing is merged, skipped or delayed past the next turn. A NOSCRIPT reply (Redis
    restarted or failed over since the script was loaded) loads it and re-sends the calls that
    got it, which ran nothing. An error of one call (a reply error) reaches that caller only; an
    error of the round trip (Redis unreachable) reaches every caller of the batch, as it would
    have reached each of them alone.
    """

    def __init__(self, redis: aioredis.Redis, script: str, *, max_batch: int = MAX_BATCH) -> None:
        self.redis = redis
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()
        self.max_batch = max_batch
        self.pending: list[tuple[Sequence, Sequence, asyncio.Future]] = []
        self.running: set[asyncio.Task] = set()  # the loop keeps only weak references to tasks

    async def __call__(self, *, keys: Sequence, args: Sequence):
        future = asyncio.get_running_loop().create_future()
        if not self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        self.pending.append((keys, args, future))
        return await future

    def _flush(self) -> None:
        batch, self.pending = self.pending[: self.max_batch], self.pending[self.max_batch :]
        if self.pending:
            asyncio.get_running_loop().call_soon(self._flush)
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self.running.add(task)
        task.add_done_callback(partial(self._done, batch))

    def _done(self, batch: list[tuple[Sequence, Sequence, asyncio.Future]], task: asyncio.Task) -> None:
        self.running.discard(task)
        # Cancelled (the loop shutting down), even before it started: no caller may wait for good.
        for *_, future in batch:
            if not future.done():
                future.cancel()

    async def _run(self, batch: list[tuple[Sequence, Sequence, asyncio.Future]]) -> None:
        try:
            results = await self._execute(batch)
        except Exception as exc:
            for *_, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (its socket closed); the write still happened
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _execute(self, batch: list[tuple[Sequence, Sequence, asyncio.Future]]) -> list:
        results = await self._pipeline(batch)
        missing = [i for i, result in enumerate(results) if isinstance(result, NoScriptError)]
        if missing:
            await self.redis.script_load(self.script)
            for i, result in zip(missing, await self._pipeline([batch[i] for i in missing]), strict=True):
                results[i] = result
        return results

    async def _pipeline(self, batch: list[tuple[Sequence, Sequence, asyncio.Future]]) -> list:
        # Not `Script.__call__` on a pipeline: redis-py would send SCRIPT EXISTS before every batch.
        pipe = self.redis.pipeline(transaction=False)
        for keys, args, _ in batch:
            pipe.evalsha(self.sha, len(keys), *keys, *args)
        return await pipe.execute(raise_on_error=False)
