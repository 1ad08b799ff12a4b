"""Django admin pages for MongoEngine documents: `@register(Document)` a `DocumentAdmin` subclass.

See docs/ADMIN.md for what it renders, how it checks permissions and what it audits.
"""

from conversation.mongoadmin.actions import action
from conversation.mongoadmin.filters import ChoicesFilter, DateRangeFilter
from conversation.mongoadmin.options import DocumentAdmin, ReadOnlyDocumentAdmin, display
from conversation.mongoadmin.site import register

__all__ = [
    "ChoicesFilter",
    "DateRangeFilter",
    "DocumentAdmin",
    "ReadOnlyDocumentAdmin",
    "action",
    "display",
    "register",
]
