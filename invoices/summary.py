"""The maintained document summary behind the dashboard (docs/decisions/0010-maintained-document-summary.md).

One row per tenant × GSTIN × section × effective action × supplier period × "has a local action" × the GSTR-2B
month of a one-period Pending limit (migration invoices 0013; None for documents without one): the number of
current (not vanished) documents and the sum of each tax head, as reported (credit notes positive). It is kept by
statement-level triggers on the documents table (migration invoices 0012), in the writer's own transaction, in two
tables:

* :class:`DocSummaryDelta` — every statement that inserts, updates or deletes documents appends the change of each
  group it touched (count and sums, signed); a statement that changes nothing the summary shows (a push result, a
  sync that changed only other fields) appends nothing. Appending takes no lock a second writer waits for.
* :class:`DocSummary` — the folded totals. :func:`fold` moves a tenant's committed deltas into it (one reader at a
  time, under an advisory lock that others skip rather than wait for).

A reader sums both (:func:`summary_rows`), so it is exact whether or not the deltas were folded yet.
Imported by ``invoices.models`` (the app's model registry).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection, models, transaction
from django_scopes import ScopedManager

SUM_MONEY = {"max_digits": 18, "decimal_places": 2}
_FOLD_LOCK = 7_260_012  # pg_try_advisory_xact_lock(namespace, tenant id): one fold of a tenant at a time


class _Row(models.Model):
    tenant = models.ForeignKey(
        "tenancy.Tenant", on_delete=models.DO_NOTHING, related_name="+", db_index=False, db_constraint=False
    )
    registration = models.ForeignKey(
        "tenancy.Registration",
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    section = models.CharField(max_length=8)
    action = models.CharField(
        max_length=1, help_text="Effective action: the local one if any, else the portal's"
    )
    supplier_period = models.DateField()
    local = models.BooleanField(help_text="The documents have a local action not yet pushed")
    limit_month = models.DateField(
        null=True,
        help_text="Kept pending under the one-period Pending limit (or an amendment that may be): its GSTR-2B month",
    )
    n = models.BigIntegerField()
    igst = models.DecimalField(**SUM_MONEY)
    cgst = models.DecimalField(**SUM_MONEY)
    sgst = models.DecimalField(**SUM_MONEY)
    cess = models.DecimalField(**SUM_MONEY)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        abstract = True


class DocSummary(_Row):
    """Folded totals of current documents per group (a row may reach n = 0; :func:`fold` removes those)."""

    class Meta:
        app_label = "invoices"
        db_table = "invoices_docsummary"
        db_table_comment = (
            "Current documents per GSTIN, section, effective action and period (kept by triggers)"
        )
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "tenant",
                    "registration",
                    "section",
                    "action",
                    "supplier_period",
                    "local",
                    "limit_month",
                ],
                name="docsummary_group_uniq",
                nulls_distinct=False,
            )
        ]

    def __str__(self) -> str:
        return f"{self.registration_id} {self.section} {self.action} {self.supplier_period}: {self.n}"


class DocSummaryDelta(_Row):
    """A signed change of a group's count and sums, appended by the documents triggers, folded by :func:`fold`."""

    class Meta:
        app_label = "invoices"
        db_table = "invoices_docsummarydelta"
        indexes = [models.Index(fields=["tenant"], name="docsummarydelta_tenant_idx")]

    def __str__(self) -> str:
        return f"{self.registration_id} {self.section} {self.action} {self.supplier_period}: {self.n:+d}"


_GROUP = "registration_id, section, action, supplier_period, local, limit_month"
_FOLD = f"""WITH gone AS (
    DELETE FROM invoices_docsummarydelta WHERE tenant_id = %(tenant)s
    RETURNING {_GROUP}, n, igst, cgst, sgst, cess)
INSERT INTO invoices_docsummary AS s (tenant_id, {_GROUP}, n, igst, cgst, sgst, cess)
SELECT %(tenant)s, {_GROUP}, sum(n), sum(igst), sum(cgst), sum(sgst), sum(cess)
  FROM gone GROUP BY {_GROUP}
 ORDER BY {_GROUP}
ON CONFLICT (tenant_id, {_GROUP}) DO UPDATE
   SET n = s.n + EXCLUDED.n, igst = s.igst + EXCLUDED.igst, cgst = s.cgst + EXCLUDED.cgst,
       sgst = s.sgst + EXCLUDED.sgst, cess = s.cess + EXCLUDED.cess"""  # noqa: S608  # nosec B608  # column list a code constant
