"""A bulk action over more documents than the documents table's statistics know of analyzes the table first
(``actions.selectors.keep_statistics``). On the statistics of an empty table the planner joined a bulk action's
grouping and its UPDATE by nested loops, n² comparisons: 20,000 documents took 27 s and 20 s (seen when a test's own
ANALYZE was skipped). A table filled by a path that does not analyze (a restore, raw SQL) before autovacuum comes
round would do that to the first bulk action of its users."""

from __future__ import annotations

import pytest
from django.db import connection

from actions import selectors
from ims_project import rls
from invoices.models import SupplierDocument
from tenancy.scoping import tenant_scope
from tests.actions.test_bulk_atomicity import load, owner
from tests.actions.test_bulk_run_lease import accept_all

pytestmark = pytest.mark.django_db(
    transaction=True
)  # the statistics are set up committed, as a fresh table has them


def known_rows() -> float:
    with connection.cursor() as cur:
        cur.execute("SELECT reltuples FROM pg_class WHERE oid = 'invoices_supplierdocument'::regclass")
        return cur.fetchone()[0]


def forget_statistics() -> None:
    """The table's statistics as a never-analyzed table has them (what a fresh load leaves until autovacuum)."""
    with rls.as_owner(), connection.cursor() as cur:
        cur.execute("UPDATE pg_class SET reltuples = -1 WHERE oid = 'invoices_supplierdocument'::regclass")


def test_a_bulk_action_over_more_documents_than_the_statistics_know_analyzes_first(
    tenant_a, reg_a1, settings
):
    settings.IMS_BULK_ACTION_SYNC_MAX = 5_000
    alice = owner(tenant_a, "alice")
    load(reg_a1, 3_000, analyze=False)
    forget_statistics()

    # A few documents: no look at the statistics.
    with tenant_scope(tenant_a):
        ids = list(
            SupplierDocument.objects.filter(tenant=tenant_a).order_by("id").values_list("id", flat=True)
        )
    accept_all(tenant_a, alice, "few", ids=ids[: selectors.STATISTICS_CHECK_MIN - 1])
    assert known_rows() == -1

    # All of them: the table is analyzed before the grouping and the update plan on it.
    result = accept_all(tenant_a, alice, "all")
    assert result.applied > 0
    assert known_rows() == pytest.approx(3_000, rel=0.05)

    # Statistics that know as many rows: left as they are.
    assert not selectors.keep_statistics(2_000)
