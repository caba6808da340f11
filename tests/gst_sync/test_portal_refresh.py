"""The GST portal page's htmx refresh carries the GSTIN rows too, so "To push" and the Push button stay current."""

from __future__ import annotations

import pytest

from tests import factories

from .test_portal_pages import acme  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db


def test_htmx_refresh_of_the_portal_page_also_swaps_in_the_gstin_rows(client, acme):  # noqa: F811
    tenant, reg, _, owner = acme
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    fragment = client.get("/t/acme-portal/portal/", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="sync-runs"' in fragment
    assert 'id="connections-block" hx-swap-oob="true"' in fragment  # the rows and the Sync all / Push all bar
    assert f'id="gstin-{reg.gstin}"' in fragment


def test_full_portal_page_has_one_gstin_table_without_an_out_of_band_swap(client, acme):  # noqa: F811
    tenant, reg, _, owner = acme
    client.force_login(owner, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get("/t/acme-portal/portal/").content.decode()
    assert page.count('id="connections"') == 1
    assert "hx-swap-oob" not in page
    assert page.count(f'id="gstin-{reg.gstin}"') == 1


def test_refreshed_gstin_rows_follow_the_users_gstin_grants(client, acme):  # noqa: F811
    tenant, reg, other, _ = acme
    preparer = factories.make_user("preparer-r")
    factories.make_member(tenant, preparer, "preparer", gstins=[reg])
    client.force_login(preparer, backend="django.contrib.auth.backends.ModelBackend")
    fragment = client.get("/t/acme-portal/portal/", HTTP_HX_REQUEST="true").content.decode()
    assert f'id="gstin-{reg.gstin}"' in fragment
    assert other.gstin not in fragment
