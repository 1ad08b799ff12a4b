"""Links from a user id to the page about that user, for every admin that shows user ids.

The page belongs to a higher app (moderation's learner view), which names its URL here at start-up;
until it does, ids are shown as plain text. Lower apps call these without importing that app.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from conversation.auth import USER_ID_RE

EMPTY = "-"
_user_page: str | None = None  # URL name of a page taking the user id as its only argument


def set_user_page(url_name: str) -> None:
    global _user_page
    _user_page = url_name


def learner_url(user_id: str | None) -> str | None:
    """The admin address of `user_id`'s page, or None (no page registered, or not a user id)."""
    if _user_page is None or not user_id or not USER_ID_RE.match(user_id):
        return None
    try:
        return reverse(f"admin:{_user_page}", args=[user_id])
    except NoReverseMatch:
        return None


def learner_link(user_id: str | None) -> SafeString:
    """`<a href="...">user_id</a>` (escaped), or the id as text when there is no page to link to."""
    url = learner_url(user_id)
    if url is None:
        return format_html("{}", user_id or EMPTY)
    return format_html('<a href="{}" class="learner-link">{}</a>', url, user_id)
