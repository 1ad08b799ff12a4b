"""Django admin pages for MongoEngine documents: `@register(Document)` a `DocumentAdmin` subclass.

See docs/ADMIN.md for what it renders, how it checks permissions and what it audits.
"""

from mongoadmin.actions import action
from mongoadmin.filters import ChoicesFilter, DateRangeFilter
from mongoadmin.options import DocumentAdmin, ReadOnlyDocumentAdmin, display
from mongoadmin.site import register

__all__ = [
    "ChoicesFilter",
    "DateRangeFilter",
    "DocumentAdmin",
    "ReadOnlyDocumentAdmin",
    "action",
    "display",
    "register",
]
