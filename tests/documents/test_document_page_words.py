"""The document page as each person should see it: a viewer is told they may only look (no verdicts of actions they
cannot take); a bill of entry offers Accept and Pending only, and says it has no supplier GSTIN (issue #14 §7,
docs/rules/sections.md §4.1)."""

from __future__ import annotations

import re

from tests import factories
from tests.documents.helpers import make_doc


def page(client, doc) -> str:
    return client.get(f"/t/acme/documents/{doc.pk}/").content.decode()


def test_a_viewer_is_told_they_may_only_look(client_for, tenant_a, reg_a1):
    viewer = factories.make_user("vera")
    factories.make_member(tenant_a, viewer, "viewer", gstins=[reg_a1])
    text = page(client_for(viewer), make_doc(reg_a1))
    assert 'id="view-only"' in text
    assert "Take an action" not in text
    assert 'id="action-verdicts"' not in text
    assert "Set here, not yet pushed" in text


def test_a_bill_of_entry_offers_accept_and_pending_only(client_for, alice, reg_a1):
    boe = make_doc(
        reg_a1, section="impg", supplier_gstin="", pos="", port_code="INNSA1", doc_number="7001234"
    )
    text = page(client_for(alice), boe)
    form = re.search(r'<form[^>]*id="document-action-form".*?</form>', text, re.S)[0]
    offered = re.findall(r'<option value="(\w)"', form)
    assert offered == ["A", "P", "N"]
    assert "none: an import from overseas" in text
    assert "INNSA1" in text
