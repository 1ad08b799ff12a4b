"""Looking documents up by the API's 24-hex ids (malformed or unknown: 404)."""

from __future__ import annotations

from typing import TypeVar

import mongoengine as me
from bson import ObjectId
from bson.errors import InvalidId

from conversation.documents import Where
from conversation.errors import NotFound

D = TypeVar("D", bound=me.Document)


def parse_object_id(value: str | None) -> ObjectId | None:
    if not isinstance(value, str) or len(value) != 24:
        return None
    try:
        return ObjectId(value)
    except InvalidId:
        return None


def get_or_404(document: type[D], object_id: str, **filters) -> D:
    oid = parse_object_id(object_id)
    found = Where(document, id=oid, **filters).first() if oid else None
    if found is None:
        raise NotFound()
    return found
