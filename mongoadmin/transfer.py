"""CSV, Excel-flavoured CSV and JSON files of documents: export rows and plan an import (validated by the
admin's form).

Columns are `id` and the camelCase db names of `export_fields`; an import fills the form from them, so a
file is held to exactly the rules of the add/change page. A plan writes nothing; `import_apply` does.
CSV cells a spreadsheet would run as a formula (= + - @, tab, CR first) are written behind a `'`
(OWASP's advice against CSV injection) and read back without it. An import takes `,` or `;`, a BOM, and
Windows-1252 text as a French Excel saves it; the standard library's csv.Sniffer finds the delimiter.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import mongoengine as me
from bson import ObjectId
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from conversation import clock
from conversation.lookups import parse_object_id

if TYPE_CHECKING:
    from mongoadmin.options import DocumentAdmin

FORMATS = ("csv", "excel", "json")
# A row's result as the preview shows it; the keys are what the code and the audit trail use.
STATUS_LABELS = {
    "created": pgettext_lazy("import result", "created"),
    "updated": pgettext_lazy("import result", "updated"),
    "unchanged": pgettext_lazy("import result", "unchanged"),
    "invalid": pgettext_lazy("import result", "invalid"),
}
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, columns, size)."""


def columns(doc_admin: DocumentAdmin) -> dict[str, str]:
    """File column -> document attribute."""
    fields = doc_admin.document._fields
    return {("id" if name == "id" else fields[name].db_field): name for name in doc_admin.export_fields}


