"""Blocks at pairing: read from MongoDB only for users Redis flags as having some, yet in force at once."""

from __future__ import annotations

import pytest

from conversation import clock, redis_keys, restrictions
from conversation.redis import client as redis
from matchmaking.documents import MatchmakingRequest
from sessions_app.documents import ConversationSession, UserBlock
from sessions_app.services import safety
from tests.helpers import after_the_first_read, ask


@pytest.fixture
def block_reads(monkeypatch) -> list[str]:
    """The users whose blocks were read from MongoDB."""
    reads: list[str] = []
    original = restrictions._blocks_of
    monkeypatch.setattr(restrictions, "_blocks_of", lambda user_id: reads.append(user_id) or original(user_id))
    return reads


def block(a: str, b: str) -> None:
    safety.users_block(user_id=a, other_id=b, session_id=None, now=clock.now())


def test_a_pairing_of_users_without_blocks_reads_no_blocks_from_mongodb(api, block_reads):
    block("erin", "frank")  # someone has blocks, so the mirror holds flags
    assert ask(api, "alice").json()["status"] == "pending"
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"
    assert ask(api, "carol", targetLanguageCode="de").json()["status"] == "pending"
    assert ask(api, "dave", targetLanguageCode="de").json()["matchedWithUserId"] == "carol"
    # The first pairing found no mirror: it rebuilt the flags and answered from MongoDB; the next read nothing.
    assert block_reads == ["bob"]
    assert redis().get(redis_keys.blocker_flag("erin"))
    assert redis().get(redis_keys.blocker_flag("bob")) is None


def test_a_block_made_after_the_mirror_was_built_takes_effect_at_the_next_request(api, block_reads):
    ask(api, "alice")
    assert ask(api, "bob").json()["matchedWithUserId"] == "alice"  # the mirror is built now
    block_reads.clear()
    MatchmakingRequest.objects.delete()
    redis().delete(redis_keys.user_session("alice"), redis_keys.user_session("bob"))
    block("alice", "bob")  # a report between them
    ask(api, "alice")
    assert ask(api, "bob").json()["status"] == "pending"
    assert block_reads == ["bob"]
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"


def test_a_block_saved_as_a_document_is_flagged_too(api):
    ask(api, "alice")
    ask(api, "bob")  # the mirror is built now
    UserBlock(user_id="dave", blocked_user_id="carol", created_at=clock.now()).save()
    assert redis().get(redis_keys.blocker_flag("dave"))
    ask(api, "carol")
    assert ask(api, "dave").json()["status"] == "pending"


def test_when_redis_lost_the_mirror_the_next_pairing_rebuilds_it_and_blocks_still_hold(api, block_reads):
    ask(api, "alice")
    ask(api, "bob")
    block_reads.clear()
    block("carol", "dave")
    redis().delete(redis_keys.blocks_epoch(), redis_keys.blocker_flag("carol"), redis_keys.blocker_flag("dave"))
    restrictions.forget()
    ask(api, "carol")
    assert ask(api, "dave").json()["status"] == "pending"  # answered from MongoDB while the flags were rebuilt
    assert block_reads == ["dave"]
    assert redis().get(redis_keys.blocker_flag("carol")) and redis().get(redis_keys.blocker_flag("dave"))
    epoch = redis().get(redis_keys.blocks_epoch())
    assert epoch and not epoch.startswith(restrictions.REBUILDING.encode())
    assert 0 < redis().ttl(redis_keys.blocks_epoch()) < redis().ttl(redis_keys.blocker_flag("carol"))


def test_a_lifted_block_lets_the_pair_meet_at_once(api):
    ask(api, "alice")
    ask(api, "bob")  # the mirror is built now
    block("carol", "dave")
    UserBlock.objects(user_id__in=["carol", "dave"]).delete()  # what moderation's block_lift does
    ask(api, "carol")
    assert ask(api, "dave").json()["matchedWithUserId"] == "carol"


def test_a_report_racing_a_pairing_leaves_the_pair_no_session(api, monkeypatch):
    """The report blocks the pair just after the arriving user's check, and ends their sessions before the
    pairing stores one: the pairing reads the blocker flag again once stored, and discards its session."""
    ask(api, "erin")
    ask(api, "frank")  # the mirror is built now
    ask(api, "alice")
    after_the_first_read(monkeypatch, lambda: block("alice", "bob"))
    assert ask(api, "bob").json()["status"] == "pending"
    assert ConversationSession.objects(participant2_id="bob").count() == 0
    assert {r.user_id for r in MatchmakingRequest.objects(status="pending")} == {"alice", "bob"}
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"  # she kept her place


def test_each_block_writes_a_new_flag(api):
    block("alice", "bob")
    first = redis().get(redis_keys.blocker_flag("alice"))
    block("alice", "carol")
    assert first and redis().get(redis_keys.blocker_flag("alice")) not in (None, first)


def test_a_report_racing_a_pairing_is_seen_though_another_call_checked_the_user_since(api, monkeypatch):
    """Between the pairing's read of bob's blocks and its session's insert, the report lands and another call
    of bob's in this process checks him (reading the report's new flag): the pairing compares the flag it
    read again with the one its own read answered from, not with the process's latest."""
    ask(api, "erin")
    ask(api, "frank")  # the mirror is built now
    ask(api, "alice")
    checked = restrictions.blocks_checked

    def then_reported_and_checked_again(user_id, **kwargs):
        answer = checked(user_id, **kwargs)
        monkeypatch.setattr(restrictions, "blocks_checked", checked)
        block("alice", "bob")
        restrictions.is_suspended("bob")  # its exact check records bob's new flag
        return answer

    monkeypatch.setattr(restrictions, "blocks_checked", then_reported_and_checked_again)
    assert ask(api, "bob").json()["status"] == "pending"
    assert ConversationSession.objects(participant2_id="bob").count() == 0
    assert ask(api, "carol").json()["matchedWithUserId"] == "alice"
