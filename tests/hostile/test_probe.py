"""The probe of ``make probe`` (tools/probe.py) holds its figures at zero in the suite: every route, as each role,
anonymous and as the owner of another organisation, answers without a 500 and shows that organisation nothing of
this one; and its hostile values (NUL, ``x`` for a number, ``1e309``, 20,000 characters, JSON 3,000 deep, a
100,000-digit number, hostile files) sent to the routes that read query, form, JSON and file fields are refused,
never a 500."""

from __future__ import annotations

import pytest

from tools import probe

pytestmark = pytest.mark.django_db

HOSTILE_ROUTES = (
    "t/<slug:tenant_slug>/reconciliation/",
    "t/<slug:tenant_slug>/reconciliation/matches/",
    "t/<slug:tenant_slug>/reconciliation/why-not/",
    "t/<slug:tenant_slug>/reconciliation/register/",
    "t/<slug:tenant_slug>/portal/files/",
    "t/<slug:tenant_slug>/portal/outward/",
    "t/<slug:tenant_slug>/documents/",
    "t/<slug:tenant_slug>/documents/views/",
    "t/<slug:tenant_slug>/suppliers/",
    "api/v1/auth/token/",
    "api/v1/t/<slug:tenant_slug>/suppliers/",
    "api/v1/t/<slug:tenant_slug>/autorules/",
    "api/v1/t/<slug:tenant_slug>/purchase-register/",
    "api/v1/t/<slug:tenant_slug>/registrations/<int:registration_id>/portal-files/",
)


@pytest.fixture
def world(tenant_a, reg_a1, reg_a2, alice, bob, pat, charlie):
    return probe.World(tenant_a, {"owner": alice, "viewer": bob, "preparer": pat}, charlie)


def test_every_route_as_every_role_has_no_500_and_no_leak(world):
    figures = probe.run(world=world, hostile=False)
    assert figures.routes == len(probe.probe_routes()) > 150
    assert figures.roles == 5
    assert figures.requests >= figures.routes * figures.roles
    assert figures.server_errors == 0, figures.lines()
    assert figures.leaks == 0, figures.lines()


def test_the_hostile_values_of_issue_13_are_refused_not_a_500(world, settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path)
    assert set(HOSTILE_ROUTES) <= set(probe.probe_routes())
    figures = probe.run(world=world, routes=list(HOSTILE_ROUTES))
    assert figures.server_errors == 0, figures.lines()
    assert figures.bad_inputs_refused > 100


def test_the_probe_prints_the_fault_runs_figures_instead_of_not_covered():
    """``make probe`` runs the bounded fault run (scripts/probe.py) and prints its figures; without it the lines say
    the probe did not cover faults."""
    run = {
        "jobs": 300,
        "by_kind": {"bulk": 150, "sync": 15},
        "faults_injected": 3,
        "faults_survived": 3,
        "stuck": 0,
        "duplicates": 0,
        "failed": 0,
        "seconds": 240,
    }
    lines = probe.Figures(faults=run).lines()
    assert (
        "faults injected: 3 (a worker killed with SIGKILL mid-job, Redis stopped, every job delivered twice)"
        in lines
    )
    assert {"faults survived: 3", "stuck jobs: 0", "jobs done twice in effect: 0"} <= set(lines)
    assert "fault run: 300 jobs (bulk 150, sync 15), two workers, 240 s" in lines
    assert "stuck jobs: not covered by this probe" in probe.Figures().lines()
