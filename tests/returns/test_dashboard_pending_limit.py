"""The dashboard's nearest one-period Pending limit per GSTIN (issue #14 §2; docs/rules/ims-actions.md §2.2): the day
by which documents kept pending under the limit must be accepted or rejected, how many and their ITC, read from the
maintained summary, and a link to the deadline queue showing exactly those documents."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine

from returns.selectors import nearest_pending_limits
from tenancy.scoping import tenant_scope
from tests.documents.helpers import make_doc
from tests.documents.test_dashboard_today import HOME, card, links

OCT, NOV, SEP = dt.date(2025, 10, 1), dt.date(2025, 11, 1), dt.date(2025, 9, 1)


def at(day: dt.date):
    return time_machine.travel(dt.datetime.combine(day, dt.time(6, 0), tzinfo=dt.UTC), tick=False)


@pytest.fixture
def pending(tenant_a, reg_a1, reg_a2):
    """Documents of reg_a1 (monthly, Maharashtra) kept pending, each placed in a GSTR-2B month by its filing date."""

    def doc(section, taxable, period, filed_on, **kw):
        return make_doc(
            reg_a1,
            section=section,
            taxable_value=taxable,
            doc_date=period + dt.timedelta(days=4),
            supplier_filing_date=filed_on,
            **kw,
        )

    rejected = doc("b2bcn", "8000.00", SEP, dt.date(2025, 10, 9), portal_action="R")
    accepted = doc("b2bcn", "8000.00", SEP, dt.date(2025, 10, 9), portal_action="A")
    return {
        # 2B October 2025 (filed by the 11th of November): kept pending until 20-12-2025
        "cn_oct": doc("b2bcn", "10000.00", OCT, dt.date(2025, 11, 5), portal_action="P"),
        "cna_oct": doc("b2bcna", "5000.00", OCT, dt.date(2025, 11, 10), local_action="P", original=rejected),
        "cna_orphan": doc("b2bcna", "2000.00", OCT, dt.date(2025, 11, 10), portal_action="P"),
        # a downward amendment of an accepted credit note may be kept pending without limit
        "cna_free": doc(
            "b2bcna", "4000.00", OCT, dt.date(2025, 11, 10), portal_action="P", original=accepted
        ),
        # filed on the 12th of November: 2B November, kept pending until 20-01-2026
        "cn_nov": doc("b2bcn", "30000.00", OCT, dt.date(2025, 11, 12), portal_action="P"),
        # 2B September: before the one-period limit began
        "cn_sep": doc("b2bcn", "7000.00", SEP, dt.date(2025, 10, 8), portal_action="P"),
        # an invoice kept pending has the section 16(4) clock, not this one
        "inv": doc("b2b", "90000.00", OCT, dt.date(2025, 11, 5), portal_action="P"),
        # another GSTIN's credit note
        "other": make_doc(
            reg_a2, section="b2bcn", portal_action="P", supplier_filing_date=dt.date(2025, 11, 5)
        ),
    }


def deadline_totals(client, href: str) -> tuple[int, str]:
    html = client.get(href).content.decode()
    totals = re.search(
        r'<p id="deadline-totals"><strong>(\d+)</strong>.*?<strong>(₹[\d,.]+)</strong>', html, re.S
    )
    assert totals, html[:500]
    return int(totals.group(1)), totals.group(2)


def test_the_nearest_limit_counts_the_documents_kept_pending_under_it_and_links_to_exactly_those(
    client_for, alice, tenant_a, reg_a1, pending
):
    client = client_for(alice)
    with at(dt.date(2025, 12, 5)):
        a1 = card(client.get(HOME).content.decode(), reg_a1.gstin)
        # 10,000 + 5,000 + 2,000 taxable at 18 %: the credit note, the amendment of a rejected credit note and the
        # amendment whose original is unknown (treated as limited)
        assert (
            'data-today="pending-limit">Pending limit 20-12-2025</a>: <span>3 documents kept pending, '
            "ITC at stake ₹3,060.00: accept or reject by then, in 15 days</span>"
        ) in a1
        href = links(a1)["pending-limit"]
        assert href.startswith("/t/acme/returns/deadlines/?")
        assert "clock=Pending+limit" in href
        assert deadline_totals(client, href) == (3, "₹3,060.00")
        listed = client.get(href).content.decode()
        for key in ("cn_oct", "cna_oct", "cna_orphan"):
            assert f">{pending[key].doc_number}</a>" in listed
        for key in ("cna_free", "cn_nov", "cn_sep", "inv"):
            assert f">{pending[key].doc_number}</a>" not in listed

    # Past 20 December the October ones are deemed accepted: the November credit note's limit is next.
    with at(dt.date(2025, 12, 24)):
        client = client_for(alice)  # a new session on the later day
        a1 = card(client.get(HOME).content.decode(), reg_a1.gstin)
        assert "Pending limit 20-01-2026</a>: <span>1 document kept pending, ITC at stake ₹5,400.00" in a1
        assert deadline_totals(client, links(a1)["pending-limit"]) == (1, "₹5,400.00")


def test_deciding_a_document_moves_the_figures_at_once(client_for, alice, tenant_a, reg_a1, pending):
    with tenant_scope(tenant_a):
        type(pending["cn_oct"]).objects.filter(pk=pending["cn_oct"].pk).update(local_action="A")
        type(pending["cna_free"]).objects.filter(pk=pending["cna_free"].original_id).update(portal_action="R")
        limits = nearest_pending_limits(tenant=tenant_a, registrations=[reg_a1], today=dt.date(2025, 12, 5))
    # the credit note accepted leaves; the amendment whose original is now rejected joins
    assert limits[reg_a1.pk].documents == 3
    assert limits[reg_a1.pk].itc == Decimal("1980.00")  # (5,000 + 2,000 + 4,000) x 18 %
    assert limits[reg_a1.pk].due == dt.date(2025, 12, 20)


def test_a_gstin_with_nothing_under_the_limit_says_so(client_for, alice, tenant_a, reg_a1):
    make_doc(reg_a1, section="b2bcn", portal_action="A", supplier_filing_date=dt.date(2025, 11, 5))
    client = client_for(alice)
    with at(dt.date(2025, 12, 5)):
        a1 = card(client.get(HOME).content.decode(), reg_a1.gstin)
        assert (
            'data-today="pending-limit">Pending limit</a>: <span>no document kept pending under the one-period limit'
            in a1
        )
        assert deadline_totals(client, links(a1)["pending-limit"])[0] == 0
