"""The summary under concurrent writers (docs/decisions/0010-maintained-document-summary.md): a read folds only
committed changes, so a writer still in its transaction neither blocks the read nor loses its change, and two
writers of the same documents' groups never wait for each other on the summary."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from invoices.summary import summary_rows
from tests.documents.helpers import make_doc
from tests.summary_check import assert_summary_is_a_scan, deltas

pytestmark = pytest.mark.django_db(transaction=True)  # a second connection works on the same (committed) data


def other_connection() -> psycopg.Connection:
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"],
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        password=s["PASSWORD"] or None,
    )


def test_a_read_during_an_open_write_folds_only_what_is_committed_and_loses_nothing(tenant_a, reg_a1):
    a, b = make_doc(reg_a1), make_doc(reg_a1)
    assert_summary_is_a_scan(tenant_a)
    with other_connection() as writer, other_connection() as second:
        writer.execute("SET lock_timeout = '5s'")
        second.execute("SET lock_timeout = '5s'")
        writer.execute("UPDATE invoices_supplierdocument SET local_action = 'A' WHERE id = %s", [a.pk])
        # Another writer changes the same group (same GSTIN, section, action, period) while the first is open.
        second.execute("UPDATE invoices_supplierdocument SET local_action = 'R' WHERE id = %s", [b.pk])
        second.commit()
        rows = summary_rows(tenant_id=tenant_a.pk)  # folds the committed change only
        assert {(r["action"], r["local"]): r["n"] for r in rows} == {("N", False): 1, ("R", True): 1}
        assert deltas(tenant_a) == 0  # the open writer's change is not visible yet
        writer.commit()
    assert deltas(tenant_a) > 0
    assert_summary_is_a_scan(tenant_a)  # folded on the next read, nothing lost
