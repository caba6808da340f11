"""Write-back to the ERP through a signed webhook (issue #12 §4): the proposals of a run sent to the organisation's
webhook subscribed to ``reconciliation.writeback`` — HMAC-SHA256 with the webhook's secret over the timestamp and
body, retried with back-off by a worker, the same idempotency key on every attempt and never sent twice, audited,
and only by a member who may act."""

import json

from audit.models import AuditEvent
from audit.services import Actor
from suppliers import services as webhooks
from suppliers import signing
from suppliers.models import WebhookDelivery
from tenancy.scoping import tenant_scope
from tests.reconciliation.test_matching_as_typed import doc, line, reconcile, upsert
from tests.suppliers.conftest import receiver  # noqa: F401 - fixture

SEND = "/api/v1/t/acme/reconciliation/writeback/send/"


def deliver_all(tenant) -> list[str]:
    """What the worker does for each pending delivery (the task schedules the next attempt while it is pending)."""
    with tenant_scope(tenant):
        ids = list(WebhookDelivery.objects.filter(status="pending").values_list("pk", flat=True))
    return [webhooks.deliver_webhook(delivery_id=i) for i in ids]


def test_corrections_go_to_the_erp_signed_retried_with_one_idempotency_key_and_only_once(
    tenant_a,
    reg_a1,
    alice,
    bob,
    client_for,
    receiver,  # noqa: F811 - the fixture imported above
    django_capture_on_commit_callbacks,
):
    typo = doc(reg_a1, "INV/042")
    missing = doc(reg_a1, "NEW/5")
    upsert(tenant_a, alice, [line(reg_a1, "INV/O42", "W1")])
    run = reconcile(tenant_a, alice, [reg_a1])
    with tenant_scope(tenant_a):
        made = webhooks.create_webhook(
            tenant=tenant_a, actor=Actor.user(alice), url=receiver.url, events=["reconciliation.writeback"]
        )
        # A second organisation's-webhook for another event gets nothing.
        webhooks.create_webhook(tenant=tenant_a, actor=Actor.user(alice), url=receiver.url + "/other")
    c = client_for(alice)
    proposals = c.get("/api/v1/t/acme/reconciliation/writeback/", {"run": run.pk}).json()["results"]
    keys = {p["supplier_document"]["id"]: p["idempotency_key"] for p in proposals}

    with django_capture_on_commit_callbacks() as after_commit:
        r = c.post(SEND, {"run": run.pk}, content_type="application/json")
    assert r.status_code == 200, r.content
    for (
        callback
    ) in after_commit:  # the commit hands the proposals to the webhooks (the worker is not called here)
        callback()
    assert sorted(r.json()["sent"]) == sorted(keys.values())

    receiver.status = 503  # the ERP is down: the delivery stays pending, to be tried again
    assert deliver_all(tenant_a) == ["pending", "pending"]
    receiver.status = 200
    assert deliver_all(tenant_a) == ["succeeded", "succeeded"]
    assert {x["path"] for x in receiver.requests} == {"/hook"}
    by_key: dict[str, list[dict]] = {}
    for request in receiver.requests:
        by_key.setdefault(request["headers"]["Idempotency-Key"], []).append(request)
    assert set(by_key) == set(keys.values())
    for attempts in by_key.values():
        assert len(attempts) == 2
        assert attempts[0]["body"] == attempts[1]["body"]
        for attempt in attempts:
            assert signing.verify(made.secret, attempt["body"], attempt["headers"][signing.HEADER])
            assert not signing.verify("whsec_other", attempt["body"], attempt["headers"][signing.HEADER])
    fix = json.loads(by_key[keys[typo.pk]][0]["body"])
    assert (fix["event"], fix["type"], fix["line"]["erp_ref"], fix["supplier_document"]["doc_number"]) == (
        "reconciliation.writeback",
        "correct_line",
        "W1",
        "INV/042",
    )
    new = json.loads(by_key[keys[missing.pk]][0]["body"])
    assert (new["type"], new["line"], new["supplier_document"]["taxable"]) == ("new_line", None, "10000.00")

    # Sent again (or from a later run offering the same corrections): nothing goes out twice.
    again = c.post(SEND, {"run": run.pk}, content_type="application/json").json()
    assert (again["sent"], sorted(again["already_sent"])) == ([], sorted(keys.values()))
    rerun = reconcile(tenant_a, alice, [reg_a1])
    later = c.post(SEND, {"run": rerun.pk}, content_type="application/json").json()
    assert later["sent"] == []
    with tenant_scope(tenant_a):
        assert WebhookDelivery.objects.filter(event="reconciliation.writeback").count() == 2
        sent = AuditEvent.objects.filter(tenant=tenant_a, action="recon.writeback_sent")
        assert sorted(e.metadata["idempotency_key"] for e in sent) == sorted(keys.values())

    # A bad run or proposal is named; a member who may not act (a viewer) cannot send.
    assert c.post(SEND, {"run": "x"}, content_type="application/json").json()["field"] == "run"
    assert c.post(SEND, {"run": run.pk, "ids": [999999]}, content_type="application/json").status_code == 404
    assert client_for(bob).post(SEND, {}, content_type="application/json").status_code == 403


