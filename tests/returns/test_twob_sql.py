"""The SQL placement behind the preview (returns/twob_sql.py) agrees with the pure Python one (returns/twob.place)
on a generated set of documents with every kind of case: cut-offs, IFF, 2B period given, no filing date, not
filed, POS, section 16(4), amendments, actions local and portal, declared reductions, QRMP recipients, and Rule 37A
(suppliers that had not filed the GSTR-3B of a period of the previous financial year by 30 September, some filing
later: reversal in itcrev, re-availment)."""

from __future__ import annotations

import datetime as dt
import json
import random
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from gst.sections import SECTIONS, DocKind, GoodsType
from ims_project import rls
from invoices.models import Supplier
from returns import documents, services
from returns.models import Gstr3bFiling, SupplierGstr3bStatus
from returns.snapshots import Entries
from returns.twob import ITCREV, RECLAIM, Summary, period_months, place, rule37a_table
from tenancy.scoping import tenant_scope
from tests import factories

COLS = (
    "tenant_id, registration_id, supplier_gstin, supplier_gstin_valid, section, doc_kind, is_amendment, "
    "doc_number, doc_number_norm, doc_date, fy, orig_doc_number, orig_doc_date, inv_type, src_form, "
    "supplier_period, supplier_filing_status, supplier_filing_date, twob_period, pos, doc_value, taxable_value, "
    "igst, cgst, sgst, cess, portal_action, local_action, pending_blocked, remarks_blocked, itc_red_blocked, "
    "portal_remarks, portal_itc_red_req, portal_decl_igst, portal_decl_cgst, portal_decl_sgst, portal_decl_cess, "
    "portal_hash, local_remarks, local_itc_red_req, local_decl_igst, local_decl_cgst, local_decl_sgst, "
    "local_decl_cess, content_hash, version, needs_review, first_seen_at, last_seen_at, vanished_at, source, "
    "local_updated_at, itc_eligible"
)
SUPPLIERS = [factories.gstin_for(n, state) for n, state in enumerate(["27", "29", "24", "33", "07"] * 4)]
PERIODS = [dt.date(2025, m, 1) for m in (6, 7, 8, 9, 10, 11, 12)]
# periods of the financial year 2024-25, whose Rule 37A deadline (30-09-2025) has passed on AS_OF
OLD_PERIODS = [dt.date(2024, 11, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]
# what the return tracking said of each supplier's GSTR-3B of those periods: not filed, filed in time, filed late
# (October, November, December 2025: re-availed then)
SUPPLIER_3B = [None, dt.date(2025, 9, 12), dt.date(2025, 10, 8), dt.date(2025, 11, 15), dt.date(2025, 12, 22)]


def record_supplier_filings(tenant) -> None:
    """The suppliers' GSTR-3B status of every old period, cycling through :data:`SUPPLIER_3B` (one supplier and
    period left unknown)."""
    n = 0
    for gstin in SUPPLIERS[:-1]:
        for period in OLD_PERIODS:
            filed_on = SUPPLIER_3B[n % len(SUPPLIER_3B)]
            n += 1
            SupplierGstr3bStatus.objects.get_or_create(
                tenant=tenant,
                supplier_gstin=gstin,
                period=period,
                defaults={"filed": filed_on is not None, "filed_on": filed_on, "fetched_at": timezone.now()},
            )


def _money(rng):
    return Decimal(rng.randint(0, 900000)) / 100


def _decl(rng):
    return [rng.choice([None, Decimal("0.00"), Decimal("12.50"), None]) for _ in range(4)]


def load(tenant, reg, n: int, seed: int) -> None:
    rng = random.Random(seed)
    now = timezone.now()
    # every section, those of "All other ITC" (most documents, and the only ones the Pending limit reaches) thrice
    sections = [*SECTIONS, *(2 * [s for s, i in SECTIONS.items() if i.goods_typ == GoodsType.ALL_OTHER])]
    with (
        connection.cursor() as cur,
        rls.copy_in(cur, f"COPY invoices_supplierdocument ({COLS}) FROM STDIN") as cp,
    ):
        for i in range(n):
            section = rng.choice(sections)
            info = SECTIONS[section]
            period = rng.choice(PERIODS + OLD_PERIODS)
            filing = rng.choice(
                [
                    None,
                    period + dt.timedelta(days=rng.randint(0, 80)),
                    period.replace(day=1) + dt.timedelta(days=rng.choice([40, 41, 42, 43, 44])),
                ]
            )
            doc_date = rng.choice(
                [
                    period + dt.timedelta(days=rng.randint(0, 27)),
                    dt.date(2023, 2, 10),
                    dt.date(2024, 3, 31),
                    dt.date(2020, 5, 1),
                ]
            )
            orig = rng.choice([None, dt.date(2023, 1, 5), dt.date(2025, 4, 2)]) if info.amendment else None
            tax = [_money(rng) for _ in range(4)]
            taxable = _money(rng) * 5
            local = rng.choice([None, None, "A", "R", "P", "N"])
            overseas = (
                not info.has_supplier
            )  # a bill of entry of an import from overseas: no supplier, no POS
            cp.write_row(
                (
                    tenant.pk,
                    reg.pk,
                    "" if overseas else rng.choice(SUPPLIERS),
                    True,
                    section.value,
                    info.kind.value,
                    info.amendment,
                    f"S/{i}",
                    f"S{i}",
                    doc_date,
                    2025,
                    "O/1" if info.amendment else "",
                    orig,
                    rng.choice(["R", "SEWP", "DE"]),
                    rng.choice(["R1", "IFF", "R1", "R1A", ""]),
                    period,
                    rng.choice(["filed", "filed", "filed", "saved"]),
                    filing,
                    rng.choice([None] * 6 + PERIODS),
                    "" if overseas else rng.choice(["27", "29", "24", "33"]),
                    taxable + sum(tax),
                    taxable,
                    *tax,
                    rng.choice("APRN"),
                    local,
                    False,
                    False,
                    False,
                    "",
                    rng.choice(["", "Y", "N"]),
                    *_decl(rng),
                    "",
                    "",
                    rng.choice(["", "Y", "N"]) if local else "",
                    *_decl(rng),
                    f"{i:032x}",
                    1,
                    False,
                    now,
                    now,
                    now if i % 50 == 0 else None,
                    "test",
                    rng.choice([None, None, *CHANGED]) if local else None,
                    rng.choice(["Y", "Y", "N"]) if info.is_isd else None,  # an ISD's ITC may be ineligible
                )
            )
    link_originals(tenant, reg, seed)
    with connection.cursor() as cur:  # as the ingest path does after a large batch (autovacuum is off here)
        rls.analyze(cur, "invoices_supplierdocument")  # a plain ANALYZE by the application role is skipped


# local actions taken on these days (10:00 IST): around the GSTR-3B filings below
CHANGED = [
    dt.datetime(2025, m, d, 4, 30, tzinfo=dt.UTC)
    for m, d in ((8, 15), (8, 20), (9, 25), (11, 19), (11, 21), (12, 5), (12, 20), (12, 22), (1, 10))
]
FILINGS = {
    "M": {
        dt.date(2025, 7, 1): dt.date(2025, 8, 20),
        dt.date(2025, 8, 1): dt.date(2025, 9, 20),
        dt.date(2025, 10, 1): dt.date(2025, 11, 20),
    },
    "Q": {dt.date(2025, 9, 1): dt.date(2025, 10, 22)},
}
# the day the preview is computed for: monthly, the October-2025 one-period Pending limit (20-12-2025) has passed,
# the November one (20-01-2026) not yet; QRMP, the quarter to December 2025 has its limit on 22-04-2026
AS_OF = {"M": dt.date(2026, 1, 5), "Q": dt.date(2026, 4, 25)}


def link_originals(tenant, reg, seed: int) -> None:
    """Link about two amendments in three to an original of their original section (random direction).
    Deterministic for a seed: the choice hashes each document's position in this load (id minus the load's first id),
    never the raw ids, which depend on what ran before in the same database."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT min(id) FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s",
            [tenant.pk, reg.pk],
        )
        base = cur.fetchone()[0]
        for amended, original in (
            (s.value, i.original_section.value) for s, i in SECTIONS.items() if i.amendment
        ):
            cur.execute(
                """UPDATE invoices_supplierdocument a SET original_id = (
                       SELECT o.id FROM invoices_supplierdocument o
                       WHERE o.tenant_id = a.tenant_id AND o.registration_id = a.registration_id
                         AND o.section = %s AND o.id <> a.id
                       ORDER BY md5((o.id - %s)::text || '/' || (a.id - %s)::text || '/' || %s::text) LIMIT 1)
                   WHERE a.tenant_id = %s AND a.registration_id = %s AND a.section = %s
                     AND ('x' || substr(md5((a.id - %s)::text || '/' || %s::text), 1, 7))::bit(28)::int %% 3 <> 0""",
                [original, base, base, seed, tenant.pk, reg.pk, amended, base, seed],
            )


def python_compute(reg, period, recipient=None):
    """The per-document Python placement the SQL replaces (returns.twob.place over the candidates)."""
    recipient = recipient or services.recipient_of(reg)
    summary, entries, buckets = Summary(), Entries(), []

    def add(doc_id, name, itc):
        if name not in buckets:
            buckets.append(name)
        entries.add(doc_id, buckets.index(name), sum(itc))

    for doc in documents.candidate_documents(
        tenant_id=reg.tenant_id,
        registration_id=reg.pk,
        months=period_months(period, recipient.frequency),
        filed_3b=dict(recipient.filed_3b),
        at_risk=rule37a_table(recipient),
    ):
        p = place(doc, recipient)
        here = p.period == period
        if here:
            summary.add(doc, p)
            add(doc.id, services.bucket_name(p), p.itc)
        summary.add_rule37a(p, period)
        if here:
            continue
        if p.rule37a_period == period:
            add(doc.id, f"{ITCREV}/nonrevsup/{p.twob_section}/", p.itc)
        elif p.reavail_period == period:
            add(doc.id, f"{RECLAIM}/nonrevsup/{p.twob_section}/", p.itc)
    return summary, entries, buckets


def flat(tree, prefix=""):
    out = {}
    for k, v in tree.items():
        out.update(flat(v, f"{prefix}{k}/") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def stored(tree):
    """A summary as the snapshot stores it (JSON: amounts as strings)."""
    return json.loads(json.dumps(tree, default=str))


def by_document(entries, buckets):
    return {doc_id: (buckets[b], paise) for doc_id, (b, paise) in entries.as_dict().items()}


@pytest.mark.parametrize(("frequency", "state"), [("M", "27"), ("Q", "29")])
def test_sql_placement_agrees_with_python_placement_on_every_kind_of_document(tenant_a, frequency, state):
    with tenant_scope(tenant_a):
        reg = factories.make_registration(tenant_a, state=state, frequency=frequency)
        for n, gstin in enumerate(SUPPLIERS[:12]):
            Supplier.objects.create(
                tenant=tenant_a,
                gstin=gstin,
                legal_name=f"Legal {n}",
                trade_name="" if n % 3 else f"Trade {n}",
            )
        load(tenant_a, reg, 3000, seed=11 if frequency == "M" else 12)
        record_supplier_filings(tenant_a)
        for period, filed_on in FILINGS[frequency].items():
            Gstr3bFiling.objects.create(tenant=tenant_a, registration=reg, period=period, filed_on=filed_on)
        recipient = services.recipient_of(reg, as_of=AS_OF[frequency])
        assert recipient.filed_3b == FILINGS[frequency]
        compared, seen = 0, Counter()
        for period in (
            [dt.date(2025, m, 1) for m in (7, 8, 9, 10, 11, 12)]
            if frequency == "M"
            else [dt.date(2025, 9, 1), dt.date(2025, 12, 1)]
        ):
            expected, exp_entries, exp_buckets = python_compute(reg, period, recipient)
            summary, entries, buckets, placed = services.compute(
                registration=reg, period=period, recipient=recipient
            )
            assert flat(summary.itcsumm()) == flat(stored(expected.itcsumm()))
            assert flat(summary.reclaim()) == flat(stored(expected.reclaim()))
            assert summary.cpsumm() == stored(expected.cpsumm())
            assert {k: v for k, v in summary.counts.items() if v} == {
                k: v for k, v in expected.counts.items() if v
            }
            assert by_document(entries, buckets) == by_document(exp_entries, exp_buckets)
            some = list(placed)[:20]
            assert all(
                period in (placed[i].period, placed[i].rule37a_period, placed[i].reavail_period) for i in some
            )
            compared += len(entries)
            placed.prefetch(list(placed))
            for i in placed:
                pl = placed[i]
                seen["carried"] += pl.period != pl.natural
                seen["lapsed"] += pl.lapsed is not None
                seen["carried pending"] += pl.period != pl.natural and pl.part == "pending"
            seen["itcrev"] += sum(flat(expected.itcsumm().get(ITCREV, {})).values(), Decimal(0)) > 0
            seen["reclaim"] += bool(expected.reclaim())
        assert compared > 1000
        # every new rule was exercised, not only the plain cases
        assert seen["carried"] > 5
        assert seen["carried pending"] > 0
        assert seen["lapsed"] > 0
        assert seen["itcrev"] > 0
        assert seen["reclaim"] > 0


def test_sql_placement_keeps_the_scale_of_amounts_like_python(tenant_a):
    with tenant_scope(tenant_a):
        reg = factories.make_registration(tenant_a)
        load(tenant_a, reg, 600, seed=3)
        expected, _e, _b = python_compute(reg, dt.date(2025, 10, 1))
        summary, *_ = services.compute(registration=reg, period=dt.date(2025, 10, 1))
        ours = flat(summary.itcsumm())
        assert ours == flat(
            stored(expected.itcsumm())
        )  # the same strings: "0.00", not "0", for a nil reduction
        assert all(v.count(".") == 1 and len(v.split(".")[1]) == 2 for v in ours.values())
        assert any(k.kind == DocKind.CREDIT_NOTE for k in SECTIONS.values())


def python_deadline_queue(reg, today, limit):
    """The per-document Python ranking the SQL deadline query replaces (the same clocks and score; only what
    still needs a decision)."""
    from gst.duedates import gstr3b_due_date, return_period, section_16_4_last_date
    from gst.periods import add_months
    from gst.rules import pending_deadline
    from returns.twob import Part, pending_specified, twob_month

    recipient = services.recipient_of(reg, as_of=today)
    since = add_months(return_period(today, reg.filing_frequency), -6)
    out = []
    for doc in documents.open_documents(
        tenant_id=reg.tenant_id, registration_id=reg.pk, since=since, at_risk=rule37a_table(recipient)
    ):
        p = place(doc, recipient)
        if p.period is None or p.part == Part.UNAVAILABLE:
            continue
        info = SECTIONS[doc.section]
        if p.rule37a_period is not None and p.reavail_period is None:
            due, clock = p.reverse_by, "Rule 37A"
        elif p.part == Part.PENDING:
            month = twob_month(doc)[0]
            if pending_specified(doc, recipient) and month >= dt.date(2025, 10, 1):
                due, clock = pending_deadline(month, reg.filing_frequency, reg.state_code), "Pending limit"
            elif info.kind == DocKind.CREDIT_NOTE:
                continue
            else:
                itc_date = doc.orig_doc_date if info.amendment and doc.orig_doc_date else doc.doc_date
                due, clock = section_16_4_last_date(itc_date), "Section 16(4)"
        elif p.period in recipient.filed_3b:
            continue  # settled: the period's GSTR-3B is filed
        elif doc.action != "N" and p.lapsed is None:
            continue  # settled: accepted or rejected (an action that counts)
        else:
            due, clock = gstr3b_due_date(p.period, reg.filing_frequency, reg.state_code), "GSTR-3B due"
        days = (due - today).days
        stake = sum(doc.tax)
        score = stake / max(days, 1) if days >= 0 else stake * (1 - days)
        out.append((score, doc.id, p.part.value, clock, due, days, stake))
    out.sort(key=lambda x: (x[0], x[1]), reverse=True)
    return out[:limit]


@pytest.mark.parametrize(("frequency", "state"), [("M", "27"), ("Q", "29")])
def test_deadline_queue_ranked_in_sql_equals_the_python_ranking_page_by_page(tenant_a, frequency, state):
    from returns.selectors import deadline_queue

    today = AS_OF[frequency]
    with tenant_scope(tenant_a):
        reg = factories.make_registration(tenant_a, state=state, frequency=frequency)
        load(tenant_a, reg, 2000, seed=22)
        record_supplier_filings(tenant_a)
        for period, filed_on in FILINGS[frequency].items():
            Gstr3bFiling.objects.create(tenant=tenant_a, registration=reg, period=period, filed_on=filed_on)
        expected = python_deadline_queue(reg, today, 10_000)
        assert len(expected) > 100
        assert len({x[3] for x in expected}) == 4  # all four clocks occur (Rule 37A's included)
        pages, after = [], None
        while True:
            page = deadline_queue(tenant=tenant_a, registrations=[reg], today=today, limit=150, after=after)
            pages.extend(page)
            if len(page) < 150:
                break
            after = (page[-1]["score"], page[-1]["id"])
    got = [(i["id"], i["part"], i["clock"], i["due"], i["days_left"], i["itc"]) for i in pages]
    assert got == [(x[1], x[2], x[3], x[4], x[5], x[6]) for x in expected]
    assert all(i["doc"].id == i["id"] for i in pages[:50])
