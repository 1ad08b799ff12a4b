"""The operations dashboard as a staff-only page of the admin site (listed with the sessions): figures,
a verdict per signal, every figure a link to the admin list behind it, refreshed on its own."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from ops.charts import bar_chart
from ops.dashboard import WINDOWS, Dashboard, dashboard
from ops.verdict import LEVEL_NAMES, overall, verdict

ENDINGS = {  # dashboard label -> the session list's filters
    "completed": {"status": "completed", "end_reason": "completed"},
    "dropped": {"status": "completed", "end_reason": "dropped"},
    "timeout": {"status": "completed", "end_reason": "timeout"},
    "reported": {"end_reason": "reported"},
    "no-show": {"status": "cancelled", "end_reason": "timeout"},
    "cancelled": {"status": "cancelled"},
}
# The dashboard's own names for how sessions ended ("no-show" is not a stored value), in the reader's language.
ENDING_NAMES = {
    "completed": pgettext_lazy("session ending", "completed"),
    "dropped": pgettext_lazy("session ending", "dropped"),
    "timeout": pgettext_lazy("session ending", "time limit"),
    "reported": pgettext_lazy("session ending", "reported"),
    "no-show": pgettext_lazy("session ending", "no-show"),
    "cancelled": pgettext_lazy("session ending", "cancelled"),
}


def _hour_points(figures: Dashboard) -> list[tuple[str, int, str]]:
    """Hours as the locale writes them: the time under the bar (weekday too over 7 days), the full date on hover."""
    axis = "TIME_FORMAT" if figures.window == "24h" else "D H:i"
    return [
        (date_format(hour, axis), count, date_format(hour, "SHORT_DATETIME_FORMAT"))
        for hour, count in figures.matches_per_hour
    ]


def _list(name: str, **filters: str) -> str:
    url = reverse(f"admin:{name}_changelist")
    return f"{url}?{urlencode(filters)}" if filters else url


def figure_urls(figures: Dashboard) -> dict[str, str]:
    """The filtered admin list behind each figure (day filters: the window rounded out to whole days)."""
    since = {"created_at__gte": (figures.as_of - WINDOWS[figures.window]).date().isoformat()}
    requests, sessions = "matchmaking_matchmakingrequest", "sessions_app_conversationsession"
    urls = {status: _list(requests, status=status, **since) for status in ("matched", "expired", "cancelled")}
    return (
        urls
        | {
            "pending": _list(requests, status="pending"),
            "active": _list(sessions, status="active"),
            "waiting": _list(sessions, status="waiting"),
            "sessions": _list(sessions, **since),
            "reports": _list("sessions_app_sessionreport", **since),
            "feedback": _list("sessions_app_sessionfeedback", **since),
            "coverage": reverse("admin:topics_coverage"),
        }
        | {f"ending:{label}": _list(sessions, **filters, **since) for label, filters in ENDINGS.items()}
    )


def dashboard_view(request):
    figures = dashboard(window=request.GET.get("window", "24h"))
    endings = [(str(ENDING_NAMES.get(name, name)), name, count) for name, count in sorted(figures.endings.items())]
    urls = figure_urls(figures)
    signals = verdict(
        oldest_wait=figures.longest_wait_seconds, p99=figures.time_to_match.get("p99"),
        expired_share=figures.expired_share, beat_last=figures.beat_last, failing_stores=figures.failing_stores,
        now=figures.as_of, urls=urls,
    )  # fmt: skip
    refresh = 0 if request.GET.get("refresh") == "0" else settings.OPS_DASHBOARD_REFRESH_SECONDS
    context = {
        **admin.site.each_context(request),
        "title": _("Operations dashboard"),
        "d": figures,
        "urls": urls,
        "signals": signals,
        "overall": overall(signals),
        "overall_label": LEVEL_NAMES[overall(signals)],
        "refresh": refresh,
        "endings": [(label, count, urls.get(f"ending:{name}")) for label, name, count in endings],
        "queues": [
            (
                q,
                _list(
                    "matchmaking_matchmakingrequest",
                    status="pending",
                    target_language_code=q["targetLanguageCode"],
                    user_level=q["level"],
                ),
            )
            for q in figures.queues
        ],
        "matches_chart": bar_chart(_hour_points(figures), title=_("Matches per hour")),
        "endings_chart": bar_chart([(label, count) for label, _name, count in endings], title=_("How sessions ended")),
    }
    return TemplateResponse(request, "ops/dashboard.html", context)


# Under the sessions app's label, so its address stays /admin/sessions_app/dashboard/.
admin.site.register_view(
    app_label="sessions_app", name="dashboard", title=gettext_lazy("Operations dashboard"), view=dashboard_view
)
