"""The admin, the dashboard and the practice page in a French browser (Chromium with locale fr-FR).

Staff read the topic list and a topic form with its errors in French, switch to English and back with the
header's switcher, read the dashboard and the moderation queue in French (the back-office pages with no CSP
violation); a learner sees the practice page (template and modules) in French. SAVE_SCREENSHOTS=1 also writes
docs/screenshots/admin-topic-list-fr.png, admin-topic-edit-fr.png, admin-dashboard-fr.png, moderation-queue-fr.png
and practice-fr.png.
"""

from __future__ import annotations

import re

import pytest

from conversation.auth import mint_token
from tests.e2e.conftest import STAFF, STAFF_PASSWORD, log_in, needs_chromium, new_page, screenshot
from tests.e2e.test_moderation_browser import learner_reports_partner
from tests.helpers import request_body
from tests.processes import http, web_servers
from topics.catalog import catalog_load
from topics.documents import Topic

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (requirements-dev.txt)")
expect = sync_api.expect

pytestmark = pytest.mark.timeout(120)

TOPICS = "/admin/topics/topic/"
FRENCH = "fr-FR"


@needs_chromium
def test_staff_work_in_french_and_can_switch_to_english(browser, admin_server):
    url, _db_path = admin_server
    catalog_load()
    page = new_page(browser, locale=FRENCH)

    page.goto(f"{url}/admin/login/?next=/admin/")
    expect(page.locator("#login-form [type=submit]")).to_have_value("Connexion")  # Django's own French
    log_in(page, url, STAFF, STAFF_PASSWORD)
    expect(page.locator("#user-tools")).to_contain_text(f"Bienvenue, {STAFF}.")
    expect(page.locator("#content-main")).to_contain_text("Sujets")

    # The topic list: our title, filters, actions and counts in French; URLs and values as stored.
    page.goto(f"{url}{TOPICS}")
    expect(page.locator("h1")).to_have_text("Sélectionnez l’objet sujet à modifier")
    expect(page.locator('#changelist-filter details[data-filter-title="langue"] summary')).to_have_text("Par langue")
    expect(page.locator("#changelist .paginator")).to_contain_text(f"{Topic.objects.count()} sujets")
    expect(page.locator("#result_list thead")).to_contain_text("Titre")
    expect(page.locator("#result_list thead")).to_contain_text("Durée")
    page.locator('#changelist-filter details[data-filter-title="langue"]').get_by_role(
        "link", name="fr", exact=True
    ).click()
    expect(page).to_have_url(re.compile(r"[?&]target_language_code=fr(&|$)"))
    french_topics = Topic.objects(target_language_code="fr").count()
    expect(page.locator("#changelist .paginator")).to_contain_text(f"{french_topics} sujets")
    first, second = page.locator("#result_list tbody input.action-select").all()[:2]
    first.check()
    second.check()
    # Django's own script, in French too.
    expect(page.locator(".action-counter")).to_have_text(f"2 sur {min(french_topics, 50)} sélectionnés")
    page.locator('select[name="action"]').select_option("deactivate")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.locator(".messagelist")).to_contain_text("2 sujets désactivés.")
    assert Topic.objects(is_active=False).count() == 2
    screenshot(page, "admin-topic-list-fr.png")

    # A topic form with errors: labels, help, Django's and our messages in French; nothing stored.
    topic = Topic.objects(target_language_code="fr").order_by("title").first()
    page.goto(f"{url}{TOPICS}{topic.id}/change/")
    expect(page.locator("h1")).to_have_text("Modification de sujet")
    page.get_by_label("Titre").fill("")
    page.get_by_label("Questions de discussion").fill("\n".join(f"Question {n} ?" for n in range(1, 22)))
    page.get_by_role("button", name="Enregistrer", exact=True).click()
    expect(page.locator(".errornote")).to_have_text("Corrigez les erreurs ci-dessous.")
    expect(page.locator("#id_title_error")).to_have_text("Ce champ est obligatoire.")
    expect(page.locator("#id_prompt_questions_error")).to_have_text("20 lignes au plus (celle-ci en a 21).")
    expect(page.locator(".field-prompt_questions .help")).to_contain_text("Une question par ligne")
    screenshot(page, "admin-topic-edit-fr.png")
    assert Topic.objects.get(id=topic.id).title == topic.title

    # The header's switcher: English is remembered (cookie) although the browser asks for French.
    page.locator(".language-switcher").get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text("Change topic")
    assert page.url == f"{url}{TOPICS}{topic.id}/change/"
    page.goto(f"{url}{TOPICS}")
    expect(page.locator("h1")).to_have_text("Select topic to change")
    expect(page.locator('.language-switcher button[lang="en"]')).to_have_attribute("aria-pressed", "true")
    page.locator(".language-switcher").get_by_role("button", name="Français").click()
    expect(page.locator("h1")).to_have_text("Sélectionnez l’objet sujet à modifier")


