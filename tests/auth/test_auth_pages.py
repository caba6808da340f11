"""Login, logout, password change and reset, and failed-login throttling (django-axes)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "teal lantern 42 quietly"


def _login(client, username, password, **extra):
    return client.post(reverse("login"), {"username": username, "password": password}, **extra)


def _is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_with_correct_password_goes_to_the_users_organisation(client, alice, tenant_a):
    response = _login(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("home"))["Location"] == reverse("tenant-home", args=[tenant_a.slug])


def test_login_page_shows_only_the_brand_in_the_navbar(client):
    page = client.get(reverse("login")).content.decode()
    assert "Log in to IMS" in page
    assert 'href="/accounts/password_reset/"' in page
    assert "Log out" not in page
    assert "tenant-switcher" not in page
    assert "Change password" not in page


def test_wrong_password_shows_an_error_and_does_not_log_in(client, alice):
    response = _login(client, "alice", "not the password")
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not _is_logged_in(client)


def test_ten_failures_lock_the_user_out_even_with_rotating_forwarded_for(client, alice):
    for i in range(10):
        response = _login(client, "alice", f"guess {i}", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}")
        assert response.status_code == (429 if i == 9 else 200)  # the 10th failure locks
    response = _login(client, "alice", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7")
    assert response.status_code == 429
    page = response.content.decode()
    assert "Account locked for a while" in page
    assert "30 minutes" in page
    assert "Log out" not in page
    assert not _is_logged_in(client)


def test_nine_failures_do_not_lock_and_a_success_resets_the_count(client, alice):
    for i in range(9):
        _login(client, "alice", f"guess {i}")
    assert _login(client, "alice", PASSWORD).status_code == 302
    client.logout()
    for i in range(9):
        _login(client, "alice", f"guess again {i}")
    assert _login(client, "alice", PASSWORD).status_code == 302


def test_logout_requires_post(client_for, alice):
    client = client_for(alice)
    assert client.get(reverse("logout")).status_code == 405
    assert _is_logged_in(client)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert not _is_logged_in(client)


def test_tenant_pages_send_an_anonymous_visitor_to_login(client, tenant_a):
    response = client.get(reverse("tenant-members", args=[tenant_a.slug]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


def test_password_change_sets_the_new_password(client_for, alice):
    client = client_for(alice)
    assert "Change your password" in client.get(reverse("password_change")).content.decode()
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response["Location"] == reverse("password_change_done")
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_password_change_with_wrong_old_password_shows_a_field_error(client_for, alice):
    client = client_for(alice)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": "wrong",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_password_reset_email_link_sets_a_new_password(client, alice):
    response = client.post(reverse("password_reset"), {"email": "alice@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert message.subject == "Reset your IMS password"
    path = re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)

    set_password_url = client.get(path)["Location"]
    assert "Set a new password" in client.get(set_password_url).content.decode()
    response = client.post(set_password_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert response["Location"] == reverse("password_reset_complete")

    assert _login(client, "alice", NEW_PASSWORD).status_code == 302
    assert "This link no longer works" in client.get(path, follow=True).content.decode()


def test_password_reset_for_unknown_email_sends_nothing_but_looks_the_same(client, alice):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.com"})
    assert response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []
    assert get_user_model().objects.filter(email="nobody@example.com").count() == 0
