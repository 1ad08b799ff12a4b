"""The pairing script on the real Redis: it reads members as text, so ids, topics and scores must
come out exactly as the JSON decoder and the sorted set would give them."""

from __future__ import annotations

from conversation import redis_keys
from conversation.redis import client as redis
from matchmaking.redis_scripts import Booked, Popped, QueueMember
from matchmaking.services.queue import scripts

QUEUE, BELOW, ABOVE = "matchmaking:fr:B1", "matchmaking:fr:A2", "matchmaking:fr:B2"
NOW = 1_764_500_000.123456  # more digits than Lua's own number formatting keeps


def member(user: str, *, topic: str | None = None, duration: int = 10) -> QueueMember:
    return QueueMember(user_id=user, learning_profile_id="lp", preferred_topic_id=topic, preferred_duration=duration)


def step(
    user: str, *, topic: str | None = None, duration: int = 10, score: float = NOW, excluded: frozenset = frozenset(),
    enqueue: bool = True, relaxed: bool = False,
) -> Popped | Booked | None:  # fmt: skip
    return scripts().pair_or_enqueue(
        queue_key=QUEUE, adjacent_keys=[BELOW, ABOVE], member=member(user, topic=topic, duration=duration),
        score=score, stale_cutoff=NOW - 120, relax_cutoff=NOW - 30, excluded=set(excluded),
        met_key=redis_keys.recently_met(user), met_cutoff=NOW - 600, booking_key=redis_keys.session_booked(user),
        enqueue=enqueue, relaxed=relaxed,
    )  # fmt: skip


def waiting(key: str = QUEUE) -> list[str]:
    return [QueueMember.decode(raw).user_id for raw in redis().zrange(key, 0, -1)]


def test_ids_the_json_escapes_are_compared_as_decoded():
    odd = ['say "hi"', "zoë", "back\\slash", "名前", "plain"]
    redis().zadd(QUEUE, {member(user).encode(): NOW - 10 + i for i, user in enumerate(odd)})
    popped = step('say "hi"', enqueue=False)  # already queued: never paired with itself, and taken out
    assert popped.member.user_id == "zoë" and waiting() == ["back\\slash", "名前", "plain"]
    redis().zadd(redis_keys.recently_met("dave"), {"back\\slash": NOW - 5})
    assert step("dave").member.user_id == "名前"  # met within the cool-down: ranks after a stranger
    assert step("carol", excluded=frozenset({"back\\slash"})).member.user_id == "plain"
    assert waiting() == ["back\\slash"]


def test_a_popped_member_keeps_its_exact_score():
    step("alice", score=NOW - 7.000001)
    popped = step("bob")
    assert popped.score == NOW - 7.000001 and popped.queue_key == QUEUE
    assert popped.member == member("alice") and popped.raw == member("alice").encode()


def test_a_tie_between_adjacent_levels_goes_to_the_longest_waiting():
    for older, newer in ((ABOVE, BELOW), (BELOW, ABOVE)):
        redis().delete(BELOW, ABOVE)
        redis().zadd(older, {member(f"old-{older}").encode(): NOW - 60})
        redis().zadd(newer, {member(f"new-{newer}").encode(): NOW - 50})
        popped = step("x", enqueue=False, relaxed=True)
        assert popped.queue_key == older and popped.member.user_id == f"old-{older}"


def test_a_topic_matches_only_the_same_topic_and_duration_only_the_same_duration():
    redis().zadd(QUEUE, {member("prefix", topic="t-1x", duration=1).encode(): NOW - 9})
    redis().zadd(QUEUE, {member("same", topic="t-1", duration=15).encode(): NOW - 8})
    redis().zadd(QUEUE, {member("longer", topic="t-1", duration=150).encode(): NOW - 7})
    assert step("newcomer", topic="t-1", duration=150).member.user_id == "longer"
    assert step("second", topic="t-1", duration=1).member.user_id == "same"
    assert step("third", duration=1).member.user_id == "prefix"  # no preference: duration decides


def test_members_it_cannot_read_are_left_alone():
    redis().zadd(QUEUE, {"not json": NOW - 9, '{"userId":"a\\"': NOW - 8, member("alice").encode(): NOW - 7})
    assert step("bob").member.user_id == "alice"
    assert sorted(redis().zrange(QUEUE, 0, -1)) == [b"not json", b'{"userId":"a\\"']


def test_an_arrival_prunes_stale_members_and_keeps_the_seeds_ttl_and_the_index():
    redis().zadd(QUEUE, {member("gone").encode(): NOW - 121})
    assert step("alice") is None
    assert waiting() == ["alice"] and redis().zscore(QUEUE, member("alice").encode()) == NOW
    assert 0 < redis().ttl(QUEUE) <= redis_keys.QUEUE_KEY_TTL_SECONDS
    assert redis().smembers(redis_keys.queue_index()) == {QUEUE.encode()}


def test_a_waiting_member_one_level_away_is_taken_only_after_the_relax_delay():
    redis().zadd(ABOVE, {member("fresh").encode(): NOW - 10})
    assert step("alice", score=NOW) is None
    redis().zadd(ABOVE, {member("patient").encode(): NOW - 40})
    assert step("bob").member.user_id == "alice"  # same level first
    assert step("carol").member.user_id == "patient"
    assert step("dave", score=NOW - 31, relaxed=True).member.user_id == "fresh"


def test_a_booked_caller_is_never_queued_yet_may_pop_a_partner():
    """The booking is read only where the step would queue its caller; a pairing reads it at its commit."""
    redis().set(redis_keys.session_booked("alice"), "6b0fa86399ed6f57c26198fb")
    assert step("alice") == Booked(session_id="6b0fa86399ed6f57c26198fb")
    assert waiting() == [] and redis().smembers(redis_keys.queue_index()) == set()
    assert step("alice", enqueue=False) is None  # the relax pass never queues
    step("bob")
    assert step("alice").member.user_id == "bob"
