"""Forms for documents: plain Django forms whose field names are the document's attribute names."""

from __future__ import annotations

from typing import Any

import mongoengine as me
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


class LinesField(forms.Field):
    """A list of strings edited one per line in a textarea (blank lines dropped)."""

    widget = forms.Textarea

    def __init__(self, *, max_lines: int, max_line_length: int, **kwargs) -> None:
        self.max_lines, self.max_line_length = max_lines, max_line_length
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def to_python(self, value: Any) -> list[str]:
        if value in self.empty_values:
            return []
        lines = value if isinstance(value, list | tuple) else str(value).splitlines()
        return [str(line).strip() for line in lines if str(line).strip()]

    def validate(self, value: list[str]) -> None:
        super().validate(value)
        if len(value) > self.max_lines:
            message = ngettext(
                "At most %(max)d line (this has %(count)d).",
                "At most %(max)d lines (this has %(count)d).",
                self.max_lines,
            )
            raise ValidationError(message % {"max": self.max_lines, "count": len(value)}, code="max_lines")
        for number, line in enumerate(value, start=1):
            if len(line) > self.max_line_length:
                raise ValidationError(
                    _("Line %(number)d has %(count)d characters; at most %(max)d.")
                    % {"number": number, "count": len(line), "max": self.max_line_length},
                    code="line_length",
                )


class DocumentForm(forms.Form):
    """Edits a document: `initial_from(doc)` fills it, cleaned_data is set back attribute by attribute."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.Textarea):
                widget.attrs.setdefault("class", "vLargeTextField")
            elif isinstance(widget, forms.TextInput):
                widget.attrs.setdefault("class", "vTextField")

    @classmethod
    def initial_from(cls, document: me.Document) -> dict[str, Any]:
        return {name: getattr(document, name, None) for name in cls.base_fields}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """What an empty add form starts from (also the base of an imported new row)."""
        return {name: field.initial for name, field in cls.base_fields.items() if field.initial is not None}
