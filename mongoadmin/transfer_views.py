"""Export the filtered list as CSV/JSON; import a file in two steps (preview, then confirm writes all).

Between the steps the parsed rows wait in the staff member's Django session, not in the form, so a large
file does not hit DATA_UPLOAD_MAX_MEMORY_SIZE; the confirm step plans again against the current data.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from conversation import clock
from mongoadmin import transfer
from mongoadmin.changelist import ChangeList
from mongoadmin.views import admin_context, import_allowed

if TYPE_CHECKING:
    from mongoadmin.options import DocumentAdmin

CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "excel": "text/csv; charset=utf-8", "json": "application/json"}
EXTENSIONS = {"csv": "csv", "excel": "excel.csv", "json": "json"}


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV or JSON file"),
        help_text=gettext_lazy(
            "The columns of an export; a row with an id updates. CSV: `,` or `;`, UTF-8 or Windows-1252."
        ),
    )


def export_view(request: HttpRequest, doc_admin: DocumentAdmin, fmt: str) -> HttpResponse:
    if not doc_admin.has_view_permission(request):
        raise PermissionDenied
    if fmt not in transfer.FORMATS or not doc_admin.export_fields:
        raise Http404(_("Unknown export format."))
    documents = ChangeList(request, doc_admin).queryset
    response = HttpResponse(transfer.export_content(doc_admin, documents, fmt), content_type=CONTENT_TYPES[fmt])
    stamp = clock.now().strftime("%Y%m%d-%H%M%S")
    filename = f"{doc_admin.opts.app_label}-{doc_admin.opts.model_name}-{stamp}.{EXTENSIONS[fmt]}"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _session_key(doc_admin: DocumentAdmin) -> str:
    return f"mongoadmin-import:{doc_admin.opts.label}"


def import_view(request: HttpRequest, doc_admin: DocumentAdmin) -> HttpResponse:
    if not import_allowed(request, doc_admin):
        raise PermissionDenied
    if request.method == "POST" and "confirm" in request.POST:
        return _confirm(request, doc_admin)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            rows = transfer.parse_file(doc_admin, upload.name, upload.read(doc_admin.import_max_bytes + 1))
        except transfer.ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return _preview(request, doc_admin, rows, upload.name)
    title = _("Import %s") % doc_admin.opts.verbose_name_plural
    context = admin_context(request, doc_admin, title=title, form=form)
    return TemplateResponse(request, "mongoadmin/import.html", context)


def _preview(request: HttpRequest, doc_admin: DocumentAdmin, rows: list[dict], name: str) -> HttpResponse:
    plan = transfer.import_plan(doc_admin, rows)
    invalid = [row for row in plan if row.status == "invalid"]
    token = None
    if invalid:
        request.session.pop(_session_key(doc_admin), None)
    else:
        token = secrets.token_urlsafe(16)
        request.session[_session_key(doc_admin)] = {"token": token, "name": name, "rows": rows}
    counts = {status: sum(row.status == status for row in plan) for status in ("created", "updated", "unchanged")}
    context = admin_context(
        request,
        doc_admin,
        title=_("Import %(items)s: preview of %(file)s") % {"items": doc_admin.opts.verbose_name_plural, "file": name},
        plan=plan,
        invalid_count=len(invalid),
        counts=counts,
        token=token,
    )
    return TemplateResponse(request, "mongoadmin/import_preview.html", context)


def _confirm(request: HttpRequest, doc_admin: DocumentAdmin) -> HttpResponse:
    stored = request.session.get(_session_key(doc_admin))
    if not stored or not secrets.compare_digest(stored["token"], request.POST.get("confirm", "")):
        messages.error(request, _("This import preview has expired or was already applied; upload the file again."))
        return HttpResponseRedirect(doc_admin.url("import"))
    plan = transfer.import_plan(doc_admin, stored["rows"])
    if any(row.status == "invalid" for row in plan):
        # The data changed since the preview (a topic deleted, say): show why, write nothing.
        return _preview(request, doc_admin, stored["rows"], stored["name"])
    request.session.pop(_session_key(doc_admin), None)
    counts = transfer.import_apply(doc_admin, request, plan)
    messages.success(
        request, _("Import done: %(created)d created, %(updated)d updated, %(unchanged)d unchanged.") % counts
    )
    return HttpResponseRedirect(doc_admin.url("changelist"))
