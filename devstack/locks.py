"""The dependency locks: `python -m devstack.locks write|check` (`make lock`, `make lock-check`).

requirements.in -> requirements.txt (runtime) and requirements-dev.in -> requirements-dev.txt
(dev tools, constrained by the runtime lock), both by pip-compile with hashes. `check` regenerates
each lock into a temporary file from the committed one and fails when a package==version differs.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = {"requirements.in": "requirements.txt", "requirements-dev.in": "requirements-dev.txt"}
OPTIONS = [
    "--generate-hashes",
    "--allow-unsafe",
    "--strip-extras",
    "--no-emit-index-url",
    "--no-emit-find-links",
    "--no-emit-trusted-host",
    "--quiet",
]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def compile_lock(source: str, output: Path, extra: list[str]) -> None:
    pip_compile = Path(sys.executable).parent / "pip-compile"
    command = [str(pip_compile), *OPTIONS, *extra, "--output-file", str(output), source]
    subprocess.run(command, cwd=ROOT, check=True, env={**os.environ, "CUSTOM_COMPILE_COMMAND": "make lock"})


def pins(path: Path) -> list[str]:
    """The `name==version` lines of a lock, names normalised."""
    found = (PIN.match(line) for line in path.read_text().splitlines())
    return sorted(f"{re.sub(r'[-_.]+', '-', m[1]).lower()}=={m[2]}" for m in found if m)


def write(extra: list[str]) -> int:
    for source, lock in LOCKS.items():
        compile_lock(source, ROOT / lock, extra)
        print(f"wrote {lock} from {source}")
    return 0


def check() -> int:
    status = 0
    with tempfile.TemporaryDirectory(prefix="lock-check-") as tmp:
        for source, lock in LOCKS.items():
            regenerated = Path(tmp) / lock
            shutil.copyfile(ROOT / lock, regenerated)  # pip-compile keeps the pins it is given where they fit
            compile_lock(source, regenerated, [])
            compiled = f"{source} (compiled)"
            diff = list(difflib.unified_diff(pins(ROOT / lock), pins(regenerated), lock, compiled, n=0, lineterm=""))
            if diff:
                status = 1
                print(f"{lock} disagrees with {source}; run `make lock` and commit both:", *diff, sep="\n")
            else:
                print(f"{lock} agrees with {source} ({len(pins(regenerated))} packages)")
    return status


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"]:
        return write(argv[1:])
    if argv[:1] == ["check"]:
        return check()
    print("usage: python -m devstack.locks write [pip-compile options] | check")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
