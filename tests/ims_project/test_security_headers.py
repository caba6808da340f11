"""Security headers: a Content-Security-Policy that allows no inline script (django-csp), a Permissions-Policy that
turns off the browser features the product never uses, and ``Cache-Control: no-store`` on data pages (HTML to a
logged-in user, every API response) so that no shared or back-button cache keeps tenant data. The templates carry
no inline script or inline event handler for the policy to block."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
API_URL = "/api/v1/t/acme/documents/"


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in header.split(";")) if part}


def test_every_page_gets_a_content_security_policy_without_inline_script(client):
    policy = _policy(client.get(reverse("login")))
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval', no other origin
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in policy.get("style-src", [])


def test_logged_in_pages_carry_the_policy_too(client_for, alice, tenant_a):
    response = client_for(alice).get(reverse("tenant-home", args=[tenant_a.slug]))
    assert response.status_code == 200
    assert _policy(response)["script-src"] == ["'self'"]


def test_permissions_policy_turns_off_unused_browser_features(client):
    header = client.get(reverse("login"))["Permissions-Policy"]
    features = dict(part.strip().split("=", 1) for part in header.split(","))
    for feature in ("camera", "microphone", "geolocation", "payment", "usb", "interest-cohort"):
        assert features[feature] == "()", feature


def test_logged_in_html_pages_are_not_stored(client_for, alice, tenant_a):
    response = client_for(alice).get(reverse("tenant-home", args=[tenant_a.slug]))
    assert "no-store" in response["Cache-Control"]


def test_api_responses_are_not_stored(client, client_for, alice, tenant_a):
    assert "no-store" in client.get(API_URL)["Cache-Control"]  # refused, still not stored
    response = client_for(alice).get(API_URL)
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def _template_files():
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_have_no_inline_script():
    offending = []
    for path in _template_files():
        for match in re.finditer(r"<script\b([^>]*)>", path.read_text()):
            attrs = match.group(1)
            if "src=" not in attrs and 'type="application/json"' not in attrs:
                offending.append(f"{path.relative_to(TEMPLATES)}: {match.group(0)}")
    assert not offending, "move inline script into a static/js file: " + "; ".join(offending)


def test_templates_have_no_inline_event_handlers():
    offending = [
        f"{path.relative_to(TEMPLATES)}: {match.group(0)}"
        for path in _template_files()
        for match in re.finditer(r"\son[a-z]+\s*=\s*[\"']", path.read_text())
    ]
    assert not offending, (
        "inline event handlers are blocked by the Content-Security-Policy; use data-confirm / data-autosubmit "
        "(static/js/app.js) or an htmx attribute: " + "; ".join(offending)
    )
