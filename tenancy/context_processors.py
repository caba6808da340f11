from .roles import Capability, can
from .selectors import tenants_for_user


def tenancy(request):
    membership = getattr(request, "membership", None)
    user = getattr(request, "user", None)
    return {
        "current_tenant": getattr(request, "tenant", None),
        "current_membership": membership,
        "user_tenants": tenants_for_user(user) if user is not None and user.is_authenticated else [],
        "can_act": bool(membership and can(membership.role, Capability.ACT)),
        "can_manage_members": bool(membership and can(membership.role, Capability.MANAGE_MEMBERS)),
    }
