from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render

from .selectors import tenants_for_user


@login_required
def home(request):
    """Send the user to their last (or only) organisation; otherwise let them choose."""
    tenants = list(tenants_for_user(request.user))
    last = request.session.get("last_tenant")
    if last and any(t.slug == last for t in tenants):
        return redirect("tenant-home", last)
    if len(tenants) == 1:
        return redirect("tenant-home", tenants[0].slug)
    return render(request, "tenancy/choose_tenant.html", {"tenants": tenants})
