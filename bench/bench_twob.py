"""GSTR-2B preview for one GSTIN with N documents in one period (target: 500,000 in <= 5 s).

    DATABASE_URL=... .venv/bin/python -m bench.bench_twob   (BENCH_TWOB_ROWS=20000 for a quick run)

Uses its own bench database (default ims_bench_twob, created and migrated by bench.common). COPies N documents of
one period straight into the documents table of a fresh tenant, then builds the preview three times and prints
the median (the build includes the one-statement SQL placement and aggregation, storing the snapshot, its diff
against the previous build — the first build has none — and its audit event).
"""

from __future__ import annotations

import os
import random
import statistics
import time

if __package__ in (None, ""):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import as_owner, configure  # noqa: E402

configure(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ims_bench_twob"))

import datetime as dt  # noqa: E402

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from audit.services import Actor, Event, record_many  # noqa: E402
from gst.gstin import make_gstin  # noqa: E402
from invoices.models import SupplierDocument  # noqa: E402
from returns import services  # noqa: E402
from tenancy import services as tenancy_services  # noqa: E402
from tenancy.scoping import tenant_scope  # noqa: E402

ROWS = int(os.environ.get("BENCH_TWOB_ROWS", "500000"))
OCT = dt.date(2025, 10, 1)


def load(tenant, reg, n: int) -> None:
    rng = random.Random(7)
    suppliers = [
        make_gstin(rng.choice(["27", "29", "24"]), f"AAB{'CFHP'[i % 4]}{chr(65 + i % 26)}{i:04d}K")
        for i in range(2000)
    ]
    now = timezone.now()
    cols = (
        "tenant_id, registration_id, supplier_gstin, supplier_gstin_valid, section, doc_kind, is_amendment, "
        "doc_number, doc_number_norm, doc_date, fy, orig_doc_number, inv_type, src_form, supplier_period, "
        "supplier_filing_status, supplier_filing_date, pos, doc_value, taxable_value, igst, cgst, sgst, cess, "
        "portal_action, pending_blocked, remarks_blocked, itc_red_blocked, portal_remarks, portal_itc_red_req, "
        "portal_hash, local_remarks, local_itc_red_req, content_hash, version, needs_review, first_seen_at, "
        "last_seen_at, source"
    )
    with (
        connection.cursor() as cur,
        as_owner(cur),  # COPY FROM into a table under row-level security: the owner's, as in the product
        cur.cursor.copy(f"COPY invoices_supplierdocument ({cols}) FROM STDIN") as cp,
    ):
        for i in range(n):
            sup = suppliers[i % len(suppliers)]
            section = "b2bcn" if i % 20 == 0 else "b2b"
            kind = "credit_note" if section == "b2bcn" else "invoice"
            taxable = rng.randint(1000, 500000)
            tax = round(taxable * 0.18, 2)
            intra = sup[:2] == "27"
            filed = dt.date(2025, 10, 12) + dt.timedelta(days=i % 31)
            cp.write_row(
                (
                    tenant.pk,
                    reg.pk,
                    sup,
                    True,
                    section,
                    kind,
                    False,
                    f"B/{i}",
                    f"B{i}",
                    dt.date(2025, 10, 1 + i % 28),
                    2025,
                    "",
                    "R",
                    "R1",
                    OCT,
                    "filed",
                    filed,
                    "27",
                    taxable + tax,
                    taxable,
                    0 if intra else tax,
                    tax / 2 if intra else 0,
                    tax / 2 if intra else 0,
                    0,
                    "APRN"[i % 4] if i % 7 else "N",
                    False,
                    False,
                    False,
                    "",
                    "",
                    "",
                    "",
                    "",
                    f"{i:032x}",
                    1,
                    False,
                    now,
                    now,
                    "bench",
                )
            )


def main() -> None:
    actor = Actor.system("bench")
    slug = f"bench-twob-{int(time.time())}"
    tenant = tenancy_services.create_tenant(name="Bench 2B", slug=slug, actor=actor)
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=actor, gstin=make_gstin("27", "AABCB1234K"), legal_name="Bench"
        )
        t0 = time.monotonic()
        load(tenant, reg, ROWS)
        with connection.cursor() as cur, as_owner(cur):
            cur.execute("ANALYZE invoices_supplierdocument")
        print(f"loaded {ROWS} documents in {time.monotonic() - t0:.1f} s")
        times = []
        for _ in range(3):
            t0 = time.monotonic()
            snap = services.build_preview(tenant=tenant, actor=actor, registration=reg, period=OCT)
            times.append(time.monotonic() - t0)
        median = statistics.median(times)
        floor_times = []
        for _ in range(3):  # the floor: the bare database summing the same rows by section in one scan
            t0 = time.monotonic()
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT section, coalesce(local_action, portal_action), count(*), sum(igst), sum(cgst), "
                    "sum(sgst), sum(cess) FROM invoices_supplierdocument WHERE tenant_id = %s AND registration_id = %s "
                    "GROUP BY 1, 2",
                    [tenant.pk, reg.pk],
                )
                cur.fetchall()
            floor_times.append(time.monotonic() - t0)
        floor = statistics.median(floor_times)
        print(f"floor (one scan summing the same {ROWS} rows by section and action): median {floor:.2f} s")
        print(
            f"preview of {snap.document_count} documents in 2B ({ROWS} candidates): "
            f"median {median:.2f} s, runs {[round(t, 2) for t in times]}; {median / floor:.1f}x the floor "
            "(target <= 5 s)"
        )
        # The preview as of yesterday (docs/rules/gstr2b.md §10), with history to roll back: a fiftieth of the
        # documents rejected today (their audit events), so yesterday they were as loaded.
        acted = list(
            SupplierDocument.objects.filter(tenant=tenant, registration=reg)
            .order_by("id")
            .values_list("id", flat=True)[: max(ROWS // 50, 1)]
        )
        with transaction.atomic():
            SupplierDocument.objects.filter(id__in=acted).update(
                local_action="R", local_updated_at=timezone.now()
            )
            record_many(
                tenant=tenant,
                actor=actor,
                events=[
                    Event(
                        "ims.action_set",
                        "invoices.supplierdocument",
                        str(i),
                        "",
                        {"local_action": [None, "R"]},
                        {"portal_action": "N"},
                    )
                    for i in acted
                ],
            )
        yesterday = timezone.localdate() - dt.timedelta(days=1)
        as_of_times = []
        for _ in range(3):
            t0 = time.monotonic()
            then = services.preview_as_of(registration=reg, period=OCT, as_of=yesterday)
            as_of_times.append(time.monotonic() - t0)
        as_of_median = statistics.median(as_of_times)
        same = then.summary["itcsumm"] == snap.summary["itcsumm"]
        print(
            f"preview as of yesterday ({len(acted)} documents acted on since, rolled back; equal to the preview "
            f"built before: {same}): median {as_of_median:.2f} s, runs {[round(t, 2) for t in as_of_times]}; "
            f"{as_of_median / median:.2f}x the preview (target <= 2x)"
        )


if __name__ == "__main__":
    main()
