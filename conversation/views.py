"""Operations endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from conversation.errors import STORE_ERRORS
from conversation.health import stores_failing
from conversation.metrics import RedisCollector


@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    failing = stores_failing()
    if failing:
        return JsonResponse(
            {"status": "unavailable", "failing": failing, "detail": f"{', '.join(failing)} not answering"},
            status=503,
        )
    return JsonResponse({"status": "ok", "mongodb": "ok", "redis": "ok"})


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    registry = CollectorRegistry()
    registry.register(RedisCollector())
    try:
        body = generate_latest(registry)
    except STORE_ERRORS:
        return HttpResponse("# redis unavailable\n", status=503, content_type="text/plain")
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
