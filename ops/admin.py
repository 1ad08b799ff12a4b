"""The operations dashboard as a staff-only page of the admin site (listed with the sessions)."""

from __future__ import annotations

from django.contrib import admin
from django.template.response import TemplateResponse

from ops.charts import bar_chart
from ops.dashboard import dashboard


def dashboard_view(request):
    figures = dashboard(window=request.GET.get("window", "24h"))
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "d": figures,
        "matches_chart": bar_chart(figures.matches_per_hour, title="Matches per hour"),
        "endings_chart": bar_chart(sorted(figures.endings.items()), title="How sessions ended"),
    }
    return TemplateResponse(request, "ops/dashboard.html", context)


# Under the sessions app's label, so its address stays /admin/sessions_app/dashboard/.
admin.site.register_view(app_label="sessions_app", name="dashboard", title="Operations dashboard", view=dashboard_view)
