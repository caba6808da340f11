"""The 400 answer (``handler400`` in ims_project/urls.py): a request refused for a value the code names (Django's
``BadRequest``, e.g. :func:`ims_project.params.id_param`) says which field and why; anything else Django refuses as a
bad request (a suspicious operation) keeps a generic text. Plain text, or JSON under /api/."""

from __future__ import annotations

from django.core.exceptions import BadRequest
from django.http import HttpResponseBadRequest, JsonResponse


def bad_request(request, exception=None):
    message = str(exception) if isinstance(exception, BadRequest) and str(exception) else "Bad request."
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=400)
    return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
