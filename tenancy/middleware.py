from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, JsonResponse

from .models import Membership
from .scoping import tenant_scope
from .selectors import tenants_with_inactive_registrations

_TENANT_PATH = re.compile(r"^/(?P<api>api/v1/)?t/(?P<slug>[-\w]+)/")


class TenantMiddleware:
    """Resolve ``/t/<slug>/…`` and ``/api/v1/t/<slug>/…`` to a tenant and open its scope.

    Pages: an anonymous user is sent to the login page; a user who is not a member gets 404 (we do not reveal
    that the tenant exists). API: authentication happens inside DRF, so membership is checked there by
    ``tenancy.api.IsTenantMember`` (a default permission class). Outside tenant paths no scope is open and every
    tenant query raises.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.tenant = None
        request.membership = None
        match = _TENANT_PATH.match(request.path_info)
        if not match:
            return self.get_response(request)
        # With the ids of its deactivated GSTINs, which every list leaves out (one query, as before).
        tenant = tenants_with_inactive_registrations().filter(slug=match["slug"]).first()
        if match["api"]:
            if tenant is None:  # an API answers in JSON, as it does for an organisation the caller is not in
                return JsonResponse({"detail": "No such organisation."}, status=404)
            request.tenant = tenant
            with tenant_scope(tenant):
                return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        membership = (
            Membership.objects.select_related("tenant").filter(tenant=tenant, user=request.user).first()
            if tenant
            else None
        )
        if membership is None:
            raise Http404("No such tenant")
        request.tenant = tenant
        request.membership = membership
        if request.session.get("last_tenant") != tenant.slug:  # write the session only when it changes
            request.session["last_tenant"] = tenant.slug
        with tenant_scope(tenant):
            return self.get_response(request)
