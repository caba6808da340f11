"""Personas: alice owns tenant A; bob is a viewer in A; pat is a preparer in A granted one GSTIN;
charlie owns tenant B."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path

import hypothesis
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test import override_settings

from tests import factories

# Hypothesis on a shared 2-core machine: how long generating or running one example takes says nothing about the
# product (speed is measured in bench/, never asserted in tests), so neither is a failure here.
hypothesis.settings.register_profile(
    "ims", deadline=None, suppress_health_check=[hypothesis.HealthCheck.too_slow]
)
hypothesis.settings.load_profile("ims")

# pytest-xdist runs the suite in worker processes (gw0, gw1, ...); pytest-django gives each its own test database
# (test_<name>_gw0, ...). This names the rest of what a worker owns: its Redis keys and its folder.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.hookimpl(trylast=True)  # after tests/browser/conftest.py has marked its tests
def pytest_collection_modifyitems(config, items):
    """The longest tests first (slow, then browser): started early, they run beside the short ones, which the
    other workers take over (--dist worksteal), instead of alone at the end of a parallel run."""
    items.sort(
        key=lambda item: (item.get_closest_marker("slow") is None, item.get_closest_marker("browser") is None)
    )


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say plainly whether the browser tests (tests/browser/) ran. Here, not in tests/browser/conftest.py: under
    xdist the process that reports collects nothing, so it loads only this conftest."""
    from tests.browser.conftest import CHROMIUM

    outcomes = {}
    for status in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(status, []):
            if "browser" in getattr(report, "keywords", {}) and report.when in ("call", "setup"):
                if status == "passed" and report.when != "call":
                    continue
                outcomes[status] = outcomes.get(status, 0) + 1
    if outcomes:
        text = ", ".join(f"{n} {status}" for status, n in outcomes.items())
        terminalreporter.write_line(f"BROWSER TESTS RAN (Chromium {CHROMIUM}): {text}", bold=True)
    else:
        terminalreporter.write_line(
            "BROWSER TESTS DID NOT RUN (deselected, or not collected)", yellow=True, bold=True
        )


@contextmanager
def run_lock(folder: Path):
    """One xdist worker at a time (the folder is this run's, shared by its workers)."""
    with open(folder / "test-db.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def django_db_setup(
    request,
    django_db_blocker,
    django_db_use_migrations,
    django_db_keepdb,
    django_db_modify_db_settings,
    tmp_path_factory,
):
    """The workers' test databases, migrated once per run instead of once per worker: the first worker migrates a
    template database under a lock, every worker copies it (CREATE DATABASE … TEMPLATE: a quarter of a second
    against seconds of migrations) and drops its copy at the end; the last worker using the template drops it (a
    worker needing it later migrates it again). Without xdist, with --reuse-db or --nomigrations: pytest-django's own
    setup."""
    if WORKER == "main" or django_db_keepdb or not django_db_use_migrations:
        yield request.getfixturevalue("django_db_setup")  # pytest-django's
        return
    run_folder = tmp_path_factory.getbasetemp().parent  # this run's, shared by its workers
    marker, users = run_folder / "test-db.template", run_folder / "test-db.users"
    copy = connection.creation._get_test_db_name()  # test_<name>_gw0 (django_db_modify_db_settings)
    template = f"{copy.removesuffix(f'_{WORKER}')}_template"
    with django_db_blocker.unblock(), run_lock(run_folder):
        if not marker.exists():  # never trust a template left by another run: its migrations may be older
            connection.settings_dict["TEST"]["NAME"] = template
            connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
            connection.close()
            marker.write_text(template)
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{copy}"')
            cursor.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"')
        users.write_text((users.read_text() if users.exists() else "") + f"{WORKER}\n")
    connection.settings_dict["NAME"] = settings.DATABASES["default"]["NAME"] = copy
    connection.settings_dict["TEST"]["NAME"] = copy
    yield
    with django_db_blocker.unblock(), run_lock(run_folder):
        connection.close()
        left = [name for name in users.read_text().split() if name != WORKER]
        users.write_text("".join(f"{name}\n" for name in left))
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
            if not left:
                cursor.execute(f'DROP DATABASE IF EXISTS "{template}"')
                marker.unlink()


@pytest.fixture(scope="session", autouse=True)
def worker_owns_its_files_and_queues(tmp_path_factory):
    """What the code writes (uploads and kept register files under MEDIA_ROOT, exports, var/: pings, the beat
    schedule) goes to this session's temporary folder, one per worker, never into the repository; processes the
    tests start inherit it through IMS_VAR_DIR. The Celery messages the tests send go to Redis under a key prefix of
    the database and the worker (two workers, or two suites with different DATABASE_URLs, never share a queue) and
    are deleted when the session ends."""
    var = tmp_path_factory.mktemp("var")
    prefix = f"ims-test-{settings.DATABASES['default']['NAME']}-{WORKER}:"
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS}
    if settings.CELERY_BROKER_URL.startswith("redis"):
        options["global_keyprefix"] = prefix
    previous = os.environ.get("IMS_VAR_DIR")
    os.environ["IMS_VAR_DIR"] = str(var)
    try:
        with override_settings(
            VAR_DIR=var,
            MEDIA_ROOT=str(var / "media"),
            EXPORT_DIR=var / "exports",
            CELERY_BEAT_SCHEDULE_FILENAME=str(var / "celerybeat-schedule"),
            CELERY_BROKER_TRANSPORT_OPTIONS=options,
        ):
            yield var
    finally:
        if previous is None:
            os.environ.pop("IMS_VAR_DIR", None)
        else:
            os.environ["IMS_VAR_DIR"] = previous
        if "global_keyprefix" in options:
            try:
                client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
                keys = list(client.scan_iter(match=f"{prefix}*"))
                if keys:
                    client.delete(*keys)
                client.close()
            except redis.RedisError:
                pass


@pytest.fixture
def tenant_a(db):
    return factories.make_tenant("Acme Traders", "acme")


@pytest.fixture
def tenant_b(db):
    return factories.make_tenant("Bharat Steel", "bharat")


@pytest.fixture
def reg_a1(tenant_a):
    return factories.make_registration(tenant_a, state="27", n=1)


@pytest.fixture
def reg_a2(tenant_a):
    return factories.make_registration(tenant_a, state="29", n=2, frequency="Q")


@pytest.fixture
def reg_b1(tenant_b):
    return factories.make_registration(tenant_b, state="24", n=3)


@pytest.fixture
def alice(tenant_a):
    user = factories.make_user("alice")
    factories.make_member(tenant_a, user, "owner")
    return user


@pytest.fixture
def bob(tenant_a):
    user = factories.make_user("bob")
    factories.make_member(tenant_a, user, "viewer", gstins=[])
    return user


@pytest.fixture
def pat(tenant_a, reg_a1):
    user = factories.make_user("pat")
    factories.make_member(tenant_a, user, "preparer", gstins=[reg_a1])
    return user


@pytest.fixture
def charlie(tenant_b):
    user = factories.make_user("charlie")
    factories.make_member(tenant_b, user, "owner")
    return user


@pytest.fixture
def client_for(client):
    """Log a persona in on the Django test client: ``client_for(alice)``."""

    def _login(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return _login
