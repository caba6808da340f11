"""A finished export is a copy of data the user could see when it ran: it can be downloaded only while the user's
access in the organisation has not narrowed since (a GSTIN grant revoked, the role changed, removed and invited
again). Otherwise the download is refused with a clear message and the user can export again."""

from __future__ import annotations

import pytest

from audit.services import Actor
from exports import services
from exports.tasks import run_export_task
from tenancy import services as tenancy_services
from tenancy.models import Membership
from tenancy.scoping import tenant_scope

pytestmark = pytest.mark.django_db
ADMIN = Actor.system("tests")


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"


def _finished_export(tenant, user):
    with tenant_scope(tenant):
        job = services.start_export(tenant=tenant, user=user, kind="documents", params={})
    run_export_task(job.pk)
    with tenant_scope(tenant):
        job.refresh_from_db()
    assert job.status == "done", job.error
    return job


def _grant(tenant, user, *regs):
    with tenant_scope(tenant):
        tenancy_services.set_gstin_grants(tenant=tenant, actor=ADMIN, user=user, registrations=list(regs))


def test_a_revoked_gstin_grant_stops_the_download_of_an_earlier_export(
    tenant_a, reg_a1, reg_a2, pat, client_for
):
    _grant(tenant_a, pat, reg_a1, reg_a2)
    job = _finished_export(tenant_a, pat)
    url = f"/t/{tenant_a.slug}/exports/{job.pk}/download/"
    assert client_for(pat).get(url).status_code == 200

    _grant(tenant_a, pat, reg_a1)  # reg_a2 revoked
    response = client_for(pat).get(url)
    assert response.status_code == 403
    page = response.content.decode()
    assert "Your access in Acme Traders changed since this export was made" in page
    assert "export the list again" in page
    # The job page no longer offers the download either.
    assert (
        f'href="{url}"' not in client_for(pat).get(f"/t/{tenant_a.slug}/exports/{job.pk}/").content.decode()
    )


def test_a_changed_role_stops_the_download(tenant_a, reg_a1, alice, pat, client_for):
    job = _finished_export(tenant_a, pat)
    with tenant_scope(tenant_a):
        membership = Membership.objects.get(tenant=tenant_a, user=pat)
        tenancy_services.set_role(
            tenant=tenant_a, actor=Actor.user(alice), membership=membership, role="viewer"
        )
        tenancy_services.set_role(
            tenant=tenant_a, actor=Actor.user(alice), membership=membership, role="preparer"
        )
    assert client_for(pat).get(f"/t/{tenant_a.slug}/exports/{job.pk}/download/").status_code == 403


def test_a_new_grant_or_someone_elses_change_does_not_stop_the_download(
    tenant_a, reg_a1, reg_a2, alice, bob, pat, client_for
):
    pats = _finished_export(tenant_a, pat)
    alices = _finished_export(tenant_a, alice)
    _grant(tenant_a, pat, reg_a1, reg_a2)  # pat gains a GSTIN
    _grant(tenant_a, bob, reg_a1)
    _grant(tenant_a, bob)  # bob loses one
    assert client_for(pat).get(f"/t/{tenant_a.slug}/exports/{pats.pk}/download/").status_code == 200
    assert client_for(alice).get(f"/t/{tenant_a.slug}/exports/{alices.pk}/download/").status_code == 200


def test_an_export_made_after_the_change_downloads(tenant_a, reg_a1, reg_a2, pat, client_for):
    _grant(tenant_a, pat, reg_a1, reg_a2)
    _grant(tenant_a, pat, reg_a1)
    job = _finished_export(tenant_a, pat)
    assert client_for(pat).get(f"/t/{tenant_a.slug}/exports/{job.pk}/download/").status_code == 200
