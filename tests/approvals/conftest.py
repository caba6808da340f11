"""Personas for approvals: alice owns tenant A, pat prepares on GSTIN A1, ann approves on A1, bob views."""

import datetime as dt
from decimal import Decimal

import pytest

from approvals import services as approvals
from audit.services import Actor
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests import factories
from tests.documents.helpers import make_doc

OCT = dt.date(2025, 10, 1)


@pytest.fixture
def ann(tenant_a, reg_a1):
    user = factories.make_user("ann")
    factories.make_member(tenant_a, user, "approver", gstins=[reg_a1])
    return user


def member(tenant, user):
    with tenant_scope(tenant):
        return Membership.objects.get(tenant=tenant, user=user)


@pytest.fixture
def policy(tenant_a, alice):
    """Make a policy as alice (owner)."""

    def _make(**values):
        values.setdefault("name", f"{values.get('action', 'R')} policy")
        values.setdefault("action", "R")
        with tenant_scope(tenant_a):
            return approvals.save_policy(
                tenant=tenant_a, actor=Actor.user(alice), membership=member(tenant_a, alice), **values
            )

    return _make


@pytest.fixture
def doc(reg_a1):
    def _make(**fields):
        fields.setdefault("twob_period", OCT)
        return make_doc(reg_a1, **fields)

    return _make


def big(value: str) -> dict:
    """Fields of a document whose value (tax included, 18 %) is ``value``."""
    taxable = (Decimal(value) / Decimal("1.18")).quantize(Decimal("0.01"))
    return {"taxable_value": str(taxable), "doc_value": Decimal(value)}
