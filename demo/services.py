"""The demo organisation: "Demo Industries" with three GSTINs, a user per role and ~5,000 generated documents.

Rerunnable: a second run finds everything in place and writes nothing (no documents, no audit events).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from audit.services import Actor, Event, record_many
from gst.gstin import make_gstin
from gst.periods import add_months, format_period
from gst.sections import SECTIONS_BY_GOODS_TYPE, GoodsType
from invoices.services.ingest import OBJECT_TYPE, IngestResult, ingest_documents
from returns import claims
from tenancy import services as tenancy_services
from tenancy.models import FilingFrequency, Membership, Registration, Tenant
from tenancy.roles import Role
from tenancy.scoping import tenant_scope
from tools.generator import generate
from tools.sandbox_portal.generator import other_tabs

from .register import DemoRegister, seed_register

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Industries"
DEMO_PASSWORD = "demo-pass-2025"  # noqa: S105 - the documented demo password
DEMO_PAN = "AADCD4321K"
# (state, entity, trade name, filing frequency, documents, suppliers, seed)
DEMO_REGISTRATIONS = (
    ("27", "1", "Demo Industries - Mumbai", FilingFrequency.MONTHLY, 2400, 70, 27001),
    ("27", "2", "Demo Industries - Pune plant", FilingFrequency.MONTHLY, 1600, 45, 27002),
    ("29", "1", "Demo Industries - Bengaluru", FilingFrequency.QRMP, 1000, 35, 29001),
)
# Users: role and the GSTINs granted (indexes into DEMO_REGISTRATIONS; None = the role sees every GSTIN).
DEMO_USERS = (
    ("owner@demo.in", Role.OWNER, None),
    ("admin@demo.in", Role.ADMIN, None),
    ("approver@demo.in", Role.APPROVER, (0, 1, 2)),
    ("preparer@demo.in", Role.PREPARER, (0,)),
    ("viewer@demo.in", Role.VIEWER, (0, 2)),
)
LOCAL_ACTION_EVERY = 23  # about 4 % of the no-action documents get a local (not yet pushed) action


@dataclass
class DemoResult:
    tenant: Tenant
    created_users: list[str] = field(default_factory=list)
    ingests: dict[str, IngestResult] = field(default_factory=dict)
    local_actions: int = 0
    register: DemoRegister | None = None


def demo_records(
    gstin: str, periods: list[dt.date], n_docs: int, n_suppliers: int, seed: int
) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """The GSTIN's generated documents of every section, with a few bills of entry and ISD documents per period
    (Import of Goods and ISD tabs), and the suppliers' names."""
    data = generate(seed=seed, recipient_gstin=gstin, periods=periods, n_docs=n_docs, n_suppliers=n_suppliers)
    records = {section: list(rows) for section, rows in data.records.items()}
    for n, period in enumerate(periods):
        extra = other_tabs(gstin, docs=60, seed=seed * 100 + n, period=format_period(period))
        for section, rows in extra.items():  # numbers differ by period: the seed does
            records.setdefault(section, []).extend(rows)
    return records, data.supplier_names


def demo_periods(today: dt.date) -> list[dt.date]:
    """The three tax periods before ``today``'s month (27-11-2026 → Aug, Sep and Oct 2026)."""
    current = today.replace(day=1)
    return [add_months(current, -n) for n in (3, 2, 1)]


def seed_demo(*, actor: Actor, today: dt.date | None = None) -> DemoResult:
    """Create (or complete) the demo organisation. Safe to run again: what exists is left as it is."""
    today = today or timezone.localdate()
    periods = demo_periods(today)
    with transaction.atomic():
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenancy_services.create_tenant(name=DEMO_NAME, slug=DEMO_SLUG, actor=actor)
        result = DemoResult(tenant)
        with tenant_scope(tenant):
            regs = [_registration(tenant, actor, *spec[:4]) for spec in DEMO_REGISTRATIONS]
            owner = None
            for email, role, grants in DEMO_USERS:
                user, created = _user(email)
                if created:
                    result.created_users.append(email)
                if not Membership.objects.filter(tenant=tenant, user=user).exists():
                    tenancy_services.add_member(tenant=tenant, actor=actor, user=user, role=role)
                    if grants is not None:
                        tenancy_services.set_gstin_grants(
                            tenant=tenant, actor=actor, user=user, registrations=[regs[i] for i in grants]
                        )
                owner = owner or user
            for reg, (_s, _e, _n, _f, n_docs, n_suppliers, seed) in zip(
                regs, DEMO_REGISTRATIONS, strict=True
            ):
                records, names = demo_records(reg.gstin, periods, n_docs, n_suppliers, seed)
                ingest = ingest_documents(
                    tenant=tenant,
                    registration=reg,
                    records=records,
                    actor=actor,
                    source="demo",
                    supplier_names=names,
                )
                if ingest.errors:
                    raise ValueError("; ".join(ingest.errors[:5]))
                result.ingests[reg.gstin] = ingest
                if ingest.created:
                    result.local_actions += _seed_local_actions(tenant, reg, actor, owner)
                claims.refresh_claim_periods(registration=reg)  # the ITC claim period of every document
    with tenant_scope(tenant):
        # The books, imported as a user would upload them, and a reconciliation of the demo periods.
        owner = Membership.objects.get(tenant=tenant, user__username=DEMO_USERS[0][0]).user
        result.register = seed_register(tenant=tenant, regs=regs, periods=periods, actor=actor, user=owner)
    return result