def escape_formula(value: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made inert by a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def unescape_formula(value: Any) -> Any:
    """The inverse, for a file this service exported."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def _cell(value: Any, fmt: str) -> Any:
    if isinstance(value, me.Document | me.EmbeddedDocument):
        value = value.to_mongo().to_dict()
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, dt.datetime):
        return clock.isoformat(value)
    if fmt == "json":
        return list(value) if isinstance(value, list | tuple) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return escape_formula("\n".join(str(item) for item in value))
    return "" if value is None else escape_formula(value)


def export_rows(doc_admin: DocumentAdmin, documents, fmt: str) -> list[dict[str, Any]]:
    mapping = columns(doc_admin)
    return [{column: _cell(getattr(doc, name), fmt) for column, name in mapping.items()} for doc in documents]


def export_content(doc_admin: DocumentAdmin, documents, fmt: str) -> str:
    rows = export_rows(doc_admin, documents, fmt)
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    out = io.StringIO()
    excel = fmt == "excel"
    if excel:
        out.write("\ufeff")  # What Excel opens right in a French or German locale: a BOM says UTF-8, `;` separates.
    # RFC 4180's CRLF: with it the writer also quotes a cell holding a lone CR, which a "\n" terminator would not.
    writer = csv.DictWriter(
        out, fieldnames=list(columns(doc_admin)), delimiter=";" if excel else ",", lineterminator="\r\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def decode(content: bytes) -> str:
    """UTF-8 (with or without a BOM), else Windows-1252, the encoding Excel uses for "CSV" on Windows."""
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            _(
                "The file is neither UTF-8 nor Windows-1252 text: byte 0x%(byte)02x at position %(position)d "
                "is not a character. Save it as “CSV UTF-8” and try again."
            )
            % {"byte": content[exc.start], "position": exc.start}
        ) from None


def parse_file(doc_admin: DocumentAdmin, name: str, content: bytes) -> list[dict[str, Any]]:
    """The rows of an uploaded .csv or .json file, keyed by column; raises ImportFileError."""
    if len(content) > doc_admin.import_max_bytes:
        raise ImportFileError(_("The file is larger than %(size)d KB.") % {"size": doc_admin.import_max_bytes // 1024})
    text = decode(content)
    fmt = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    readers = {"json": _json_rows, "csv": _csv_rows}
    if fmt not in readers:
        raise ImportFileError(_("Choose a .csv or .json file."))
    rows = readers[fmt](text)
    if not rows:
        raise ImportFileError(_("The file has no rows."))
    try:  # JSON's "\ud800" escapes make strings no store or page can take: said here, not by a crash later
        json.dumps(rows, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ImportFileError(_("The file holds text that is not Unicode (an unpaired surrogate).")) from None
    if len(rows) > doc_admin.import_max_rows:
        raise ImportFileError(
            _("The file has %(count)d rows; at most %(max)d per import.")
            % {"count": len(rows), "max": doc_admin.import_max_rows}
        )
    unknown = sorted({key for row in rows for key in row} - set(columns(doc_admin)))
    if unknown:
        raise ImportFileError(
            _("Unknown column(s): %(unknown)s. Expected: %(expected)s.")
            % {"unknown": ", ".join(unknown), "expected": ", ".join(columns(doc_admin))}
        )
    return rows


def _json_rows(text: str) -> list[dict[str, Any]]:
    try:
        rows = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: "[[[[..." deeper than the parser's stack
        raise ImportFileError(_("The file is not valid JSON: %(error)s.") % {"error": exc}) from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ImportFileError(_("A JSON import must be a list of objects."))
    return rows


def _csv_rows(text: str) -> list[dict[str, Any]]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # a Mac's "CSV" ends lines with CR alone
    header = text.split("\n", 1)[0]
    try:
        delimiter = csv.Sniffer().sniff(header, delimiters=",;").delimiter
    except csv.Error:
        delimiter = ","  # one column, or nothing to tell by: the unknown-column check names the problem
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [{key: unescape_formula(value) for key, value in row.items()} for row in reader]
    except csv.Error as exc:  # a field over csv's 128 KiB limit, a stray quote
        raise ImportFileError(_("The file is not valid CSV: %(error)s.") % {"error": exc}) from None
    if any(None in row for row in rows):
        raise ImportFileError(
            _("Some CSV rows have more cells than there are columns (separated by “%(delimiter)s”).")
            % {"delimiter": delimiter}
        )
    return rows


@dataclass
class PlannedRow:
    number: int
    status: str  # created, updated, unchanged or invalid
    label: str
    document: me.Document | None = None
    data: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def _form_value(form_field: forms.Field, value: Any) -> Any:
    if isinstance(form_field, forms.BooleanField) and not isinstance(value, bool):
        text = str(value).strip().lower()
        if text in TRUE or text in FALSE:
            return text in TRUE
        raise ValueError(_("must be true or false"))
    return value


def _same(a: Any, b: Any) -> bool:
    """Equal, counting None, "" and [] as the same empty value (a file cannot tell them apart)."""

    def normal(value: Any) -> Any:
        if value in (None, "") or (isinstance(value, list | tuple) and not value):
            return None
        return list(value) if isinstance(value, list | tuple) else value

    return normal(a) == normal(b)


def _row_label(doc_admin: DocumentAdmin, row: dict[str, Any]) -> str:
    """What names a row before it is valid: its cell for the list's first column, if the file has one."""
    first = doc_admin.list_display[0]
    column = next((column for column, name in columns(doc_admin).items() if name == first), None)
    return str(row.get(column) or "") if column else ""


def _plan_existing(doc_admin: DocumentAdmin, planned: PlannedRow, raw_id: str, seen: set[str]) -> None:
    """A row with an id updates that document: it must exist and appear once in the file."""
    oid = parse_object_id(raw_id)
    planned.document = doc_admin.document.objects(id=oid).first() if oid else None
    if planned.document is None:
        planned.errors.append(
            _("id: no %(name)s with id %(id)r.") % {"name": doc_admin.opts.verbose_name, "id": raw_id}
        )
    elif raw_id in seen:
        planned.errors.append(_("id: %(id)s appears more than once in the file.") % {"id": raw_id})
    seen.add(raw_id)


def _plan_rules(doc_admin: DocumentAdmin, planned: PlannedRow, data: dict[str, Any], seen: set) -> None:
    """The admin's rules beyond its form (a duplicate in the database), and duplicates within the file."""
    reverse = {name: column for column, name in columns(doc_admin).items()}
    try:
        doc_admin.clean_data(data=data, document=planned.document)
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            planned.errors += [f"{reverse.get(name, name)}: {message}" for message in messages]
    natural = doc_admin.natural_key(data)
    if natural is not None:
        name, key = natural
        if ("key", key) in seen:
            planned.errors.append(
                _("%(column)s: an earlier row of the file is the same %(name)s.")
                % {"column": reverse.get(name, name), "name": name}
            )
        seen.add(("key", key))


def _plan_row(doc_admin: DocumentAdmin, number: int, row: dict[str, Any], seen: set[str]) -> PlannedRow:
    form_class, mapping = doc_admin.form_class, columns(doc_admin)
    raw_id = str(row.get("id") or "").strip()
    planned = PlannedRow(number=number, status="created", label=raw_id or _row_label(doc_admin, row))
    if raw_id:
        _plan_existing(doc_admin, planned, raw_id, seen)
    data = form_class.initial_from(planned.document) if planned.document else form_class.defaults()
    for column, value in row.items():
        name = mapping[column]
        if name not in form_class.base_fields:
            continue  # exported but not editable (id, timestamps)
        try:
            data[name] = _form_value(form_class.base_fields[name], value)
        except ValueError as exc:
            planned.errors.append(f"{column}: {exc}.")
    form = form_class(data=data)
    if not form.is_valid():
        reverse = {name: column for column, name in mapping.items()}
        for name, messages in form.errors.items():
            planned.errors += [f"{reverse.get(name, name)}: {message}" for message in messages]
    if planned.errors:
        planned.status = "invalid"
        return planned
    _plan_rules(doc_admin, planned, form.cleaned_data, seen)
    if planned.errors:
        planned.status = "invalid"
        return planned
    planned.data = form.cleaned_data
    if planned.document is None:
        planned.label = doc_admin.object_label(doc_admin.document(**form.cleaned_data))
    else:
        planned.label = doc_admin.object_label(planned.document)
        planned.changes = [
            doc_admin.label(name)
            for name, value in form.cleaned_data.items()
            if not _same(value, getattr(planned.document, name))
        ]
        planned.status = "updated" if planned.changes else "unchanged"
    return planned


def import_plan(doc_admin: DocumentAdmin, rows: list[dict[str, Any]]) -> list[PlannedRow]:
    seen: set[str] = set()
    return [_plan_row(doc_admin, number, row, seen) for number, row in enumerate(rows, start=1)]


def import_apply(doc_admin: DocumentAdmin, request, plan: list[PlannedRow]) -> dict[str, int]:
    """Writes a plan that has no invalid row (callers check); every write is audited."""
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for row in plan:
        if row.status == "created":
            doc_admin.create(request, data=row.data, action="import_create")
        elif row.status == "updated":
            changed = {name: value for name, value in row.data.items() if not _same(value, getattr(row.document, name))}
            doc_admin.update(request, document=row.document, data=changed, action="import_update")
        counts[row.status] += 1
    return counts
