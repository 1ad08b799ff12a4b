"""The process-wide Redis client used by services (django-redis' connection pool).

redis-py pools check the pid and reset themselves after a fork.
"""

from __future__ import annotations

from functools import cache

from django_redis import get_redis_connection
from redis import Redis

# Deletes a key only while it still holds the value we wrote (never someone else's claim).
_DELETE_IF_EQUALS = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def client() -> Redis:
    return get_redis_connection("default")


@cache
def _delete_if_equals_script():
    return client().register_script(_DELETE_IF_EQUALS)


def delete_if_equals(key: str, value: str, pipe=None) -> None:
    _delete_if_equals_script()(keys=[key], args=[value], client=pipe)
