"""The house rules of issue #10, held by tests: the layer contract, a pure GST package, one pipeline, citations
inside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ims_project import handoff
from pipeline import flows

ROOT = Path(__file__).resolve().parents[2]


def _contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["id"] == "layers"]
    return [" | ".join(part.strip() for part in layer.split("|")) for layer in layers]


def _documented_layers(path: Path) -> list[str]:
    text = path.read_text()
    block = text.split("<!-- layers: start -->", 1)[1].split("<!-- layers: end -->", 1)[0]
    lines = [line for line in block.strip().strip("`").strip().splitlines() if line.strip()]
    # each line: the rooms (separated by " | "), then two or more spaces and what they hold
    return [re.split(r"\s{2,}", line.strip(), maxsplit=1)[0] for line in lines]


@pytest.mark.parametrize("doc", ["README.md", "docs/architecture.md"])
def test_the_documented_app_graph_is_the_import_contract(doc):
    assert _documented_layers(ROOT / doc) == _contract_layers()


def test_every_installed_app_of_ours_has_a_layer():
    from django.conf import settings

    ours = {a.split(".")[0] for a in settings.INSTALLED_APPS if (ROOT / a.split(".")[0]).is_dir()}
    layered = {room.strip() for layer in _contract_layers() for room in layer.split("|")}
    assert ours - layered == set()


def test_the_gst_package_imports_no_framework():
    modules = sorted(p.stem for p in (ROOT / "gst").glob("*.py") if p.stem != "__init__")
    code = (
        f"import sys; import {', '.join('gst.' + m for m in modules)}; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'rest_framework', 'celery', 'psycopg', 'ims_project', 'invoices', 'tenancy'}); print(bad)"
    )
    out = subprocess.run(  # noqa: S603 - our interpreter, our code
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_every_finished_job_event_has_exactly_one_flow():
    events = set(handoff.Event.__args__)
    assert set(flows.ROUTES) == events
    assert {t: f for t, f in handoff.routes().items() if t in events} == flows.ROUTES


def test_a_second_flow_for_an_event_is_refused():
    with pytest.raises(handoff.RouteTaken):
        handoff.route(handoff.SyncFinished, lambda event: None)


def test_a_failing_flow_never_reaches_the_job_that_finished(monkeypatch, caplog):
    def broken(event):
        raise RuntimeError("boom")

    monkeypatch.setitem(handoff._routes, handoff.RegisterChanged, broken)
    handoff.announce(handoff.RegisterChanged(tenant_id=1, registration_ids=[1], reason="test"))
    assert "the flow after RegisterChanged failed" in caplog.text


_CITATION = re.compile(r"docs/[\w./-]+\.md")
# Notes that live beside the repository, not in it: no file of ours may send a reader there. Spelled in parts so
# that this test does not itself name them.
_NOTE_NAMES = ("domain", "market", "reliability", "architecture", "performance")
_NOTE_FOLDER = "/".join(("shared", "docs"))
_OUTSIDE = re.compile(
    r"(?<!docs/)\b("
    + "|".join(_NOTE_NAMES)
    + r")\.md|"
    + re.escape(_NOTE_FOLDER)
    + "|"
    + "DEVELOPERS"
    + r"\.md"
)


def _our_files():
    patterns = ["*.py", "*.html", "*.yml", "*.toml", "Makefile", "Dockerfile"]
    listed = subprocess.run(  # noqa: S603 - git, read-only
        ["git", "ls-files", *patterns],  # noqa: S607 - git from PATH
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return [ROOT / f for f in listed if (ROOT / f).is_file() and not f.startswith("tests/house/")]


def test_comments_cite_documents_inside_the_repository():
    outside = [
        f"{path.relative_to(ROOT)}:{n}"
        for path in _our_files()
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    assert outside == []


def test_every_cited_document_exists():
    missing = sorted(
        {
            f"{path.relative_to(ROOT)}: {cited}"
            for path in _our_files()
            for cited in _CITATION.findall(path.read_text(errors="replace"))
            if not (ROOT / cited).is_file()
        }
    )
    assert missing == []
