"""Text folded for comparison and search: case and accents ignored (`Métier` and `metier` are one word)."""

from __future__ import annotations

import unicodedata


def fold(text: str | None) -> str:
    """Lower-cased (casefold), accents stripped (NFKD without combining marks), spaces collapsed."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(stripped.split())
