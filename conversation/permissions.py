"""DRF permissions shared by the apps."""

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions, status
from rest_framework.permissions import SAFE_METHODS, BasePermission

from conversation.auth import is_staff


class StaffOnly(exceptions.APIException):
    status_code = status.HTTP_403_FORBIDDEN
    default_detail = _("Only staff may do this.")
    default_code = code = "permission_denied"


class IsStaff(BasePermission):
    """Staff only (token role or Django staff): anonymous callers get 401, others 403 `permission_denied`."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        if not is_staff(request.user):
            raise StaffOnly()
        return True


class StaffWritesOnly(BasePermission):
    """Any authenticated caller reads; only staff (token role or Django staff) writes."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_staff(request.user)
