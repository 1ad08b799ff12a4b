"""The whole release step, run once per deploy before the new processes start (Procfile `release:`).

Migrations, MongoDB indexes, topics' folded search fields, the recordings bucket, static files, and the project's own
message catalogs when it has any (then the OS package gettext is required).
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

# Never the project's own sources: virtualenvs, data, collected files, VCS and tool caches.
IGNORED_DIRS = ("var", "staticfiles", "node_modules", "__pycache__")


def ignored(path: Path) -> bool:
    name = path.name
    return name.startswith(".") or name in IGNORED_DIRS or (path / "pyvenv.cfg").exists()


def ignore_patterns(root: Path) -> list[str]:
    """compilemessages `--ignore` patterns for every top-level directory that is not project source."""
    return sorted({".*", *IGNORED_DIRS, *(p.name for p in root.iterdir() if p.is_dir() and ignored(p))})


def project_catalogs(root: Path) -> Iterator[Path]:
    """The .po files under the project's own `locale/` directories (never a virtualenv's)."""
    stack = [root]
    while stack:
        directory = stack.pop()
        for child in directory.iterdir():
            if not child.is_dir() or ignored(child):
                continue
            if child.name == "locale":
                yield from child.glob("*/LC_MESSAGES/*.po")
            else:
                stack.append(child)


class Command(BaseCommand):
    help = "Release step: migrate, ensure_indexes, ensure_bucket, collectstatic, compilemessages (if catalogs)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--files-only",
            action="store_true",
            help="Only the steps that write files (collectstatic, compilemessages), for an image build without stores.",
        )

    def handle(self, *args, **options) -> None:
        verbosity = options["verbosity"]
        if not options["files_only"]:
            self.step("migrate", interactive=False, verbosity=verbosity)
            self.step("ensure_indexes", verbosity=verbosity)
            self.step("refresh_topic_keys")  # by name: the kernel imports no app
            self.step("ensure_bucket", verbosity=verbosity)
        self.step("collectstatic", interactive=False, verbosity=verbosity)
        self.compile_messages(Path(settings.BASE_DIR), verbosity)
        self.stdout.write(self.style.SUCCESS("release done"))

    def step(self, name: str, **options) -> None:
        self.stdout.write(f"release: {name}")
        call_command(name, **options)

    def compile_messages(self, root: Path, verbosity: int) -> None:
        if not any(project_catalogs(root)):
            self.stdout.write("release: compilemessages skipped (no .po files under the project's locale/)")
            return
        if not shutil.which("msgfmt"):
            raise CommandError("compilemessages needs msgfmt: install the OS package gettext")
        with contextlib.chdir(root):  # compilemessages walks the current directory
            self.step("compilemessages", ignore_patterns=ignore_patterns(root), verbosity=verbosity)
