"""Rules run after each successful sync (the gst_sync.services.run_sync hook), over the sandbox portal."""

from __future__ import annotations

from audit.models import AuditEvent
from audit.services import Actor
from autorules import services as rules
from autorules.models import AutoRuleRun
from gst_sync import services
from invoices.models import SupplierDocument
from tenancy import services as tenancy_services
from tenancy.scoping import tenant_scope
from tests import factories
from tests.gst_sync.conftest import (  # noqa: F401 - fixtures
    OTP,
    RECIPIENT,
    USERNAME,
    adapter,
    connect_gstin,
    doc,
    make_config,
    portal,
    sandbox,
    sandbox_url,
)

ACTOR = Actor.system("tests")


def test_a_successful_sync_runs_the_rules_on_the_synced_gstin(db, portal, sandbox):  # noqa: F811
    tenant = factories.make_tenant("Acme Rules", "acme-rules")
    owner = factories.make_user("ruler")
    factories.make_member(tenant, owner, "owner")
    with tenant_scope(tenant):
        reg = tenancy_services.add_registration(
            tenant=tenant, actor=ACTOR, gstin=RECIPIENT, legal_name="Acme"
        )
        connect_gstin(tenant, reg, portal, ACTOR)
        rule = rules.create_rule(
            tenant=tenant,
            actor=ACTOR,
            owner=owner,
            name="Accept filed",
            action="A",
            conditions=[{"type": "filing_status", "value": "filed"}],
        )
    sandbox.seed(b2b=[doc("F-1"), doc("F-2"), doc("U-1", filed=False), doc("R-1", action="R")])
    with tenant_scope(tenant):
        (run,) = services.queue_sync(tenant=tenant, actor=ACTOR, registration=reg, sections=["b2b"])
    assert services.run_sync(run.pk, adapter=portal).status == "succeeded"
    with tenant_scope(tenant):
        local = dict(SupplierDocument.objects.values_list("doc_number", "local_action"))
        rule_run = AutoRuleRun.objects.get()
        labels = set(AuditEvent.objects.filter(action="ims.action_set").values_list("actor_label", flat=True))
    assert local == {"F-1": "A", "F-2": "A", "U-1": None, "R-1": None}
    assert (rule_run.trigger, rule_run.registration_id, rule_run.applied) == ("sync", reg.pk, 2)
    assert labels == {f"autorule:{rule.pk}"}
