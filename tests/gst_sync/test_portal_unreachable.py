"""The GST portal (or the sandbox portal of `make run`) being down is a message on the portal page, never a 500:
asking for an OTP and submitting one both say the portal could not be reached and change nothing."""

from __future__ import annotations

import socket

import pytest

from gst_sync.models import ConnectionStatus, PortalConnection
from tenancy.scoping import tenant_scope
from tests import factories

from .conftest import OTP, USERNAME

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_port_url(settings):
    """A loopback URL nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.IMS_GSP_BASE_URL = f"http://127.0.0.1:{port}"
    return settings.IMS_GSP_BASE_URL


@pytest.fixture
def office(db):
    tenant = factories.make_tenant("Down Portal", "down-portal")
    reg = factories.make_registration(tenant, state="27", n=61)
    owner = factories.make_user("owner-down")
    factories.make_member(tenant, owner, "owner")
    return tenant, reg, owner


def test_asking_for_an_otp_while_the_portal_is_down_shows_a_message(client_for, office, closed_port_url):
    tenant, reg, owner = office
    response = client_for(owner).post(
        f"/t/{tenant.slug}/portal/{reg.pk}/otp/request/", {"username": USERNAME}, follow=True
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Could not reach the GST portal" in page
    assert "try again" in page
    with tenant_scope(tenant):
        assert not PortalConnection.objects.filter(
            registration=reg, status=ConnectionStatus.OTP_SENT
        ).exists()


def test_submitting_an_otp_while_the_portal_is_down_shows_a_message(client_for, office, closed_port_url):
    tenant, reg, owner = office
    with tenant_scope(tenant):
        PortalConnection.objects.create(
            tenant=tenant, registration=reg, username=USERNAME, status=ConnectionStatus.OTP_SENT
        )
    response = client_for(owner).post(f"/t/{tenant.slug}/portal/{reg.pk}/otp/", {"otp": OTP}, follow=True)
    assert response.status_code == 200
    assert "Could not reach the GST portal" in response.content.decode()
    with tenant_scope(tenant):
        assert PortalConnection.objects.get(registration=reg).status == ConnectionStatus.OTP_SENT
