"""Password-reset e-mails are limited per client address and per e-mail address asked for, with a clear message,
and the same answer whether or not an account has that e-mail (no user enumeration)."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core import mail
from django.test import override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _reset(client, email, address="198.51.100.9", **extra):
    return client.post(reverse("password_reset"), {"email": email}, REMOTE_ADDR=address, **extra)


def _alerts(response) -> list[str]:
    return re.findall(r'class="alert[^"]*">(.*?)</div>', response.content.decode(), flags=re.S)


def test_the_account_limit_stops_the_emails_to_one_address_with_a_clear_message(client, alice):
    for i in range(settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT):
        response = _reset(client, "alice@example.com", address=f"203.0.113.{i}")
        assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT

    response = _reset(client, "ALICE@example.com", address="192.0.2.1")  # any address, any letter case
    assert response.status_code == 429
    assert "Too many password-reset requests for this e-mail address" in response.content.decode()
    assert len(mail.outbox) == settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT


def test_an_unknown_address_gets_the_same_answers_as_a_known_one(client, alice):
    known = [
        _reset(client, "alice@example.com") for _ in range(settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT + 1)
    ]
    unknown = [
        _reset(client, "nobody@example.com") for _ in range(settings.PASSWORD_RESET_LIMIT_PER_ACCOUNT + 1)
    ]
    assert [r.status_code for r in known] == [r.status_code for r in unknown]
    assert [r.get("Location") for r in known] == [r.get("Location") for r in unknown]
    assert known[-1].status_code == 429
    assert _alerts(known[-1]) == _alerts(unknown[-1])
    assert _alerts(known[-1])


def test_the_address_limit_stops_one_client_asking_for_many_accounts(client, alice):
    for i in range(settings.PASSWORD_RESET_LIMIT_PER_ADDRESS):
        assert _reset(client, f"someone{i}@example.com").status_code == 302
    response = _reset(client, "alice@example.com")
    assert response.status_code == 429
    assert "Too many password-reset requests from your network" in response.content.decode()
    assert mail.outbox == []
    # Another client is not affected.
    assert _reset(client, "alice@example.com", address="192.0.2.1").status_code == 302
    assert len(mail.outbox) == 1


@override_settings(BEHIND_PROXY=True)
def test_behind_the_proxy_the_address_limit_is_per_forwarded_client(client, alice):
    for i in range(settings.PASSWORD_RESET_LIMIT_PER_ADDRESS):
        _reset(client, f"someone{i}@example.com", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert (
        _reset(client, "x@example.com", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.9").status_code
        == 429
    )
    assert (
        _reset(client, "x@example.com", address="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.10").status_code
        == 302
    )


def test_an_invalid_form_is_not_counted(client, alice):
    for _ in range(settings.PASSWORD_RESET_LIMIT_PER_ADDRESS + 1):
        response = _reset(client, "not an e-mail")
        assert response.status_code == 200
        assert "Enter a valid email address" in response.content.decode()
    assert _reset(client, "alice@example.com").status_code == 302