_READ = f"""SELECT {_GROUP},
       sum(n) AS n, sum(igst) AS igst, sum(cgst) AS cgst, sum(sgst) AS sgst, sum(cess) AS cess FROM (
    SELECT {_GROUP}, n, igst, cgst, sgst, cess
      FROM invoices_docsummary WHERE tenant_id = %(tenant)s {{filters}}
    UNION ALL
    SELECT {_GROUP}, n, igst, cgst, sgst, cess
      FROM invoices_docsummarydelta WHERE tenant_id = %(tenant)s {{filters}}
) x GROUP BY {_GROUP} HAVING sum(n) <> 0"""  # noqa: S608  # nosec B608  # column list a code constant; values as params
_SCAN = """SELECT registration_id, section, coalesce(local_action, portal_action) AS action, supplier_period,
       local_action IS NOT NULL AS local, count(*) AS n,
       sum(igst) AS igst, sum(cgst) AS cgst, sum(sgst) AS sgst, sum(cess) AS cess
  FROM invoices_supplierdocument WHERE tenant_id = %s AND vanished_at IS NULL
 GROUP BY registration_id, section, coalesce(local_action, portal_action), supplier_period, local_action IS NOT NULL"""


def fold(*, tenant_id: int) -> bool:
    """Move the tenant's committed deltas into the folded totals, in one transaction (a reader sees the deltas or
    their fold, never both). Skipped (False) when another session is folding the tenant right now."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_FOLD_LOCK, tenant_id])
        if not cur.fetchone()[0]:
            return False
        cur.execute(_FOLD, {"tenant": tenant_id})
        if cur.rowcount:
            cur.execute("DELETE FROM invoices_docsummary WHERE tenant_id = %s AND n = 0", [tenant_id])
        return True


def summary_rows(
    *,
    tenant_id: int,
    registration_ids: list[int] | None = None,
    period: dt.date | None = None,
    since: dt.date | None = None,
    limited: bool = False,
    fold_first: bool = True,
) -> list[dict]:
    """The current documents of the tenant (of ``registration_ids`` when given; of one supplier ``period`` or
    the periods from ``since`` on; only those kept pending under the one-period Pending limit, or amendments that
    may be, when ``limited``) grouped by GSTIN × section × effective action × supplier period × local × GSTR-2B
    month of the Pending limit (``limit_month``, None for the others): dicts with the group columns, ``n`` and
    the four tax heads. Folds waiting deltas first (a no-op when none) unless not ``fold_first`` (a second read in
    the same request: exact either way, one round trip fewer)."""
    if fold_first:
        with connection.cursor() as cur:
            cur.execute("SELECT 1 FROM invoices_docsummarydelta WHERE tenant_id = %s LIMIT 1", [tenant_id])
            waiting = cur.fetchone() is not None
        if waiting:
            fold(tenant_id=tenant_id)
    params: dict = {"tenant": tenant_id, "regs": registration_ids, "period": period, "since": since}
    filters = []
    if registration_ids is not None:
        filters.append("AND registration_id = ANY(%(regs)s)")
    if period is not None:
        filters.append("AND supplier_period = %(period)s")
    elif since is not None:
        filters.append("AND supplier_period >= %(since)s")
    if limited:
        filters.append("AND limit_month IS NOT NULL")
    with connection.cursor() as cur:
        cur.execute(_READ.format(filters=" ".join(filters)), params)
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def scan_rows(*, tenant_id: int) -> list[dict]:
    """The same groups computed from the documents themselves (a full scan): what the summary must equal. For
    tests and the benchmark's comparison, never for a page."""
    with connection.cursor() as cur:
        cur.execute(_SCAN, [tenant_id])
        names = [d.name for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def canonical(rows: list[dict]) -> list[tuple]:
    """Rows as sorted tuples with exact Decimal sums (for comparing the summary with a scan)."""
    return sorted(
        (
            r["registration_id"],
            r["section"],
            r["action"],
            r["supplier_period"],
            r["local"],
            r.get("limit_month"),
        )
        + (int(r["n"]),)
        + tuple(Decimal(r[h] or 0) for h in ("igst", "cgst", "sgst", "cess"))
        for r in rows
    )
