"""Cache-Control for data: a page shown to a logged-in user and every API response carry tenant data, so no browser
history, proxy or shared cache may keep them (``Cache-Control: no-store, private``). Anonymous pages (log-in,
password reset) and static files (whitenoise, earlier in the chain) keep their own caching."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control

API_PREFIX = "/api/"


class NoStoreDataMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if request.path.startswith(API_PREFIX) or (user is not None and user.is_authenticated):
            patch_cache_control(response, no_store=True, private=True)
        return response
