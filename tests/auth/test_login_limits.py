"""Failed-login lock-outs (django-axes) that one address cannot turn against everyone behind it: a username is locked
at one address after AXES_FAILURE_LIMIT failures there, and everywhere after AXES_USERNAME_FAILURE_LIMIT failures
from any addresses. The client address comes from the proxy's X-Forwarded-For only when BEHIND_PROXY is on."""

from __future__ import annotations

import secrets

import pytest
from django.conf import settings
from django.test import override_settings
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.2"  # the TLS proxy in front of gunicorn: every request's REMOTE_ADDR behind it


def _login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _logs_in(client, username, **extra) -> bool:
    response = _login(client, username, PASSWORD, **extra)
    ok = response.status_code == 302 and "_auth_user_id" in client.session
    client.logout()
    return ok


def test_the_username_limit_is_higher_than_the_per_address_limit():
    assert settings.AXES_USERNAME_FAILURE_LIMIT > settings.AXES_FAILURE_LIMIT


def test_failures_with_many_usernames_from_one_address_do_not_lock_out_another_user(client, alice):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = _login(client, f"guess-{secrets.token_hex(4)}", "wrong", REMOTE_ADDR="198.51.100.9")
        assert response.status_code == 200
    assert _logs_in(client, "alice", REMOTE_ADDR="198.51.100.9")


def test_failures_for_one_username_lock_it_at_that_address_only(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        response = _login(client, "alice", f"guess {i}", REMOTE_ADDR="198.51.100.9")
    assert response.status_code == 429
    assert _login(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.9").status_code == 429
    assert _logs_in(client, "alice", REMOTE_ADDR="192.0.2.50")


def test_the_username_limit_locks_that_username_from_any_address(client, alice, bob):
    per_address = settings.AXES_FAILURE_LIMIT - 1  # never enough at one address
    failures = 0
    address = 0
    while failures < settings.AXES_USERNAME_FAILURE_LIMIT - 1:
        address += 1
        for _ in range(min(per_address, settings.AXES_USERNAME_FAILURE_LIMIT - 1 - failures)):
            assert _login(client, "alice", "wrong", REMOTE_ADDR=f"203.0.113.{address}").status_code == 200
            failures += 1
    assert _logs_in(client, "alice", REMOTE_ADDR="192.0.2.77")  # one below the username limit: still open

    # The success reset only that address's count: one more failure anywhere reaches the username limit.
    assert _login(client, "alice", "wrong", REMOTE_ADDR="203.0.113.200").status_code == 429
    response = _login(client, "alice", PASSWORD, REMOTE_ADDR="192.0.2.88")
    assert response.status_code == 429
    assert "Account locked for a while" in response.content.decode()
    assert not _logs_in(client, "alice", REMOTE_ADDR="192.0.2.99")
    assert _logs_in(client, "bob", REMOTE_ADDR="192.0.2.99")  # other users are untouched


@override_settings(BEHIND_PROXY=False)
def test_without_behind_proxy_x_forwarded_for_is_ignored(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(
            client, "alice", f"guess {i}", REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        )
    # A forged header cannot buy a fresh address: the lock is on the real peer address.
    response = _login(client, "alice", PASSWORD, REMOTE_ADDR="198.51.100.9", HTTP_X_FORWARDED_FOR="192.0.2.1")
    assert response.status_code == 429


@override_settings(BEHIND_PROXY=True)
def test_behind_the_proxy_the_address_the_proxy_appended_is_the_client(client, alice):
    # The proxy appends the address it saw to X-Forwarded-For; what the client sent before it is forgeable.
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(
            client,
            "alice",
            f"guess {i}",
            REMOTE_ADDR=PROXY,
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}, 198.51.100.9",
        )
    assert (
        _login(client, "alice", PASSWORD, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.9").status_code
        == 429
    )
    # Another client behind the same proxy is not locked out with the attacker.
    assert _logs_in(client, "alice", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.10")


@override_settings(BEHIND_PROXY=True)
def test_behind_the_proxy_a_garbled_header_falls_back_to_the_peer_address(client, alice):
    for i in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "alice", f"guess {i}", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=f"not-an-address-{i}")
    assert _login(client, "alice", PASSWORD, REMOTE_ADDR=PROXY).status_code == 429
