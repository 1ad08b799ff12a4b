"""The pages of a document: change list (with bulk actions), add, change or read-only detail, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mongoengine as me
from django.contrib import messages
from django.contrib.admin.helpers import AdminErrorList, AdminForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from conversation.lookups import parse_object_id
from mongoadmin.changelist import ChangeList
from mongoadmin.documents import AdminAuditEntry

if TYPE_CHECKING:
    from mongoadmin.options import DocumentAdmin


EXPORT_LABELS = {"csv": "CSV", "excel": "Excel (CSV ;)", "json": "JSON"}


def admin_context(request: HttpRequest, doc_admin: DocumentAdmin, **extra: Any) -> dict[str, Any]:
    request.current_app = doc_admin.site.name
    return {**doc_admin.site.each_context(request), "opts": doc_admin.opts, "subtitle": None, **extra}


def _get_or_404(request: HttpRequest, doc_admin: DocumentAdmin, object_id: str) -> me.Document:
    if not doc_admin.has_view_permission(request):
        raise PermissionDenied
    document = doc_admin.get_object(request, object_id)
    if document is None:
        raise Http404(_("No %(name)s with id %(id)r.") % {"name": doc_admin.opts.verbose_name, "id": object_id})
    return document


def _names(doc_admin: DocumentAdmin, document: me.Document) -> dict[str, str]:
    return {"name": doc_admin.opts.verbose_name, "obj": doc_admin.object_label(document)}


def changelist_view(request: HttpRequest, doc_admin: DocumentAdmin) -> HttpResponse:
    if not doc_admin.has_view_permission(request):
        raise PermissionDenied
    if request.method == "POST" and "action" in request.POST:
        response = _run_bulk_action(request, doc_admin)
        return response or HttpResponseRedirect(request.get_full_path())
    changelist = ChangeList(request, doc_admin)
    page = changelist.page()
    actions = doc_admin.get_actions(request)
    opts = doc_admin.opts
    context = admin_context(
        request,
        doc_admin,
        title=(_("Select %s to change") if doc_admin.can_edit(request) else _("Select %s to view")) % opts.verbose_name,
        cl=changelist,
        page=page,
        page_links=changelist.page_links(page) if page.paginator.num_pages > 1 else [],
        headers=changelist.headers(),
        rows=changelist.rows(page.object_list),
        filters=[(spec.template, spec.context(changelist)) for spec in changelist.filters],
        actions=[(name, doc_admin.action_description(func)) for name, func in actions.items()],
        has_add_permission=doc_admin.has_add_permission(request),
        export_urls=_export_urls(request, doc_admin),
        import_url=doc_admin.url("import") if import_allowed(request, doc_admin) else None,
    )
    return TemplateResponse(request, "mongoadmin/change_list.html", context)


def import_allowed(request: HttpRequest, doc_admin: DocumentAdmin) -> bool:
    """Import needs both add and change: a file may do either."""
    return doc_admin.importable and doc_admin.has_add_permission(request) and doc_admin.has_change_permission(request)


def _export_urls(request: HttpRequest, doc_admin: DocumentAdmin) -> list[tuple[str, str]]:
    if not doc_admin.export_fields:
        return []
    query = request.GET.copy()
    query.pop("p", None)
    suffix = f"?{query.urlencode()}" if query else ""
    return [(label, doc_admin.url("export", fmt) + suffix) for fmt, label in EXPORT_LABELS.items()]


def _run_bulk_action(request: HttpRequest, doc_admin: DocumentAdmin) -> HttpResponse | None:
    func = doc_admin.get_actions(request).get(request.POST.get("action", ""))
    if func is None:
        messages.warning(request, _("No action selected."))
        return None
    ids = [oid for value in request.POST.getlist("_selected_action") if (oid := parse_object_id(value))]
    if not ids:
        messages.warning(
            request, _("Items must be selected in order to perform actions on them. No items were changed.")
        )
        return None
    return func(request, doc_admin.get_queryset(request).filter(id__in=ids))


def add_view(request: HttpRequest, doc_admin: DocumentAdmin) -> HttpResponse:
    if not doc_admin.has_add_permission(request):
        raise PermissionDenied
    # Fields may be filled from the query string (a "Suspend" link from a learner's page: ?user_id=...).
    initial = {name: value for name, value in request.GET.items() if name in doc_admin.form_class.base_fields}
    form = doc_admin.form_class(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            doc_admin.clean_data(data=form.cleaned_data, document=None)
            document = doc_admin.create(request, data=form.cleaned_data)
        except ValidationError as exc:
            form.add_error(None, exc)  # a {field: messages} error lands on its field
        except (me.ValidationError, me.NotUniqueError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The %(name)s “%(obj)s” was added successfully.") % _names(doc_admin, document))
            return _after_save(request, doc_admin, document)
    return _render_form(request, doc_admin, form, document=None)


def change_view(request: HttpRequest, doc_admin: DocumentAdmin, object_id: str) -> HttpResponse:
    document = _get_or_404(request, doc_admin, object_id)
    if not doc_admin.can_edit(request):
        if request.method == "POST":
            raise PermissionDenied
        return _render_detail(request, doc_admin, document)
    form_class = doc_admin.form_class
    form = form_class(request.POST or None, initial=form_class.initial_from(document))
    if request.method == "POST" and form.is_valid():
        changed = {name: form.cleaned_data[name] for name in form.changed_data}
        if not changed:
            messages.info(
                request, _("No fields changed: the %(name)s was not saved.") % {"name": doc_admin.opts.verbose_name}
            )
            return _after_save(request, doc_admin, document)
        try:
            doc_admin.clean_data(data=form.cleaned_data, document=document)
            document = doc_admin.update(request, document=document, data=changed)
        except ValidationError as exc:
            form.add_error(None, exc)
        except (me.ValidationError, me.NotUniqueError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, _("The %(name)s “%(obj)s” was changed successfully.") % _names(doc_admin, document)
            )
            return _after_save(request, doc_admin, document)
    return _render_form(request, doc_admin, form, document=document)


def _after_save(request: HttpRequest, doc_admin: DocumentAdmin, document: me.Document) -> HttpResponse:
    if "_continue" in request.POST:
        return HttpResponseRedirect(doc_admin.url("change", document.pk))
    if "_addanother" in request.POST:
        return HttpResponseRedirect(doc_admin.url("add"))
    return HttpResponseRedirect(doc_admin.url("changelist"))


def _object_page_context(request: HttpRequest, doc_admin: DocumentAdmin, document: me.Document) -> dict[str, Any]:
    doc_admin.prefetch([document])
    readonly = [
        (doc_admin.label(name), doc_admin.display(document, name))
        for name in (doc_admin.readonly_fields if doc_admin.can_edit(request) else doc_admin.detail_fields())
    ]
    object_actions = [
        (doc_admin.url("action", document.pk, name), doc_admin.action_description(func))
        for name, func in doc_admin.get_actions(request, doc_admin.object_actions).items()
        if func.available_when is None or func.available_when(document)
    ]
    return {
        "original": document,
        "original_label": doc_admin.object_label(document),
        "readonly_rows": readonly,
        "object_actions": object_actions,
        "history_url": _history_url(request, doc_admin, document),
        "delete_url": doc_admin.url("delete", document.pk) if doc_admin.has_delete_permission(request) else None,
    }


def _history_url(request: HttpRequest, doc_admin: DocumentAdmin, document: me.Document) -> str | None:
    audit_admin = doc_admin.site.admin_for(AdminAuditEntry)
    if audit_admin is None or audit_admin is doc_admin or not audit_admin.has_view_permission(request):
        return None
    try:
        return f"{audit_admin.url('changelist')}?q={document.pk}"
    except NoReverseMatch:
        return None


def _render_form(request: HttpRequest, doc_admin: DocumentAdmin, form, *, document: me.Document | None):
    opts = doc_admin.opts
    context = admin_context(
        request,
        doc_admin,
        title=(_("Change %s") if document else _("Add %s")) % opts.verbose_name,
        adminform=AdminForm(form, [(None, {"fields": list(form.fields)})], {}),
        errors=AdminErrorList(form, []),
        add=document is None,
        has_add_permission=doc_admin.has_add_permission(request),
        **(_object_page_context(request, doc_admin, document) if document else {}),
    )
    return TemplateResponse(request, "mongoadmin/change_form.html", context)


def _render_detail(request: HttpRequest, doc_admin: DocumentAdmin, document: me.Document) -> HttpResponse:
    context = admin_context(
        request,
        doc_admin,
        title=_("View %s") % doc_admin.opts.verbose_name,
        **_object_page_context(request, doc_admin, document),
    )
    return TemplateResponse(request, "mongoadmin/detail.html", context)


def delete_view(request: HttpRequest, doc_admin: DocumentAdmin, object_id: str) -> HttpResponse:
    document = _get_or_404(request, doc_admin, object_id)
    if not doc_admin.has_delete_permission(request):
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("post") == "yes":
        doc_admin.delete(request, document=document)
        messages.success(request, _("The %(name)s “%(obj)s” was deleted successfully.") % _names(doc_admin, document))
        return HttpResponseRedirect(doc_admin.url("changelist"))
    context = admin_context(
        request, doc_admin, title=_("Are you sure?"), original=document, original_label=doc_admin.object_label(document)
    )
    return TemplateResponse(request, "mongoadmin/delete_confirmation.html", context)


@require_POST
def object_action_view(request: HttpRequest, doc_admin: DocumentAdmin, object_id: str, name: str) -> HttpResponse:
    document = _get_or_404(request, doc_admin, object_id)
    func = (
        doc_admin.get_actions(request, doc_admin.object_actions).get(name) if name in doc_admin.object_actions else None
    )
    if func is None:
        raise PermissionDenied
    if func.available_when is not None and not func.available_when(document):
        messages.error(
            request,
            _("“%(action)s” does not apply to %(obj)s any more.")
            % {"action": doc_admin.action_description(func), "obj": doc_admin.object_label(document)},
        )
    else:
        result = func(request, document)
        if isinstance(result, HttpResponse):  # an action that asks first (a form, a confirmation)
            return result
        if result:
            messages.success(request, result)
    return HttpResponseRedirect(doc_admin.url("change", document.pk))
