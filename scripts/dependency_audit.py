"""The locked dependencies against a vulnerability database (`make audit`, docs/reliability.md R13).

Runs pip-audit on each lock file given (default: requirements.lock and requirements-dev.lock) with the pins as they
are (``--no-deps --disable-pip``: nothing is resolved or installed; a lock's ``-r`` include is audited on its own),
asking the PyPI vulnerability service first and
OSV second. A service counts as reached only when it answered for at least one pinned package: a mirror that knows
none of them (pip-audit's "Dependency not found on PyPI" for every pin) is no audit, not a clean one.

    python scripts/dependency_audit.py                      # both lock files
    python scripts/dependency_audit.py requirements.lock    # one

Exit codes: 0 no known vulnerability, or no service reachable (said plainly: "SKIPPED"); 1 a vulnerability found;
2 pip-audit failed for another reason than reaching the service.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock")
SERVICES = ("pypi", "osv")
TIMEOUT = 600  # seconds per pip-audit run
# pip-audit's traceback when the service's host cannot be reached (DNS, refused, timed out, TLS).
UNREACHABLE = re.compile(
    r"ConnectionError|NameResolutionError|Max retries exceeded|Failed to resolve|Connection refused|"
    r"timed out|Timeout|SSLError|Network is unreachable|ServiceError",
)


@dataclass
class Verdict:
    """What one pip-audit report says: packages looked up, those the service did not know, the findings."""

    audited: int = 0
    skipped: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # "name version: id (fixed in …)"


def read_report(report: dict) -> Verdict:
    """The :class:`Verdict` of pip-audit's JSON report (``--format json``)."""
    verdict = Verdict()
    for dep in report.get("dependencies", []):
        if dep.get("skip_reason"):
            verdict.skipped.append(f"{dep.get('name')}: {dep['skip_reason']}")
            continue
        verdict.audited += 1
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
            verdict.findings.append(
                f"{dep.get('name')} {dep.get('version')}: {vuln.get('id')} (fixed in {fixed})"
            )
    return verdict


def run_pip_audit(lock: Path, service: str) -> tuple[Verdict | None, str]:
    """(the verdict, None when the service was not reached; the reason) of one pip-audit run; raises
    ``RuntimeError`` when pip-audit failed otherwise."""
    cmd = [
        str(Path(sys.executable).with_name("pip-audit")),
        "--requirement",
        str(lock),
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        service,
        "--format",
        "json",
        "--progress-spinner",
        "off",
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=ROOT)  # noqa: S603
    except subprocess.TimeoutExpired:
        return None, f"{service}: no answer within {TIMEOUT} s"
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        match = UNREACHABLE.search(done.stderr)
        if match:
            return None, f"{service}: {match.group(0)}"
        raise RuntimeError(f"pip-audit failed (exit {done.returncode}):\n{done.stderr[-2000:]}") from None
    verdict = read_report(report)
    if verdict.audited == 0:
        return None, f"{service}: answered for none of the {len(verdict.skipped)} pinned packages"
    return verdict, ""


def audit(lock: Path) -> tuple[Verdict | None, list[str]]:
    """The verdict of the first service that answered for ``lock`` (None: none did), with why the others were not
    used."""
    reasons = []
    for service in SERVICES:
        verdict, reason = run_pip_audit(lock, service)
        if verdict is not None:
            return verdict, reasons
        reasons.append(reason)
    return None, reasons


def main(argv: list[str]) -> int:
    locks = [Path(a) for a in argv] or [ROOT / name for name in LOCKS]
    found = 0
    for lock in locks:
        try:
            verdict, reasons = audit(lock)
        except RuntimeError as exc:
            print(f"{lock.name}: {exc}", file=sys.stderr)
            return 2
        if verdict is None:
            print(
                f"*** Dependency audit of {lock.name} SKIPPED: no vulnerability service could be reached from this "
                f"machine ({'; '.join(reasons)}). Run `make audit` where pypi.org or api.osv.dev answers. ***"
            )
            continue
        print(
            f"{lock.name}: {verdict.audited} pinned packages audited, {len(verdict.findings)} known vulnerabilities"
        )
        for line in verdict.skipped:
            print(f"  not audited: {line}")
        for line in verdict.findings:
            print(f"  VULNERABLE: {line}")
        found += len(verdict.findings)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
