"""Every Redis key the service builds, in one place.

The first three are the seed's keys, word for word; everything else has its own
prefix and a TTL.
"""

from __future__ import annotations

# Seed: matchmaking queue, active session presence, user -> session map.
QUEUE_KEY_TTL_SECONDS = 120
SESSION_ACTIVE_TTL_SECONDS = 1800
USER_SESSION_TTL_SECONDS = 1800


def matchmaking_queue(language: str, level: str) -> str:
    return f"matchmaking:{language}:{level}"


def matchmaking_queue_level(key: str) -> str:
    """The level a `matchmaking_queue` key is for."""
    return key.rsplit(":", 1)[1]


def session_active(session_id: str) -> str:
    return f"session:active:{session_id}"


def user_session(user_id: str) -> str:
    return f"user:session:{user_id}"


# Service keys (own prefixes).
def idempotency(user_id: str, key: str) -> str:
    return f"mm:idem:{user_id}:{key}"


def rate_limit(scope: str, user_id: str, window: int) -> str:
    return f"rl:{scope}:{user_id}:{window}"


def queue_index() -> str:
    """Set of queue keys that may hold members, so overviews never SCAN the keyspace."""
    return "mm:queues"


def match_waits(language: str, level: str) -> str:
    """Recent time-to-match samples of a queue (for estimatedWaitSeconds)."""
    return f"mm:waits:{language}:{level}"


def session_heartbeats() -> str:
    """Sorted set `sessionId:slot` -> last heartbeat time, so the sweeper reads only stale ones."""
    return "sess:heartbeats"


def session_deadlines() -> str:
    """Sorted set `sessionId:kind` -> unix time a timer fires (join, max, time_up)."""
    return "sess:deadlines"


def session_disconnected() -> str:
    """Set of `sessionId:slot` already announced as disconnected (so it is told once)."""
    return "sess:disconnected"


def session_presence_marker() -> str:
    """Present while Redis holds the presence of every live session; gone after a data loss."""
    return "sess:presence-marker"


def session_bookings_marker() -> str:
    """Present while Redis holds the booking of every accepted invitation; gone after a data loss (and
    before the first sweep of the release that brought bookings), when the sweep writes them from MongoDB."""
    return "sess:bookings-marker"


def recently_met(user_id: str) -> str:
    """Sorted set partnerId -> time met, for the rematch cool-down."""
    return f"mm:met:{user_id}"


def user_sockets(user_id: str) -> str:
    """Sorted set socketId -> lease end, the user's open sockets across all web processes."""
    return f"ws:sockets:{user_id}"


def recording_uploads(session_id: str, user_id: str) -> str:
    """Counter of upload URLs a participant was given for a session."""
    return f"rec:uploads:{session_id}:{user_id}"


def recording_issued(session_id: str) -> str:
    """Set of the session's upload keys `complete` may take: those given while both consented, and not since
    voided by a withdrawal of consent."""
    return f"rec:issued:{session_id}"


def recording_pending() -> str:
    """Sorted set upload key -> unix time after which it is deleted (completed or not)."""
    return "rec:pending"


SESSION_INDEX_TTL_SECONDS = 7 * 24 * 3600


def restrictions_hash() -> str:
    """Hash userId -> until (unix seconds, 0 = until lifted) of active suspensions; a mirror of MongoDB."""
    return "restrict:suspended"


def restrictions_version() -> str:
    """Random token replaced on every change of `restrict:suspended`: processes compare it to their copy."""
    return "restrict:version"


def blocks_epoch() -> str:
    """Present (a random token, TTL one day): every user who has blocked someone has a `blocker_flag` key."""
    return "restrict:blocks"


def blocker_flag(user_id: str) -> str:
    """A token, new at each block (TTL two days): `user_id` has or had blocks, so its pairings read them from
    MongoDB."""
    return f"restrict:blocker:{user_id}"


def session_booked(user_id: str) -> str:
    """The id of the scheduled session `user_id` accepted or was accepted for, until it ends (TTL: its join
    deadline): it blocks matchmaking and other acceptances, as `user:session` does for a live session."""
    return f"sess:booked:{user_id}"


def invitation_lock(user_id: str) -> str:
    """Held while an invitation of `user_id` is counted and written, so the cap holds under concurrency."""
    return f"sess:invite-lock:{user_id}"


def report_lock(session_id: str, user_id: str) -> str:
    """Held while `user_id`'s report of a session is checked and stored: two sent at once store one."""
    return f"sess:report-lock:{session_id}:{user_id}"


def acceptance_lock(session_id: str) -> str:
    """Held while an invitation's acceptance runs: a second one sent at once waits, then finds it accepted."""
    return f"sess:accept-lock:{session_id}"


def suspension_lock(user_id: str) -> str:
    """Held while a suspension of `user_id` is created or lifted: two staff acting at once cannot leave two."""
    return f"restrict:lock:{user_id}"


def beat_last() -> str:
    """When a worker last ran the periodic sweep (the dashboard's beat signal); TTL one day."""
    return "ops:beat:last"


def metrics() -> str:
    """The process counters every process adds to (hash, `conversation/metrics.py`); TTL 90 days."""
    return "metrics:v1"
