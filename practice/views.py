"""The practice page: a reference web client of the API, and its DEBUG-only dev login.

Plain Django views; the page talks to the public API and sockets like any other client.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from conversation.auth import USER_ID_RE, mint_token
from conversation.errors import error_response, method_not_allowed
from conversation.vocab import DURATIONS, LEVELS, language_codes

DEV_TOKEN_TTL_SECONDS = 8 * 3600


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    context = {
        "dev_login": settings.DEBUG,
        "languages": language_codes(),
        "levels": LEVELS,
        "durations": DURATIONS,
    }
    return render(request, "practice/index.html", context)


def dev_token(request: HttpRequest) -> HttpResponse:
    """Mints a token for any user id: development only, so outside DEBUG it does not exist, whatever the method."""
    if not settings.DEBUG:
        raise Http404()
    if request.method != "POST":
        return method_not_allowed(["POST"])
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return error_response(400, "invalid", _("Send a JSON body."))
    user_id = body.get("userId") if isinstance(body, dict) else None
    if not isinstance(user_id, str) or not USER_ID_RE.match(user_id):
        problem = _("1 to 128 characters: letters, digits, _ . @ -")
        return error_response(400, "invalid", f"userId: {problem}", fields={"userId": [problem]})
    return JsonResponse({"token": mint_token(user_id, ttl_seconds=DEV_TOKEN_TTL_SECONDS), "userId": user_id})
