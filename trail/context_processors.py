from .selectors import can_view_ledger


def audit(request):
    """``can_view_audit``: whether the current member may open the tenant's audit ledger."""
    return {"can_view_audit": can_view_ledger(getattr(request, "membership", None))}
