"""The churning queue tables carry their own autovacuum thresholds, and production PostgreSQL runs autovacuum with
the settings docs/performance.md §3.10 explains."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from django.db import connection

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("table", ["gst_sync_pushqueue", "returns_deadlinedirty"])
def test_queue_tables_are_vacuumed_after_a_fixed_number_of_changes(table):
    with connection.cursor() as cur:
        cur.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        options = dict(o.split("=") for o in cur.fetchone()[0])
    assert options["autovacuum_vacuum_scale_factor"] == "0"
    assert options["autovacuum_vacuum_threshold"] == "1000"
    assert options["autovacuum_analyze_threshold"] == "1000"


def test_production_postgres_runs_autovacuum_tuned_for_the_bulk_paths():
    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["postgres"]["command"]
    settings = dict(c.split("=", 1) for c in command if "=" in c)
    assert settings["autovacuum"] == "on"
    assert float(settings["autovacuum_vacuum_scale_factor"]) <= 0.05
    assert float(settings["autovacuum_analyze_scale_factor"]) <= 0.02
    assert int(settings["autovacuum_vacuum_cost_limit"]) >= 1000
