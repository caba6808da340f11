import datetime as dt

import pytest

from audit.models import AuditEvent
from audit.services import Actor
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc

OCT = dt.date(2025, 10, 1)
SEP = dt.date(2025, 9, 1)


@pytest.fixture
def act(tenant_a, alice):
    """Call an actions service as alice (owner of tenant A) inside A's scope."""

    def _call(fn, **kwargs):
        kwargs.setdefault("tenant", tenant_a)
        if "preview" not in fn.__name__:
            kwargs.setdefault("actor", Actor.user(alice))
        kwargs.setdefault("membership", Membership.objects.get(tenant=tenant_a, user=alice))
        with tenant_scope(kwargs["tenant"]):
            return fn(**kwargs)

    return _call


@pytest.fixture
def doc(reg_a1):
    def _make(**fields):
        fields.setdefault("twob_period", OCT)
        return make_doc(reg_a1, **fields)

    return _make


def refreshed(document):
    with tenant_scope(document.tenant_id):
        document.refresh_from_db()
    return document


def events(tenant, action="ims.action_set"):
    with tenant_scope(tenant):
        return list(AuditEvent.objects.filter(tenant=tenant, action=action).order_by("seq"))
