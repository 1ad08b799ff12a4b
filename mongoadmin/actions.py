"""Bulk and object actions: the `@action` marker and the built-in `delete_selected` (with confirmation)."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext


def action(*, description: str, permission: str = "change", when: Callable | None = None) -> Callable:
    """Marks a DocumentAdmin method as an action.

    Bulk: `(self, request, queryset) -> HttpResponse | None`; object: `(self, request, document) -> str | None`
    (the message to show), or an HttpResponse (a page that asks for more, posting back to the same action).
    `permission` is view/add/change/delete; `when(document)` hides an object action.
    """

    def decorator(func: Callable) -> Callable:
        func.short_description = description
        func.allowed_permission = permission
        func.available_when = when
        return func

    return decorator


@action(description=gettext_lazy("Delete selected %(verbose_name_plural)s"), permission="delete")
def delete_selected(doc_admin, request, queryset):
    documents = list(queryset)
    if request.POST.get("post") != "yes":
        from mongoadmin.views import admin_context

        context = admin_context(
            request,
            doc_admin,
            title=_("Delete multiple objects"),
            documents=[(document, doc_admin.object_label(document)) for document in documents],
            action_name="delete_selected",
        )
        return TemplateResponse(request, "mongoadmin/delete_selected_confirmation.html", context)
    for document in documents:
        doc_admin.delete(request, document=document, action="bulk_delete")
    count = len(documents)
    name = doc_admin.opts.verbose_name if count == 1 else doc_admin.opts.verbose_name_plural
    messages.success(
        request,
        ngettext("Successfully deleted %(count)d %(items)s.", "Successfully deleted %(count)d %(items)s.", count)
        % {"count": count, "items": name},
    )
    return None


BUILTIN_ACTIONS = {"delete_selected": delete_selected}
