"""`learner_link(user_id)` / `learner_url(user_id)`: every user id in the admin links to the learner view.

Defined in mongoadmin.links so that lower apps (sessions, matchmaking) can use them without importing
this one; moderation registers its learner page there (moderation.admin).
"""

from mongoadmin.links import learner_link, learner_url

__all__ = ["learner_link", "learner_url"]
