"""ScriptBatch against the real Redis: one round trip per loop turn, each caller its own result or error."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from redis import asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from conversation.redis import client as redis
from conversation.redis_batch import ScriptBatch
from tests.processes import free_port

# Counts its runs per key, so a call run twice or skipped shows; fails on a `boom` argument.
COUNTED = """
if ARGV[1] == 'boom' then return redis.error_reply('boom asked') end
return {redis.call('INCR', KEYS[1]), ARGV[1]}
"""


class Counting(ScriptBatch):
    """Records the size of each pipeline it sends."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[int] = []

    async def _pipeline(self, batch):
        self.sent.append(len(batch))
        return await super()._pipeline(batch)


def run(scenario):
    async def with_client():
        client = aioredis.Redis.from_url(settings.REDIS_URL)
        await client.script_load(COUNTED)
        try:
            return await scenario(client)
        finally:
            await client.aclose()

    return async_to_sync(with_client)()


def test_calls_in_one_turn_share_one_round_trip_and_each_gets_its_own_result():
    async def scenario(client):
        batch = Counting(client, COUNTED)
        results = await asyncio.gather(*(batch(keys=[f"rb:{i % 2}"], args=[f"a{i}"]) for i in range(5)))
        return results, batch.sent

    results, sent = run(scenario)
    assert results == [[1, b"a0"], [1, b"a1"], [2, b"a2"], [2, b"a3"], [3, b"a4"]]
    assert sent == [5]
    assert redis().get("rb:0") == b"3" and redis().get("rb:1") == b"2"


def test_a_batch_is_bounded_and_the_rest_goes_in_the_next_turn():
    async def scenario(client):
        batch = Counting(client, COUNTED, max_batch=2)
        results = await asyncio.gather(*(batch(keys=["rb:n"], args=[str(i)]) for i in range(5)))
        return results, batch.sent

    results, sent = run(scenario)
    assert [arg for _, arg in results] == [b"0", b"1", b"2", b"3", b"4"]
    assert sent == [2, 2, 1]
    assert redis().get("rb:n") == b"5"


def test_a_script_missing_from_redis_is_loaded_and_each_call_runs_once():
    async def scenario(client):
        batch = Counting(client, COUNTED)
        await batch(keys=["rb:warm"], args=["x"])
        await client.script_flush()  # as a restarted or newly promoted Redis has it
        results = await asyncio.gather(batch(keys=["rb:a"], args=["a"]), batch(keys=["rb:b"], args=["b"]))
        return results, batch.sent

    results, sent = run(scenario)
    assert results == [[1, b"a"], [1, b"b"]]
    assert sent == [1, 2, 2]  # the batch sent once more after the load, never a third time
    assert redis().get("rb:a") == b"1" and redis().get("rb:b") == b"1"


def test_an_error_of_one_call_reaches_that_caller_only():
    async def scenario(client):
        batch = Counting(client, COUNTED)
        return await asyncio.gather(
            batch(keys=["rb:ok"], args=["fine"]), batch(keys=["rb:bad"], args=["boom"]), return_exceptions=True
        ), batch.sent

    (good, bad), sent = run(scenario)
    assert good == [1, b"fine"]
    assert isinstance(bad, ResponseError) and "boom asked" in str(bad)
    assert sent[-1] == 2  # they did share the round trip
    assert redis().get("rb:ok") == b"1" and redis().get("rb:bad") is None


def test_an_unreachable_redis_fails_every_caller_of_the_batch():
    async def scenario(_client):
        gone = aioredis.Redis(port=free_port(), socket_connect_timeout=1)
        try:
            batch = ScriptBatch(gone, COUNTED)
            return await asyncio.gather(*(batch(keys=["k"], args=[str(i)]) for i in range(3)), return_exceptions=True)
        finally:
            await gone.aclose()

    assert all(isinstance(result, RedisConnectionError) for result in run(scenario))


def test_a_caller_that_goes_away_leaves_the_others_and_its_write_done():
    async def scenario(client):
        batch = ScriptBatch(client, COUNTED)
        leaving = asyncio.ensure_future(batch(keys=["rb:left"], args=["l"]))
        staying = asyncio.ensure_future(batch(keys=["rb:stay"], args=["s"]))
        await asyncio.sleep(0)  # both queued, the batch is on its way
        leaving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leaving
        result = await staying
        await asyncio.gather(*batch.running)
        return result

    assert run(scenario) == [1, b"s"]
    assert redis().get("rb:left") == b"1"  # a call once queued still runs (a heartbeat the client did send)


@pytest.mark.parametrize("max_batch", [1, 256])
def test_calls_from_later_turns_are_not_lost(max_batch):
    async def scenario(client):
        batch = ScriptBatch(client, COUNTED, max_batch=max_batch)

        async def beats(n: int) -> list:
            return [await batch(keys=["rb:seq"], args=[f"{n}-{i}"]) for i in range(20)]

        return await asyncio.gather(*(beats(n) for n in range(10)))

    results = run(scenario)
    assert sorted(count for row in results for count, _ in row) == list(range(1, 201))


def test_a_batch_cancelled_on_its_way_cancels_its_callers_instead_of_leaving_them_waiting():
    async def scenario(client):
        batch = ScriptBatch(client, COUNTED)
        caller = asyncio.ensure_future(batch(keys=["rb:c"], args=["c"]))
        while not batch.running:
            await asyncio.sleep(0)
        for task in batch.running:
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(caller, 5)
        return caller.cancelled()

    assert run(scenario)
