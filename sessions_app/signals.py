"""Signals other apps subscribe to, so that this app never imports them (dependencies point one way)."""

from django.dispatch import Signal

# Sent when a no-show cancels an instant session, with `session`, `user_ids` (those who did show up)
# and `now`. Matchmaking puts those users back at the head of the queue (matchmaking.handlers).
session_no_show = Signal()

# Sent (robustly) once an invitation is stored as accepted, with `session` and `now`: both participants now
# have a waiting session, so matchmaking cancels a pending request of either.
session_booked = Signal()
