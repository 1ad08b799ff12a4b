"""Production settings pass Django's deploy checks; weak secrets are refused; the release command's catalogs."""

from __future__ import annotations

import subprocess
import sys

from conversation.management.commands.release import ignore_patterns, project_catalogs
from tests.processes import ROOT

PRODUCTION = {
    "PATH": "/usr/bin:/bin",
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k7#Qz!v9Lw2@Rt5^Yp8&Hn3*Jm6(Fb1)Xc4-Ds0_Ga7+Ue2=Wi9",
    "JWT_SECRET": "j" * 16 + "W" * 16 + "t0",
    "ALLOWED_HOSTS": "api.example.com",
    "TRUST_PROXY_HEADERS": "1",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True)


def test_deploy_checks_pass_with_production_settings():
    assert len(PRODUCTION["DJANGO_SECRET_KEY"]) >= 50
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_the_proxy_only_the_ssl_redirect_check_is_silenced():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "TRUST_PROXY_HEADERS": "0"})
    assert result.returncode == 0, result.stdout + result.stderr
    hsts_off = manage("check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "SECURE_HSTS_SECONDS": "0"})
    assert hsts_off.returncode != 0 and "security.W004" in hsts_off.stderr


def test_a_45_character_secret_key_is_refused_naming_the_variable():
    result = manage("check", env={**PRODUCTION, "DJANGO_SECRET_KEY": "a1b2c3d4e5" * 4 + "f6g7h"})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be at least 50 characters" in result.stderr


def test_a_long_key_of_few_characters_is_refused():
    result = manage("check", env={**PRODUCTION, "DJANGO_SECRET_KEY": "abab" * 20})
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_release_compiles_only_the_projects_own_catalogs(tmp_path):
    (tmp_path / "topics" / "locale" / "fr" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / "topics" / "locale" / "fr" / "LC_MESSAGES" / "django.po").write_text("")
    venv_catalog = tmp_path / "prodenv" / "lib" / "django" / "conf" / "locale" / "de" / "LC_MESSAGES"
    venv_catalog.mkdir(parents=True)
    (venv_catalog / "django.po").write_text("")
    (tmp_path / "prodenv" / "pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / ".venv" / "locale" / "it" / "LC_MESSAGES").mkdir(parents=True)
    (tmp_path / ".venv" / "locale" / "it" / "LC_MESSAGES" / "django.po").write_text("")

    found = [p.relative_to(tmp_path).as_posix() for p in project_catalogs(tmp_path)]
    assert found == ["topics/locale/fr/LC_MESSAGES/django.po"]
    assert {".*", "var", "prodenv"} <= set(ignore_patterns(tmp_path))
    assert not any(project_catalogs(ROOT)) or (ROOT / "locale").exists()  # no stray catalogs in the repo today