def test_without_a_webhook_for_corrections_sending_is_refused_and_nothing_is_marked_sent(
    tenant_a,
    reg_a1,
    alice,
    client_for,
    receiver,  # noqa: F811 - the fixture imported above
):
    from reconciliation.models import WritebackSent  # noqa: PLC0415

    doc(reg_a1, "INV/042")
    doc(reg_a1, "NEW/7")  # only in supplier data: a new-line proposal
    upsert(tenant_a, alice, [line(reg_a1, "INV/O42", "W1")])  # the supplier's number to write back
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    with tenant_scope(tenant_a):  # a webhook for another event does not carry corrections
        webhooks.create_webhook(tenant=tenant_a, actor=Actor.user(alice), url=receiver.url)

    r = c.post(SEND, {"run": run.pk}, content_type="application/json")
    assert r.status_code == 409
    body = r.json()
    assert (body["code"], body["field"]) == ("no_webhook", "webhook")
    assert "Suppliers → Webhooks" in body["message"]
    assert "reconciliation.writeback" in body["message"]
    with tenant_scope(tenant_a):
        assert not WritebackSent.objects.exists()
        assert not WebhookDelivery.objects.exists()
        assert not AuditEvent.objects.filter(action__startswith="recon.writeback").exists()
    # The proposal is still unsent: once a webhook receives corrections, it goes.
    with tenant_scope(tenant_a):
        webhooks.create_webhook(
            tenant=tenant_a, actor=Actor.user(alice), url=receiver.url, events=["reconciliation.writeback"]
        )
    r = c.post(SEND, {"run": run.pk}, content_type="application/json")
    assert r.status_code == 200
    assert len(r.json()["sent"]) == 2
    assert r.json()["already_sent"] == []


PAGE = "/t/acme/reconciliation/writeback/"


def test_the_results_page_writes_back_after_a_confirmation_with_the_count_and_says_when_no_webhook_is_set_up(
    tenant_a,
    reg_a1,
    alice,
    bob,
    client_for,
    receiver,  # noqa: F811 - the fixture imported above
):
    from reconciliation.models import WritebackSent  # noqa: PLC0415

    doc(reg_a1, "INV/042")
    doc(reg_a1, "NEW/5")
    upsert(tenant_a, alice, [line(reg_a1, "INV/O42", "W1")])
    run = reconcile(tenant_a, alice, [reg_a1])
    c = client_for(alice)
    home = c.get(f"/t/acme/reconciliation/?run={run.pk}").content.decode()
    assert f'id="writeback-link" href="{PAGE}?run={run.pk}"' in home

    # No webhook yet: the confirmation says what to set up and offers no send; a send anyway is refused plainly.
    page = c.get(PAGE, {"run": run.pk}).content.decode()
    assert 'id="writeback-refusal"' in page
    assert "Suppliers → Webhooks" in page
    assert 'id="writeback-confirm"' not in page
    r = c.post(PAGE, {"run": run.pk}, follow=True)
    assert r.redirect_chain[-1][0] == f"/t/acme/reconciliation/?run={run.pk}"
    assert "No webhook receives reconciliation corrections" in r.content.decode()
    with tenant_scope(tenant_a):
        assert not WritebackSent.objects.exists()

    with tenant_scope(tenant_a):
        webhooks.create_webhook(
            tenant=tenant_a, actor=Actor.user(alice), url=receiver.url, events=["reconciliation.writeback"]
        )
    page = c.get(PAGE, {"run": run.pk}).content.decode()
    assert "<strong>2</strong> corrections will be sent to the ERP" in page
    assert "Send 2 corrections" in page
    r = c.post(PAGE, {"run": run.pk}, follow=True)
    assert (
        f"Write-back of reconciliation #{run.pk}: 2 corrections sent to the ERP through the webhook."
        in r.content.decode()
    )
    with tenant_scope(tenant_a):
        assert WritebackSent.objects.count() == 2
    page = c.get(PAGE, {"run": run.pk}).content.decode()
    assert "Nothing to send: all 2 corrections of this run went before." in page

    # A member who may not act sees no button and cannot send.
    viewer = client_for(bob)
    assert 'id="writeback-link"' not in viewer.get(f"/t/acme/reconciliation/?run={run.pk}").content.decode()
    assert viewer.get(PAGE, {"run": run.pk}).status_code == 403
    assert viewer.post(PAGE, {"run": run.pk}).status_code == 403
