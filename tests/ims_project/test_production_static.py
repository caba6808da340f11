"""The production image's static files: ``collectstatic`` with the storage production uses (whitenoise, compressed,
hashed names — the Dockerfile's build step), then pages rendered with ``DEBUG`` off from what it collected. Every
vendored file must collect: a bundle that names a source map the repository does not ship fails the build."""

from __future__ import annotations

import json

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse
from django.views.defaults import server_error

pytestmark = pytest.mark.django_db
PRODUCTION_STORAGE = "whitenoise.storage.CompressedManifestStaticFilesStorage"


@pytest.fixture
def collected(tmp_path):
    """STATIC_ROOT filled by collectstatic with the production storage, served by whitenoise from there only."""
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": PRODUCTION_STORAGE}}
    with override_settings(
        STATIC_ROOT=str(tmp_path),
        STORAGES=storages,
        WHITENOISE_USE_FINDERS=False,
        WHITENOISE_AUTOREFRESH=False,
    ):
        call_command("collectstatic", interactive=False, verbosity=0)
        yield tmp_path


def test_collectstatic_with_the_production_storage_writes_a_manifest_of_every_file(collected):
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    for name in (
        "vendor/bootstrap.min.css",
        "vendor/bootstrap.bundle.min.js",
        "vendor/chart.umd.min.js",
        "vendor/htmx.min.js",
        "js/app.js",
        "css/app.css",
    ):
        assert name in manifest, name
        assert (collected / manifest[name]).exists()
        assert (collected / f"{manifest[name]}.gz").exists()


def test_pages_render_with_debug_off_from_the_collected_files(collected, client_for, alice, tenant_a):
    assert settings.DEBUG is False
    login = client_for(alice).get(reverse("tenant-home", args=[tenant_a.slug]))
    assert login.status_code == 200
    page = login.content.decode()
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    for name in ("vendor/bootstrap.min.css", "vendor/bootstrap.bundle.min.js", "js/app.js"):
        hashed = f"/static/{manifest[name]}"
        assert hashed in page, name
        served = client_for(alice).get(hashed)
        assert served.status_code == 200, hashed
        assert b"".join(served.streaming_content if served.streaming else [served.content])


def test_an_unknown_page_is_the_sites_404_page_with_its_collected_stylesheet(
    collected, client, client_for, alice
):
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    stylesheet = f"/static/{manifest['vendor/bootstrap.min.css']}"
    for visitor in (client, client_for(alice)):
        missing = visitor.get("/no-such-page/")
        assert missing.status_code == 404
        page = missing.content.decode()
        assert 'id="not-found"' in page
        assert stylesheet in page


def test_a_server_error_is_the_sites_500_page_with_its_collected_stylesheet(collected, rf):
    manifest = json.loads((collected / "staticfiles.json").read_text())["paths"]
    # Django's handler500 renders 500.html without a request context (the request itself may be what failed).
    failed = server_error(rf.get("/t/acme/"))
    assert failed.status_code == 500
    page = failed.content.decode()
    assert 'id="server-error"' in page
    assert f"/static/{manifest['vendor/bootstrap.min.css']}" in page
