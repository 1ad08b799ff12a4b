"""The dashboard's verdict: green, amber or red per signal, against thresholds from settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

GREEN, AMBER, RED = "green", "amber", "red"
# The levels as the page shows them; the keys stay in the page's classes and data-level attributes.
LEVEL_NAMES = {
    GREEN: pgettext_lazy("verdict", "green"),
    AMBER: pgettext_lazy("verdict", "amber"),
    RED: pgettext_lazy("verdict", "red"),
}


@dataclass(frozen=True)
class Signal:
    key: str
    name: str
    value: str
    level: str
    rule: str  # the thresholds, as the operator reads them
    url: str | None = None

    @property
    def level_label(self) -> str:
        return str(LEVEL_NAMES[self.level])


def level_of(value: float | None, thresholds: tuple[int, int]) -> str:
    """Green below the amber threshold, red from the red one; no value yet is green (nothing to wait for)."""
    amber, red = thresholds
    if value is None or value < amber:
        return GREEN
    return RED if value >= red else AMBER


def _rule(thresholds: tuple[int, int], unit: str) -> str:
    return _("amber from %(amber)s %(unit)s, red from %(red)s %(unit)s") % {
        "amber": thresholds[0], "red": thresholds[1], "unit": unit,
    }  # fmt: skip


def verdict(
    *,
    oldest_wait: float,
    p99: float | None,
    expired_share: float | None,
    beat_last: dt.datetime | None,
    failing_stores: list[str],
    now: dt.datetime,
    urls: dict[str, str],
) -> list[Signal]:
    beat_age = (now - beat_last).total_seconds() if beat_last else None
    beat_level = RED if beat_age is None else level_of(beat_age, settings.OPS_BEAT_AGE_SECONDS)
    return [
        Signal("oldest_wait", _("Oldest wait"), f"{number_format(oldest_wait, 0)} s",
               level_of(oldest_wait, settings.OPS_OLDEST_WAIT_SECONDS),
               _rule(settings.OPS_OLDEST_WAIT_SECONDS, "s"), urls.get("pending")),
        Signal("p99", _("Time to match p99"), "-" if p99 is None else f"{number_format(p99, 1)} s",
               level_of(p99, settings.OPS_MATCH_P99_SECONDS), _rule(settings.OPS_MATCH_P99_SECONDS, "s"),
               urls.get("matched")),
        Signal("expired_share", _("Expired requests"),
               "-" if expired_share is None else f"{number_format(expired_share, 0)} %",
               level_of(expired_share, settings.OPS_EXPIRED_SHARE_PERCENT),
               _rule(settings.OPS_EXPIRED_SHARE_PERCENT, "%"), urls.get("expired")),
        Signal("beat", _("Beat's last run"), _("never seen") if beat_age is None else f"{number_format(beat_age, 0)} s",
               beat_level, _rule(settings.OPS_BEAT_AGE_SECONDS, "s")),
        Signal("stores", _("Stores"), ", ".join(failing_stores) or _("all answering"),
               RED if failing_stores else GREEN, _("red when MongoDB, Redis or S3 does not answer")),
    ]  # fmt: skip


def overall(signals: list[Signal]) -> str:
    levels = {signal.level for signal in signals}
    return RED if RED in levels else (AMBER if AMBER in levels else GREEN)