@needs_chromium
def test_the_dashboard_in_french(browser, admin_server):
    url, _db_path = admin_server
    assert http("POST", f"{url}/api/v1/matchmaking/requests/", mint_token("carol"), request_body())[0] == 201
    page = new_page(browser, locale=FRENCH)
    log_in(page, url, STAFF, STAFF_PASSWORD)
    page.goto(f"{url}/admin/sessions_app/dashboard/")
    expect(page.locator("h1")).to_have_text("Tableau de bord de l’exploitation")
    expect(page.locator(".dashboard-ops")).to_contain_text("Apprenants en attente")
    expect(page.locator("#waiting-learners")).to_have_text("1")
    expect(page.locator(".dashboard-ops")).to_contain_text("Files d’attente")
    expect(page.locator('svg[aria-label="Mises en relation par heure"] text').first).to_have_text(
        re.compile(r"^\d\d:00$")
    )
    page.get_by_role("link", name="7 derniers jours").click()
    expect(page).to_have_url(re.compile(r"\?window=7d$"))
    screenshot(page, "admin-dashboard-fr.png")


@needs_chromium
def test_the_practice_page_in_french(browser):
    catalog_load()
    with web_servers(1) as [url]:
        page = new_page(browser, locale=FRENCH)
        page.goto(f"{url}/practice/")
        expect(page.locator("html")).to_have_attribute("lang", "fr")
        expect(page.locator("h1")).to_have_text("Entraînement à la conversation")
        page.get_by_label("Identifiant", exact=True).fill("alice")
        page.get_by_role("button", name="Connexion de développement").click()
        expect(page.locator("#whoami-id")).to_have_text("alice")
        expect(page.locator("#find-title")).to_have_text("Trouver un partenaire")
        expect(page.get_by_label("Durée", exact=True)).to_contain_text("10 minutes")
        # Written by the page's modules with gettext() from /jsi18n/: the topic list and the language names.
        expect(page.get_by_label("Sujet", exact=True)).to_contain_text("N’importe quel sujet")
        expect(page.get_by_label("Langue", exact=True)).to_contain_text("français (fr)")
        expect(page.locator('.language-switcher button[lang="fr"]')).to_have_attribute("aria-pressed", "true")
        screenshot(page, "practice-fr.png")


# Recorded from the first script on: the policy's `style-src 'self'` blocks inline <style> and style="".
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(e.violatedDirective));
"""


@needs_chromium
def test_the_moderation_queue_and_back_office_pages_in_french_under_the_csp(browser, admin_server):
    url, _db_path = admin_server
    learner_reports_partner(url)
    page = new_page(browser, locale=FRENCH)
    page.context.add_init_script(RECORD_VIOLATIONS)
    log_in(page, url, STAFF, STAFF_PASSWORD)

    page.goto(f"{url}/admin/sessions_app/sessionreport/?state=open")
    expect(page.locator("h1")).to_have_text("Sélectionnez l’objet signalement à afficher")
    expect(page.locator("#changelist-filter")).to_contain_text("open (1)")  # states are stored values
    for column in ("État", "Auteur du signalement", "Apprenant signalé", "Motif"):
        expect(page.locator("#result_list thead")).to_contain_text(column)
    screenshot(page, "moderation-queue-fr.png")

    # The pages whose styles moved to static files: styled (the tiles' figures are blocks) and no violation.
    for path, figure in [
        ("/admin/moderation/learner/bob.martin/", "#open-reports"),
        ("/admin/sessions_app/dashboard/", "#waiting-learners"),
    ]:
        page.goto(f"{url}{path}")
        expect(page.locator(figure).locator("xpath=ancestor-or-self::strong")).to_have_css("display", "block")
        assert page.evaluate("window.__violations") == [], path
    page.goto(f"{url}/admin/topics/coverage/")
    expect(page.locator("h1")).to_have_text("Couverture du catalogue")
    expect(page.locator(".topic-coverage section").first).to_have_css("margin-bottom", "24px")
    assert page.evaluate("window.__violations") == []
