"""The GSTR-2B preview page in the portal's words: 2B headings, section names, document numbers in the changes since
the previous build, no codes (itcavl, nonrevsup, GET2B …) and no timings in the visible text."""

from __future__ import annotations

import re

from django.urls import reverse

from actions import services as actions_services
from audit.services import Actor
from invoices.models import SupplierDocument
from tenancy.models import Membership
from tenancy.scoping import tenant_scope
from tests.returns.test_preview_pages import build, docs  # noqa: F401 - the documents fixture

CODES = re.compile(r"\b(itcavl|itcunavl|itcRejected|nonrevsup|othersup|itcsumm|cpsumm|b2bcn|GET2B|GEN2B)\b")


def visible_text(html: str) -> str:
    """The page's text as a reader sees it: no tags, attributes or scripts."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_preview_speaks_the_portals_words(client_for, alice, tenant_a, docs):  # noqa: F811
    build(tenant_a, docs)
    with tenant_scope(tenant_a):
        actions_services.set_action(
            tenant=tenant_a,
            actor=Actor.user(alice),
            membership=Membership.objects.get(tenant=tenant_a, user=alice),
            document=SupplierDocument.objects.get(tenant=tenant_a, doc_number="N-1"),
            action="R",
        )
    build(tenant_a, docs)
    html = (
        client_for(alice)
        .get(reverse("twob-preview", args=[tenant_a.slug, docs.pk, "102025"]))
        .content.decode()
    )
    text = visible_text(html)
    assert not CODES.search(text), CODES.search(text)
    assert not re.search(r"\d+ ms\b", text)
    assert "ITC Available Part A – Supplies other than reverse charge B2B invoices" in text  # a summary row
    assert "Part B – Others (credit notes) B2B credit notes" in text
    assert (
        "Changed N-1 ITC Available – Part A – Supplies other than reverse charge – B2B invoices "
        "ITC Rejected (in IMS) – Part A – Supplies other than reverse charge – B2B invoices"
    ) in text
    assert "our reading of the portal" in text  # the one unsure reading, said once
    assert text.count("our reading") == 1
