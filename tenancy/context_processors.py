from django.utils.functional import SimpleLazyObject

from .roles import Capability, can
from .scoping import system_scope
from .selectors import tenants_for_user


def _tenants_of(user) -> list:
    with (
        system_scope()
    ):  # the user's memberships in every tenant, not only the open one's (row-level security)
        return list(tenants_for_user(user))


def tenancy(request):
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    user_tenants = []
    if user is not None and user.is_authenticated:
        user_tenants = SimpleLazyObject(
            lambda: _tenants_of(user)
        )  # read only by pages that show the switcher
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": membership,
        "user_tenants": user_tenants,
        "can_act": bool(membership and can(membership.role, Capability.ACT)),
        "can_manage_members": bool(membership and can(membership.role, Capability.MANAGE_MEMBERS)),
    }
