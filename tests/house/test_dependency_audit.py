"""`make audit` (scripts/dependency_audit.py, docs/reliability.md R13): a finding fails it, a vulnerability service
that cannot be reached (or knows none of the pins) skips it and says so, never passes it as clean."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("dependency_audit", ROOT / "scripts" / "dependency_audit.py")
assert _spec is not None
assert _spec.loader is not None
dependency_audit = importlib.util.module_from_spec(_spec)
sys.modules["dependency_audit"] = dependency_audit  # dataclasses look their module up there
_spec.loader.exec_module(dependency_audit)

# pip-audit's --format json report, as it writes it.
VULNERABLE = {
    "dependencies": [
        {
            "name": "django",
            "version": "4.2.0",
            "vulns": [{"id": "PYSEC-2023-100", "fix_versions": ["4.2.2"]}],
        },
        {"name": "rich", "version": "15.0.0", "vulns": []},
        {
            "name": "local-pkg",
            "skip_reason": "Dependency not found on PyPI and could not be audited: local-pkg (1.0)",
        },
    ],
    "fixes": [],
}
UNKNOWN_TO_THE_MIRROR = {
    "dependencies": [
        {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n} (1.0)"}
        for n in ("django", "rich")
    ],
    "fixes": [],
}


def test_a_report_with_a_vulnerability_is_a_finding():
    verdict = dependency_audit.read_report(VULNERABLE)
    assert verdict.audited == 2
    assert verdict.findings == ["django 4.2.0: PYSEC-2023-100 (fixed in 4.2.2)"]
    assert verdict.skipped == [
        "local-pkg: Dependency not found on PyPI and could not be audited: local-pkg (1.0)"
    ]


def test_a_service_that_knows_none_of_the_pins_audited_nothing():
    verdict = dependency_audit.read_report(UNKNOWN_TO_THE_MIRROR)
    assert verdict.audited == 0
    assert verdict.findings == []


def _fake_service(monkeypatch, answers: dict):
    """pip-audit replaced by the given answer per service: a report, or an exception text as its stderr."""

    def run(lock, service):
        answer = answers[service]
        if isinstance(answer, dict):
            verdict = dependency_audit.read_report(answer)
            if verdict.audited == 0:
                return None, f"{service}: answered for none"
            return verdict, ""
        return None, f"{service}: {answer}"

    monkeypatch.setattr(dependency_audit, "run_pip_audit", run)


def test_a_finding_fails_the_audit(monkeypatch, capsys):
    _fake_service(monkeypatch, {"pypi": VULNERABLE, "osv": "NameResolutionError"})
    assert dependency_audit.main(["requirements.lock"]) == 1
    out = capsys.readouterr().out
    assert "VULNERABLE: django 4.2.0: PYSEC-2023-100" in out
    assert "not audited: local-pkg" in out


def test_the_second_service_is_asked_when_the_first_knows_nothing(monkeypatch, capsys):
    _fake_service(monkeypatch, {"pypi": UNKNOWN_TO_THE_MIRROR, "osv": VULNERABLE})
    assert dependency_audit.main(["requirements.lock"]) == 1
    assert "2 pinned packages audited, 1 known vulnerabilities" in capsys.readouterr().out


def test_no_service_reached_skips_plainly_and_passes(monkeypatch, capsys):
    _fake_service(monkeypatch, {"pypi": UNKNOWN_TO_THE_MIRROR, "osv": "NameResolutionError"})
    assert dependency_audit.main(["requirements.lock"]) == 0
    out = capsys.readouterr().out
    assert "Dependency audit of requirements.lock SKIPPED: no vulnerability service could be reached" in out
    assert "osv: NameResolutionError" in out


@pytest.mark.slow
def test_make_audit_on_the_real_lock_file_ends_audited_or_plainly_skipped(tmp_path):
    """The real pip-audit on one pinned line: on this machine either a service answers (audited) or the audit says
    it was skipped and why; it never prints a bare "no known vulnerabilities" for pins it could not look up."""
    lock = tmp_path / "one.lock"
    lock.write_text("rich==15.0.0\n")
    done = subprocess.run(  # noqa: S603 - this interpreter and the repository's script
        [sys.executable, str(ROOT / "scripts" / "dependency_audit.py"), str(lock)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("1 pinned packages audited" in done.stdout) or ("one.lock SKIPPED" in done.stdout), done.stdout
