"""Operations endpoints: liveness, readiness, Prometheus metrics (behind METRICS_TOKEN outside DEBUG)."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from conversation import breaker
from conversation.errors import STORE_ERRORS
from conversation.metrics import RedisCollector


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _check(name: str, probe) -> str | None:
    """The store's name if it does not answer; an answer closes its breaker (recovery within one check)."""
    try:
        probe()
    except Exception:  # a store that answers garbage is as unavailable as one that does not answer
        return name
    breaker.store_answered(name)
    return None


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    failing = [
        name
        for name, probe in (("mongodb", breaker.probe_mongodb), ("redis", breaker.probe_redis))
        if _check(name, probe)
    ]
    if failing:
        return JsonResponse(
            {
                "status": "unavailable",
                "failing": failing,
                "detail": _("%(stores)s not answering") % {"stores": ", ".join(failing)},
            },
            status=503,
        )
    return JsonResponse({"status": "ok", "mongodb": "ok", "redis": "ok"})


def _metrics_refusal(request: HttpRequest) -> JsonResponse | None:
    """Outside DEBUG the queue depths and session counts are for the scraper alone; unconfigured, none exist."""
    if settings.DEBUG:
        return None
    if not settings.METRICS_TOKEN:
        return JsonResponse({"detail": "Not found.", "code": "not_found"}, status=404)
    sent = request.headers.get("Authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {settings.METRICS_TOKEN}".encode()):
        body = {"detail": "A valid metrics token is required.", "code": "not_authenticated"}
        response = JsonResponse(body, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return None


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _metrics_refusal(request)
    if refusal is not None:
        return refusal
    registry = CollectorRegistry()
    registry.register(RedisCollector())
    try:
        body = generate_latest(registry)
    except STORE_ERRORS:
        return HttpResponse("# redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
