"""English and French: the API, the admin, the dashboard and the sockets answer in the person's language
(Accept-Language, or the switcher's cookie); error codes, stored values and URLs stay the same in both."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from asgiref.sync import async_to_sync
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.utils import translation
from rest_framework.fields import ChoiceField

from conversation import clock
from conversation.auth import mint_token
from matchmaking.documents import MatchmakingRequest
from mongoadmin.documents import AdminAuditEntry
from mongoadmin.permissions import create_document_permissions
from tests.helpers import ask, open_socket, request_body
from tests.test_admin import TOPICS, make_topic, text
from topics.documents import Topic

pytestmark = pytest.mark.django_db

MISSING_TOPIC = "/api/v1/topics/000000000000000000000000/"


def in_both(call, *args, **kwargs):
    """(English response, French response) of the same call."""
    return call(*args, HTTP_ACCEPT_LANGUAGE="en", **kwargs), call(*args, HTTP_ACCEPT_LANGUAGE="fr", **kwargs)


def test_a_404_answers_in_french_with_the_same_code(api):
    client = api("alice")
    for path, french in (
        (MISSING_TOPIC, "Non trouvé."),  # an id no topic has (DRF's own French)
        ("/api/v1/no-such-endpoint/", "Non trouvé."),  # no route at all (handler404)
        ("/api/v1/matchmaking/requests/current/", "Vous n’avez aucune demande de partenaire."),
    ):
        en, fr = in_both(client.get, path)
        assert (en.status_code, fr.status_code) == (404, 404), path
        assert fr.json()["detail"] == french and en.json()["detail"] != french
        assert fr.json().get("code") == en.json().get("code")  # the code (when the body has one) never changes
        assert set(fr.json()) == set(en.json())
        assert fr["Content-Language"] == "fr" and en["Content-Language"] == "en"


def test_a_400_names_the_same_fields_in_french(api, frozen_clock):
    # A message of ours and one of DRF's (from DRF's own French catalog), on fields whose names stay as they are.
    yesterday = clock.isoformat(frozen_clock() - dt.timedelta(days=1))
    body = {"participant2Id": "bob", "targetLanguageCode": "fr", "scheduledAt": yesterday}
    en, fr = in_both(api("alice").post, "/api/v1/sessions/", body, format="json")
    assert (en.status_code, fr.status_code) == (400, 400)
    assert en.json()["fields"]["scheduledAt"] == ["Must be in the future."]
    assert fr.json()["fields"]["scheduledAt"] == ["Doit être dans le futur."]
    assert fr.json()["detail"] == "scheduledAt: Doit être dans le futur."
    assert fr.json()["code"] == en.json()["code"] == "invalid"
    assert set(fr.json()) == set(en.json()) and set(fr.json()["fields"]) == set(en.json()["fields"])

    en, fr = in_both(api("carol").post, "/api/v1/matchmaking/requests/", request_body(userLevel="Z9"), format="json")
    assert (en.status_code, fr.status_code) == (400, 400)
    with translation.override("fr"):
        drf_french = ChoiceField(choices=["A1"]).error_messages["invalid_choice"].format(input="Z9")
    assert fr.json()["fields"]["userLevel"] == [drf_french] != en.json()["fields"]["userLevel"]
    assert fr.json()["code"] == en.json()["code"]
    assert MatchmakingRequest.objects.count() == 0  # refused in either language, nothing written


def test_a_409_keeps_its_code_in_french(api):
    assert ask(api, "alice").status_code == 201
    second = api("alice").post(
        "/api/v1/matchmaking/requests/", request_body(), format="json", HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9"
    )
    assert second.status_code == 409
    assert second.json() == {
        "detail": "Vous avez déjà une demande de partenaire en attente.",
        "code": "request_pending",
    }
    assert MatchmakingRequest.objects(user_id="alice").count() == 1


def test_a_socket_error_is_in_the_language_of_its_handshake():
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    async def error_detail(headers: list[tuple[bytes, bytes]]) -> str:
        socket = WebsocketCommunicator(application, f"/ws/v1/matchmaking/?token={mint_token('alice')}", headers)
        assert (await socket.connect())[0]
        await socket.send_json_to({"type": "dance"})
        error = await socket.receive_json_from()
        await socket.disconnect()
        assert error["code"] == "bad_message"  # the code is the same in every language
        return error["detail"]

    async def english_helper_socket() -> str:
        socket = await open_socket("/ws/v1/matchmaking/", "bob")  # the helper's socket says no language
        await socket.send_to(bytes_data=b"\x00")  # a binary frame
        detail = (await socket.receive_json_from())["detail"]
        await socket.disconnect()
        return detail

    assert async_to_sync(error_detail)([(b"accept-language", b"fr-FR,fr;q=0.9")]) == "Type de message inconnu."
    cookie = f"{settings.LANGUAGE_COOKIE_NAME}=fr".encode()
    assert async_to_sync(error_detail)([(b"accept-language", b"en"), (b"cookie", cookie)]) == "Type de message inconnu."
    assert async_to_sync(error_detail)([]) == "Unknown message type."
    assert async_to_sync(english_helper_socket)() == "Expected a JSON text frame."


def test_the_topic_list_and_its_bulk_action_speak_french(admin_client):
    topics = [make_topic(f"Topic {n}") for n in range(6)]
    page = text(admin_client.get(TOPICS, HTTP_ACCEPT_LANGUAGE="fr"))
    assert "<h1>Sélectionnez l’objet sujet à modifier</h1>" in page
    assert "Par langue" in page and "Par niveau" in page  # filter titles of ours inside Django's own words
    assert '<option value="deactivate">Désactiver les sujets sélectionnés</option>' in page
    assert "6 sujets" in page and ">Titre</a>" in page
    assert "?target_language_code=fr" in page  # URLs and stored values as they are

    ids = [str(topic.id) for topic in topics]
    done = admin_client.post(
        TOPICS, {"action": "deactivate", "_selected_action": ids}, HTTP_ACCEPT_LANGUAGE="fr", follow=True
    )
    assert "6 sujets désactivés." in text(done)
    one = admin_client.post(
        TOPICS, {"action": "activate", "_selected_action": ids[:1]}, HTTP_ACCEPT_LANGUAGE="fr", follow=True
    )
    assert "1 sujet activé." in text(one)
    assert Topic.objects(is_active=True).count() == 1
    # The audit trail keeps its codes and labels in the source language, whoever acted in French.
    entries = AdminAuditEntry.objects(document_type="topics.Topic").order_by("created_at")
    assert [entry.action for entry in entries] == ["bulk_deactivate"] * 6 + ["bulk_activate"]
    assert entries[0].document_label == "Topic 0 (fr B1)"


def test_a_topic_form_error_is_in_french(admin_client):
    topic = make_topic("Au marché")
    url = f"{TOPICS}{topic.id}/change/"
    lines = "\n".join(f"Question {n} ?" for n in range(21))
    response = admin_client.post(
        url,
        {"title": "", "target_language_code": "fr", "level": "B1", "category": "daily_life",
         "estimated_duration_minutes": "10", "prompt_questions": lines, "_save": "Enregistrer"},
        HTTP_ACCEPT_LANGUAGE="fr",
    )  # fmt: skip
    page = text(response)
    assert response.status_code == 200
    assert "Corrigez les erreurs ci-dessous." in page
    assert "Ce champ est obligatoire." in page  # Django's own French
    assert "20 lignes au plus (celle-ci en a 21)." in page
    assert "Modification de sujet | Site d’administration de Django" in page
    assert Topic.objects.get(id=topic.id).title == "Au marché"  # nothing written


def test_the_switcher_remembers_the_language_for_a_year(admin_client):
    page = text(admin_client.get(TOPICS, HTTP_ACCEPT_LANGUAGE="en"))
    assert 'action="/i18n/setlang/"' in page and 'value="fr" lang="fr"' in page and ">Français</button>" in page

    response = admin_client.post("/i18n/setlang/", {"language": "fr", "next": TOPICS})
    assert response.status_code == 302 and response["Location"] == TOPICS
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr" and int(cookie["max-age"]) == 365 * 24 * 3600
    # The browser's own language says English; the person chose French.
    assert "Sélectionnez l’objet sujet à modifier" in text(admin_client.get(TOPICS, HTTP_ACCEPT_LANGUAGE="en"))
    assert "Tableau de bord de l’exploitation" in text(admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en"))


def test_the_dashboard_speaks_french_with_french_dates_and_numbers(api, admin_client):
    ask(api, "alice")
    session_id = ask(api, "bob").json()["sessionId"]
    api("alice").post(f"/api/v1/sessions/{session_id}/report/", {"reason": "rude"}, format="json")
    page = text(admin_client.get("/admin/sessions_app/dashboard/", HTTP_ACCEPT_LANGUAGE="fr"))
    assert "<h1>Tableau de bord de l’exploitation</h1>" in page
    assert "Apprenants en attente" in page and "Mises en relation par heure" in page
    assert ">signalée</text>" in page or "signalée:" in page  # how the session ended, on the chart
    assert re.search(r"<td>\d\d/\d\d/\d{4} \d\d:\d\d</td><td><a [^>]+>" + session_id, page)  # SHORT_DATETIME_FORMAT, fr
    assert re.search(r"aria-label=\"Mises en relation par heure\".*<text[^>]*>\d\d:00</text>", page, re.S)
    assert 'id="overall-verdict" data-level="red">rouge</span>' in page  # no beat ran: the level's key stays
    assert "orange dès" in page and "Dernière exécution de beat" in page


def test_document_permissions_are_stored_in_the_source_language():
    Permission.objects.filter(codename__endswith="_topic").delete()
    with translation.override("fr"):
        create_document_permissions(None, apps=apps, verbosity=0)
    assert Permission.objects.get(codename="change_topic").name == "Can change topic"


def test_the_french_catalog_is_compiled_and_complete():
    # `make` compiles it; `.ci/messages --check` (in `make test`) fails on any untranslated string.
    with translation.override("fr"):
        assert translation.gettext("Operations dashboard") == "Tableau de bord de l’exploitation"
        assert translation.ngettext("%(count)d topic marked active.", "%(count)d topics marked active.", 2) == (
            "%(count)d sujets activés."
        )
