"""Factories that keep related objects inside one tenant. Writes go through the services where they exist."""

from __future__ import annotations

import datetime as dt
import itertools
import random
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from audit.services import Actor
from gst.gstin import make_gstin
from gst.sections import SECTIONS, Section
from tenancy import services as tenancy_services
from tenancy.models import Registration, Tenant
from tenancy.scoping import tenant_scope

SYSTEM = Actor.system("tests")
_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


def pan_for(n: int, kind: str = "C") -> str:
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    a, b = divmod(n, 26)
    return f"AA{letters[a % 26]}{kind}{letters[b]}{n % 10000:04d}{letters[(n * 7) % 26]}"


def gstin_for(n: int, state: str = "27", kind: str = "C") -> str:
    return make_gstin(state, pan_for(n, kind))


def make_user(username: str, *, password: str = PASSWORD, email: str | None = None):
    User = get_user_model()
    user = User.objects.create_user(
        username=username, email=email or f"{username}@example.com", password=password
    )
    return user


def make_tenant(name: str | None = None, slug: str | None = None) -> Tenant:
    n = next(_seq)
    return tenancy_services.create_tenant(
        name=name or f"Tenant {n}", slug=slug or f"tenant-{n}", actor=SYSTEM
    )


def make_registration(
    tenant: Tenant, *, state: str = "27", n: int | None = None, frequency: str = "M"
) -> Registration:
    n = n if n is not None else 500 + next(_seq)
    with tenant_scope(tenant):
        return tenancy_services.add_registration(
            tenant=tenant,
            actor=SYSTEM,
            gstin=gstin_for(n, state),
            legal_name=f"Recipient {n} Pvt Ltd",
            filing_frequency=frequency,
        )


def make_member(tenant: Tenant, user, role: str, *, gstins: list[Registration] | None = None):
    with tenant_scope(tenant):
        m = tenancy_services.add_member(tenant=tenant, actor=SYSTEM, user=user, role=role)
        if gstins is not None:
            tenancy_services.set_gstin_grants(tenant=tenant, actor=SYSTEM, user=user, registrations=gstins)
    return m


def document_record(
    *,
    supplier_gstin: str | None = None,
    section: str = "b2b",
    number: str | None = None,
    date: dt.date = dt.date(2025, 10, 5),
    pos: str = "27",
    taxable: Decimal = Decimal("10000.00"),
    rate: Decimal = Decimal("18"),
    action: str = "N",
    filed: bool = True,
    supplier_period: str = "102025",
    **extra,
) -> dict:
    """A GETINV-shaped record (docs/rules/portal-api.md §2) for one section, as the portal would send it."""
    info = SECTIONS[Section(section)]
    supplier_gstin = supplier_gstin or gstin_for(next(_seq) + 9000)
    number = number or f"INV/{next(_seq):05d}"
    tax = (taxable * rate / 100).quantize(Decimal("0.01"))
    intra = supplier_gstin[:2] == pos
    rec = {
        "stin": supplier_gstin,
        info.number_field: number,
        info.date_field: date.strftime("%d-%m-%Y"),
        "inv_typ": "R",
        "srcform": "R1",
        "rtnprd": supplier_period,
        "srcfilstatus": "Filed" if filed else "Not Filed",
        "val": str(taxable + tax),
        "pos": pos,
        "txval": str(taxable),
        "iamt": "0" if intra else str(tax),
        "camt": str(tax / 2) if intra else "0",
        "samt": str(tax / 2) if intra else "0",
        "cess": "0",
        "action": action,
        "ispendactblocked": "N",
        "hash": f"{random.getrandbits(256):064x}",
    }
    if info.amendment:
        rec[info.orig_number_field] = extra.pop("orig_number", number + "-O")
        rec[info.orig_date_field] = extra.pop("orig_date", date).strftime("%d-%m-%Y")
    rec.update(extra)
    return rec


def now():
    return timezone.now()
