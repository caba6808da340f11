"""Request and response guards.

Cache-Control for data: a page shown to a logged-in user and every API response carry tenant data, so no browser
history, proxy or shared cache may keep them (``Cache-Control: no-store, private``). Anonymous pages (log-in,
password reset) and static files (whitenoise, earlier in the chain) keep their own caching."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseBase, JsonResponse
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


# --- Hostile values (issue #13) --------------------------------------------------------------------------------


def nul_field(data) -> str | None:
    """The name of the first field of a QueryDict whose name or value holds a NUL character (PostgreSQL text cannot
    hold one), else None."""
    for key, values in data.lists():
        if "\x00" in key:
            return key.replace("\x00", "\\x00")
        for value in values:
            if isinstance(value, str) and "\x00" in value:
                return key
    return None


def bad_request(request: HttpRequest, field: str, message: str) -> HttpResponseBase:
    """400 naming the field: JSON for the API (DRF's shape, ``{field: [message]}``), a short page otherwise."""
    if request.path.startswith(API_PREFIX):
        return JsonResponse({field: [message]}, status=400)
    return HttpResponseBadRequest(f"Bad request: the field {field!r}: {message}", content_type="text/plain")


class RejectNulMiddleware:
    """A NUL character in a query-string or form field is refused with 400 naming the field, before any view can
    hand it to PostgreSQL (which refuses it with an error, a 500). JSON bodies are checked by the API's parser
    (ims_project.parsers)."""

    MESSAGE = "Null characters are not allowed."

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        field = nul_field(request.GET)
        if field is None and request.method == "POST" and not request.content_type.endswith("/json"):
            field = nul_field(request.POST)
        if field is not None:
            return bad_request(request, field, self.MESSAGE)
        return self.get_response(request)


def _size(n: int) -> str:
    return f"{n // 2**20:,} MB" if n >= 2**20 else f"{n:,} bytes"


class RequestSizeLimitMiddleware:
    """A request whose declared body (Content-Length) is over ``settings.MAX_REQUEST_BYTES`` is answered 413 before
    any of it is read or written to a temporary file (docs/limits.md). Under WSGI Django reads no body without a
    Content-Length, so the declared length bounds what is read."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        limit = settings.MAX_REQUEST_BYTES
        if declared > limit:
            message = f"The request is {_size(declared)}; the limit is {_size(limit)}."
            if request.path.startswith(API_PREFIX):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain")
        return self.get_response(request)
