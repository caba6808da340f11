from __future__ import annotations

import re

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.utils.http import urlencode

from . import security
from .scoping import tenant_scope
from .selectors import membership_at, tenants_with_inactive_registrations

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
        if match["api"]:
            # With the ids of its deactivated GSTINs, which every list leaves out (one query, as before).
            tenant = tenants_with_inactive_registrations().filter(slug=match["slug"]).first()
            if tenant is None:  # an API answers in JSON, as it does for an organisation the caller is not in
                return JsonResponse({"detail": "No such organisation."}, status=404)
            request.tenant = tenant
            with tenant_scope(tenant):
                return self.get_response(request)
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        # The membership, its tenant and the tenant's deactivated GSTINs in one query (two before: 1 ms a page).
        membership = membership_at(slug=match["slug"], user=request.user)
        if membership is None:
            raise Http404("No such tenant")
        tenant = membership.tenant
        if tenant.require_two_factor and not request.user.is_verified():
            # The organisation asks every member for a second factor (docs/access.md §3): set it up or give it.
            query = urlencode({"required": tenant.name, "next": request.get_full_path()})
            return HttpResponseRedirect(f"{reverse('account-security')}?{query}")
        request.tenant = tenant
        request.membership = membership
        if request.session.get("last_tenant") != tenant.slug:  # write the session only when it changes
            request.session["last_tenant"] = tenant.slug
        with tenant_scope(tenant):
            return self.get_response(request)


_SECOND_STEP_OPEN = ("/static/", "/accounts/logout/", "/accounts/security/verify/")


class SignInMiddleware:
    """After the password, a user with two-factor sign-in is asked for the code before anything else opens; and the
    session's "last seen" in the user's session list is kept fresh (docs/access.md §3).

    Costs no query on an ordinary request: the pending second step is a session flag set at sign-in, and the "last
    seen" time is written at most every few minutes.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            if request.session.get(security.PENDING_KEY) and not request.path_info.startswith(
                _SECOND_STEP_OPEN
            ):
                if request.path_info.startswith("/api/"):
                    return JsonResponse({"detail": "Give the second sign-in factor first."}, status=403)
                query = urlencode({"next": request.get_full_path()})
                return HttpResponseRedirect(f"{reverse('two-factor-verify')}?{query}")
            security.session_seen(request)
        return self.get_response(request)
