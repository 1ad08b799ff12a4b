"""The practice page's ES modules as production serves them: collected, linked, served as JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

from django.core.management import call_command

SOURCE = Path(__file__).resolve().parents[1] / "static" / "practice"
RELATIVE_IMPORT = re.compile(r'^import [^"]+ from "\./([\w.-]+\.js)";$', re.MULTILINE)


def test_collectstatic_gathers_every_module_and_whitenoise_serves_them_as_javascript(client, settings, tmp_path):
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", interactive=False, verbosity=0)
    modules = sorted(path.name for path in SOURCE.glob("*.js"))
    collected = tmp_path / "practice"
    assert modules and all((collected / name).is_file() for name in modules)
    # Every relative import names a collected module: a missing one would break the whole page in the browser.
    imported = {name for module in modules for name in RELATIVE_IMPORT.findall((collected / module).read_text())}
    assert imported and imported <= set(modules)

    # As in production: no finders, WhiteNoise serving STATIC_ROOT (the client builds its middleware now).
    settings.DEBUG = False
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = False
    page = client.get("/practice/").content.decode()
    entry = re.search(r'<script type="module" src="(/static/practice/[\w.-]+\.js)"></script>', page)
    assert entry, "the page loads its entry as a module"
    assert set(modules) - imported == {entry.group(1).rsplit("/", 1)[1]}, "every other module is imported"
    for name in modules:
        response = client.get(f"/static/practice/{name}")
        assert response.status_code == 200, name
        # Browsers refuse to run a module served with a non-JavaScript MIME type.
        assert response["Content-Type"].startswith("text/javascript"), (name, response["Content-Type"])
        assert b"".join(response.streaming_content) == (SOURCE / name).read_bytes()
