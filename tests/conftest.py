"""Personas: alice owns tenant A; bob is a viewer in A; pat is a preparer in A granted one GSTIN;
charlie owns tenant B."""

from __future__ import annotations

import pytest

from tests import factories as f


@pytest.fixture
def tenant_a(db):
    return f.make_tenant("Acme Traders", "acme")


@pytest.fixture
def tenant_b(db):
    return f.make_tenant("Bharat Steel", "bharat")


@pytest.fixture
def reg_a1(tenant_a):
    return f.make_registration(tenant_a, state="27", n=1)


@pytest.fixture
def reg_a2(tenant_a):
    return f.make_registration(tenant_a, state="29", n=2, frequency="Q")


@pytest.fixture
def reg_b1(tenant_b):
    return f.make_registration(tenant_b, state="24", n=3)


@pytest.fixture
def alice(tenant_a):
    user = f.make_user("alice")
    f.make_member(tenant_a, user, "owner")
    return user


@pytest.fixture
def bob(tenant_a):
    user = f.make_user("bob")
    f.make_member(tenant_a, user, "viewer", gstins=[])
    return user


@pytest.fixture
def pat(tenant_a, reg_a1):
    user = f.make_user("pat")
    f.make_member(tenant_a, user, "preparer", gstins=[reg_a1])
    return user


@pytest.fixture
def charlie(tenant_b):
    user = f.make_user("charlie")
    f.make_member(tenant_b, user, "owner")
    return user


@pytest.fixture
def client_for(client):
    """Log a persona in on the Django test client: ``client_for(alice)``."""

    def _login(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login
