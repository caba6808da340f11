"""A member refused a page sees the product's own page saying why, not a bare 403; the login form asks for the
e-mail or username people actually type."""

from __future__ import annotations

from django.urls import reverse


def test_a_refused_member_gets_the_products_page_with_the_way_back(client_for, bob, tenant_a, reg_a1):
    for name, args in (
        ("tenant-members", [tenant_a.slug]),
        ("tenant-registrations", [tenant_a.slug]),
        ("autorule-create", [tenant_a.slug]),
    ):
        response = client_for(bob).get(reverse(name, args=args))
        assert response.status_code == 403, name
        text = response.content.decode()
        assert 'id="forbidden"' in text, name
        assert "navbar" in text  # the site's own layout, with its navigation
        assert f'href="/t/{tenant_a.slug}/"' in text


def test_the_login_form_asks_for_the_email_or_username(client):
    text = client.get(reverse("login")).content.decode()
    assert "E-mail or username" in text
    assert ">Username<" not in text
