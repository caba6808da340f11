"""Shared set-up of the benchmarks: a separate bench database, migrated, and a tenant with N documents.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ims_bench .venv/bin/python bench/bench_xxx.py

``configure()`` points Django at the bench database (DATABASE_URL, default ``ims_bench``), creates it if missing
and migrates it. ``ensure_documents(n)`` makes sure the bench tenant (slug ``bench``) holds at least ``n``
generated documents, loading the missing ones through the ingest service, and returns ``(tenant, registrations)``.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ims_bench"
BENCH_SLUG = "bench"
PERIODS = [
    "042025",
    "052025",
    "062025",
    "072025",
    "082025",
    "092025",
    "102025",
    "112025",
    "122025",
    "012026",
    "022026",
    "032026",
]
# The bench tenant's GSTINs and their share of the documents.
BENCH_REGISTRATIONS = (("27", "1", 0.6), ("27", "2", 0.25), ("29", "1", 0.15))
BATCH = 50_000


def owner_url(url: str) -> str:
    """The bench database ``url`` as its tables' owner: ``DATABASE_OWNER_URL``'s user, password, host and port when
    set (the application then logs in as a role that owns nothing: docs/decisions/0013), else ``url`` itself."""
    owner = os.environ.get("DATABASE_OWNER_URL")
    if not owner:
        return url
    return urlunsplit(urlsplit(owner)._replace(path=urlsplit(url).path))


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(owner_url(url))
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


# The databases a bench may drop: ims_bench…, or ims_<someone>_bench… (a second bench database beside another's).
_BENCH_NAME = re.compile(r"ims_(?:[a-z0-9]+_)?bench\w*")


def check_bench_database(name: str) -> None:
    """Refuse to drop or empty a database that is not named as a bench database."""
    if not _BENCH_NAME.fullmatch(name):
        raise ValueError(f"refusing to drop {name!r}: only ims_bench… or ims_<name>_bench… databases")


def recreate_database(url: str) -> None:
    """Drop and create a database (for benchmarks that need an empty one)."""
    import psycopg

    parts = urlsplit(owner_url(url))
    name = parts.path.lstrip("/")
    check_bench_database(name)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


_configured = False


@contextmanager
def as_owner(cur) -> Iterator[None]:
    """A bench's set-up steps that only the tables' owner may take (ANALYZE, VACUUM, TRUNCATE, CHECKPOINT, a
    trigger switched, a copy of a table made and COPYed into) run as the connecting user on ``cur`` (a Django or
    psycopg cursor, in or out of a transaction); what a bench measures runs as the application's role, under the
    row-level security the product runs with (docs/decisions/0012-row-level-security.md)."""
    from ims_project import rls

    if not rls.enabled():
        yield
        return
    cur.execute("SET ROLE NONE")
    try:
        yield
    finally:
        cur.execute(f"SET ROLE {rls.role()}")


def configure(url: str | None = None) -> str:
    """Set up Django on the bench database (created and migrated if needed); returns its URL."""
    global _configured
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    url = url or os.environ.get("DATABASE_URL") or DEFAULT_URL
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ims_project.settings_test")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    _ensure_database(url)
    import django

    django.setup()
    if not _configured:
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connections

        from ims_project import priority

        as_worker = os.environ.get("BENCH_AS_WORKER") == "1"
        if as_worker:
            # A bench standing for a worker's task (bench_concurrency's jobs): at the worker's CPU priority from here
            # on, its database sessions too once migrate has made the function they call (ims_project.priority).
            priority.lower_cpu(settings.IMS_WORKER_NICE)
        call_command("migrate", verbosity=0)
        _configured = True
        if as_worker:
            priority.lower_sessions(settings.IMS_WORKER_NICE, connections)
    return url


def bench_tenant():
    """The bench tenant and its registrations (created on first use)."""
    from audit.services import Actor
    from gst.gstin import make_gstin
    from tenancy import services
    from tenancy.models import Registration, Tenant
    from tenancy.scoping import tenant_scope

    actor = Actor.system("bench")
    tenant = Tenant.objects.filter(slug=BENCH_SLUG).first() or services.create_tenant(
        name="Bench Manufacturing", slug=BENCH_SLUG, actor=actor
    )
    regs = []
    with tenant_scope(tenant):
        for state, entity, _share in BENCH_REGISTRATIONS:
            gstin = make_gstin(state, "AABCB9876M", entity)
            reg = Registration.objects.filter(
                tenant=tenant, gstin=gstin
            ).first() or services.add_registration(
                tenant=tenant,
                actor=actor,
                gstin=gstin,
                legal_name="Bench Manufacturing Ltd",
                filing_frequency="Q" if state == "29" else "M",
            )
            regs.append(reg)
    return tenant, regs


def ensure_documents(n: int, *, verbose: bool = True) -> tuple:
    """At least ``n`` documents in the bench tenant (spread over its GSTINs); returns (tenant, registrations)."""
    configure()
    from audit.services import Actor
    from invoices.models import SupplierDocument
    from invoices.services.ingest import ingest_documents
    from tenancy.scoping import tenant_scope
    from tools.generator import batches, supplier_names

    tenant, regs = bench_tenant()
    with tenant_scope(tenant):
        have = SupplierDocument.objects.filter(tenant=tenant).count()
    if have >= n:
        return tenant, regs
    if verbose:
        print(
            f"[bench] loading {n - have:,} documents into the bench tenant (have {have:,}, want {n:,}) ...",
            flush=True,
        )
    start = time.perf_counter()
    for i, (reg, (_s, _e, share)) in enumerate(zip(regs, BENCH_REGISTRATIONS, strict=True)):
        want = round(n * share)
        args = {"seed": 1000 + i, "recipient_gstin": reg.gstin, "n_suppliers": 3000 if share > 0.5 else 1200}
        names = supplier_names(**args)
        for batch in batches(**args, periods=PERIODS, n_docs=want, batch_size=BATCH):
            result = ingest_documents(
                tenant=tenant,
                registration=reg,
                records=batch,
                actor=Actor.system("bench"),
                source="bench",
                supplier_names=names,
                audit_created=False,
            )
            if result.errors:
                raise RuntimeError(result.errors[:3])
    if verbose:
        print(f"[bench] loaded in {time.perf_counter() - start:.0f} s", flush=True)
    return tenant, regs
