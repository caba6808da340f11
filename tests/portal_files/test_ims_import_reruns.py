"""An IMS JSON import stands in for a sync: a GSTIN already reconciled is reconciled again once the import commits;
a GSTIN never reconciled, or a file that changes nothing, starts no run."""

from __future__ import annotations

import datetime as dt

import pytest

from gst_sync.files.imports import import_ims_files
from reconciliation import services as recon
from reconciliation import tasks
from reconciliation.models import ReconRun
from tenancy.models import Membership
from tenancy.scoping import tenant_scope

from .conftest import ACTOR, ims_sample, upload

pytestmark = pytest.mark.django_db(transaction=True)  # reruns are queued when the import commits


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The run ids handed to the worker."""
    ids: list[int] = []
    monkeypatch.setattr(tasks.run_recon_task, "delay", ids.append)
    return ids


def import_sample(tenant, reg):
    with tenant_scope(tenant):
        return import_ims_files(
            tenant=tenant, actor=ACTOR, registration=reg, files=[upload(ims_sample(), "ims.json")]
        )


def runs(tenant) -> list[ReconRun]:
    with tenant_scope(tenant):
        return list(ReconRun.objects.filter(tenant=tenant).order_by("pk"))


def test_an_ims_file_import_into_a_reconciled_gstin_queues_a_rerun_of_its_range(acme, owner, sent):
    tenant, reg = acme
    with tenant_scope(tenant):
        first = recon.start_run(
            tenant=tenant,
            actor=ACTOR,
            user=owner,
            membership=Membership.objects.get(tenant=tenant, user=owner),
            registrations=[reg],
            date_from=dt.date(2025, 10, 1),
            date_to=dt.date(2025, 10, 31),
        )
    tasks.run_recon_task(sent.pop())
    assert runs(tenant)[-1].status == "done"

    result = import_sample(tenant, reg)
    assert result.ingest.created > 0
    first_run, rerun = runs(tenant)
    assert first_run.pk == first.pk
    assert sent == [rerun.pk]
    assert (rerun.status, rerun.registration_ids, rerun.date_from, rerun.date_to) == (
        "queued",
        [reg.pk],
        dt.date(2025, 10, 1),
        dt.date(2025, 10, 31),
    )
    assert rerun.actor_type == "system"
    assert "IMS file import" in rerun.actor_label

    sent.clear()
    import_sample(tenant, reg)  # the same file again changes nothing: no further run
    assert sent == []
    assert len(runs(tenant)) == 2


def test_an_ims_file_import_into_a_gstin_never_reconciled_starts_no_run(acme, sent):
    tenant, reg = acme
    assert import_sample(tenant, reg).ingest.created > 0
    assert sent == []
    assert runs(tenant) == []
