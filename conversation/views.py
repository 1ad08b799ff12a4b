"""Operations endpoints: liveness, readiness, Prometheus metrics (behind METRICS_TOKEN outside DEBUG)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from conversation.errors import STORE_ERRORS, error_body, error_response
from conversation.health import stores_failing
from conversation.metrics import RedisCollector
from conversation.metrics import flush as flush_metrics


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    failing = stores_failing()
    if failing:
        # The one error body (with its code and Retry-After, as every 503), plus what a load balancer reads.
        detail = _("%(stores)s not answering") % {"stores": ", ".join(failing)}
        body = {**error_body("service_unavailable", detail), "status": "unavailable", "failing": failing}
        return JsonResponse(body, status=503, headers={"Retry-After": "1"})
    return JsonResponse({"status": "ok", "mongodb": "ok", "redis": "ok"})


def _metrics_refusal(request: HttpRequest) -> JsonResponse | None:
    """Outside DEBUG the queue depths and session counts are for the scraper alone; unconfigured, none exist."""
    if settings.DEBUG:
        return None
    if not settings.METRICS_TOKEN:
        return error_response(404, "not_found", _("Not found."))
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
        return error_response(
            401,
            "not_authenticated",
            _("A valid metrics token is required."),
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return None


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    registry.register(RedisCollector())
    try:
        flush_metrics()  # this process's last second of counts, so a scrape right after an event sees it
        body = generate_latest(registry)
    except STORE_ERRORS:
        return HttpResponse("# redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
