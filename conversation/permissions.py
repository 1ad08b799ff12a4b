"""DRF permissions shared by the apps."""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from conversation.auth import is_staff


class StaffWritesOnly(BasePermission):
    """Any authenticated caller reads; only staff (token role or Django staff) writes."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or is_staff(request.user)
