"""Template filters of the moderation pages: `{{ user_id|learner }}` links a user id to its learner view."""

from django import template

from mongoadmin.links import learner_link

register = template.Library()
register.filter("learner", learner_link)


@register.filter
def duration(seconds: int | None) -> str:
    """`754` -> `12 min 34 s`; empty for a session that never started."""
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"
