"""Reliability R2: state-changing pages refuse a session POST without a CSRF token, and refuse GET outright."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

CHANGING = [
    "/t/acme/actions/confirm/",
    "/t/acme/actions/apply/",
    "/t/acme/portal/{reg}/sync/",
    "/t/acme/portal/{reg}/push/",
    "/t/acme/portal/{reg}/otp/request/",
    "/t/acme/portal/{reg}/otp/",
]


@pytest.fixture
def owner_client(tenant_a, reg_a1, alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("path", CHANGING)
def test_post_without_csrf_token_is_refused(owner_client, reg_a1, path):
    assert owner_client.post(path.format(reg=reg_a1.pk), {"action": "A"}).status_code == 403


@pytest.mark.parametrize("path", CHANGING)
def test_get_on_a_changing_url_is_not_allowed(owner_client, reg_a1, path):
    assert owner_client.get(path.format(reg=reg_a1.pk)).status_code == 405


def test_logout_needs_post(owner_client):
    assert owner_client.get("/accounts/logout/").status_code == 405
