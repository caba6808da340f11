"""Action rules of the Import of Goods and ISD tabs (docs/rules/sections.md §4): a bill of entry takes Accept or
Pending only; ISD Pending is allowed by default and refusable by the rules (UNVERIFIED on the portal)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from gst.rule_data import DEFAULT_RULES
from gst.rules import ActionRequest, Context, DocumentFacts, evaluate
from gst.sections import Section

TODAY = Context(today=dt.date(2025, 11, 5))
BOE = (Section.IMPG, Section.IMPGA, Section.IMPGSEZ, Section.IMPGSEZA)
ISD = (Section.ISD, Section.ISDA, Section.ISDCN, Section.ISDCNA)


@pytest.mark.parametrize("section", BOE)
def test_a_bill_of_entry_cannot_be_rejected(section):
    decision = evaluate(ActionRequest("R"), DocumentFacts(section=section), TODAY)
    assert not decision.allowed
    assert decision.code == "action_not_allowed"
    assert "cannot be rejected" in decision.message


@pytest.mark.parametrize("section", BOE)
@pytest.mark.parametrize("action", ["A", "P", "N"])
def test_a_bill_of_entry_may_be_accepted_kept_pending_or_reset(section, action):
    assert evaluate(ActionRequest(action), DocumentFacts(section=section), TODAY).allowed


@pytest.mark.parametrize("section", ISD)
def test_isd_documents_may_be_kept_pending_by_default_and_rejected(section):
    facts = DocumentFacts(section=section, twob_period=dt.date(2025, 10, 1))
    assert evaluate(ActionRequest("P"), facts, TODAY).allowed
    assert evaluate(ActionRequest("R"), facts, TODAY).allowed


@pytest.mark.parametrize("section", ISD)
def test_rules_that_refuse_isd_pending_refuse_it(section):
    rules = dataclasses.replace(DEFAULT_RULES, isd_pending_allowed=False)
    decision = evaluate(ActionRequest("P"), DocumentFacts(section=section), Context(TODAY.today, rules))
    assert decision.code == "pending_not_allowed"


def test_the_portal_block_flag_still_wins_for_isd():
    facts = DocumentFacts(section=Section.ISD, pending_blocked=True)
    assert evaluate(ActionRequest("P"), facts, TODAY).code == "pending_blocked_by_portal"
