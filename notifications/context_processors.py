from .selectors import unread_count


def notifications(request):
    """The navbar's unread-notification badge (tenant pages only: the scope is open there)."""
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    if tenant is None or getattr(request, "membership", None) is None or not user.is_authenticated:
        return {}
    return {"unread_notifications": unread_count(tenant=tenant, user=user)}