def _registration(tenant, actor, state, entity, name, frequency) -> Registration:
    gstin = make_gstin(state, DEMO_PAN, entity)
    reg = Registration.objects.filter(tenant=tenant, gstin=gstin).first()
    return reg or tenancy_services.add_registration(
        tenant=tenant,
        actor=actor,
        gstin=gstin,
        legal_name="Demo Industries Private Limited",
        trade_name=name,
        filing_frequency=frequency,
    )


def _user(email: str):
    User = get_user_model()
    user = User.objects.filter(username=email).first()
    if user is not None:
        return user, False
    user = User.objects.create_user(username=email, email=email, password=DEMO_PASSWORD)
    return user, True


def _seed_local_actions(tenant, reg, actor: Actor, owner) -> int:
    """Give some no-action documents a local action (accept, reject or pending where allowed), as a user
    preparing a batch would, with one audit event per document."""
    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            """
            UPDATE invoices_supplierdocument d
            SET local_action = CASE WHEN d.id %% 3 = 0 THEN 'R' WHEN d.id %% 3 = 1 OR d.pending_blocked THEN 'A'
                                    ELSE 'P' END,
                local_remarks = CASE WHEN d.id %% 3 = 0 THEN 'Rate differs from PO' ELSE '' END,
                -- an accepted credit note answers "Whether ITC needs to be reduced?": Yes, as the portal's default
                -- (docs/rules/ims-actions.md §4.9)
                local_itc_red_req = CASE WHEN d.section = 'b2bcn' AND d.id %% 3 <> 0
                                              AND (d.id %% 3 = 1 OR d.pending_blocked) THEN 'Y' ELSE '' END,
                local_updated_at = %(now)s, local_updated_by = %(user)s
            WHERE d.tenant_id = %(tenant)s AND d.registration_id = %(reg)s AND d.portal_action = 'N'
              AND d.local_action IS NULL AND d.id %% %(every)s = 0
              AND d.section <> ALL(%(boe)s)  -- a bill of entry takes no Reject (docs/rules/sections.md §4.1)
            RETURNING d.id, d.supplier_gstin, d.section, d.doc_number, d.local_action
            """,
            {
                "now": now,
                "user": owner.pk,
                "tenant": tenant.pk,
                "reg": reg.pk,
                "every": LOCAL_ACTION_EVERY,
                "boe": [s.value for s in SECTIONS_BY_GOODS_TYPE[GoodsType.IMPORTS]],
            },
        )
        rows = cur.fetchall()
    if rows:
        record_many(
            tenant=tenant,
            actor=actor,
            events=[
                Event(
                    "ims.action_set",
                    OBJECT_TYPE,
                    str(doc_id),
                    f"{g} {s} {n}",
                    {"local_action": [None, action]},
                    {"source": "demo"},
                )
                for doc_id, g, s, n, action in rows
            ],
            summary=Event(
                "ims.actions_set",
                "tenancy.registration",
                str(reg.pk),
                str(reg),
                metadata={"count": len(rows), "source": "demo"},
            ),
        )
    return len(rows)


def login_help(base_url: str = "http://127.0.0.1:8000/") -> str:
    users = "\n".join(
        f"  {email:<20} {role.value:<9} "
        + (
            "all GSTINs"
            if grants is None
            else ", ".join(
                make_gstin(DEMO_REGISTRATIONS[i][0], DEMO_PAN, DEMO_REGISTRATIONS[i][1]) for i in grants
            )
        )
        for email, role, grants in DEMO_USERS
    )
    return (
        f"Demo organisation {DEMO_NAME!r} is ready: open {base_url} and log in as one of\n{users}\n"
        f"with the password {DEMO_PASSWORD!r}. Periods: "
        + ", ".join(format_period(p) for p in demo_periods(timezone.localdate()))
    )
