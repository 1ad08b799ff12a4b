"""The operations dashboard as a staff-only page of the admin site (listed with the sessions)."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from ops.charts import bar_chart
from ops.dashboard import Dashboard, dashboard

# The dashboard's own names for how sessions ended (keys from ops.dashboard; "no-show" is not a stored value).
ENDINGS = {
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


def dashboard_view(request):
    figures = dashboard(window=request.GET.get("window", "24h"))
    endings = [(str(ENDINGS.get(name, name)), count) for name, count in sorted(figures.endings.items())]
    context = {
        **admin.site.each_context(request),
        "title": _("Operations dashboard"),
        "d": figures,
        "matches_chart": bar_chart(_hour_points(figures), title=_("Matches per hour")),
        "endings_chart": bar_chart(endings, title=_("How sessions ended")),
    }
    return TemplateResponse(request, "ops/dashboard.html", context)


# Under the sessions app's label, so its address stays /admin/sessions_app/dashboard/.
admin.site.register_view(
    app_label="sessions_app", name="dashboard", title=gettext_lazy("Operations dashboard"), view=dashboard_view
)
