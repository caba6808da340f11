"""mypy against a baseline that only shrinks (`make typecheck`).

Runs mypy on the files [tool.mypy] in pyproject.toml lists (gst/ strict, the services and selectors checked) and
compares its errors with mypy-baseline.txt. An error is kept there as ``path: [code] message``, without its line
number, so an edit elsewhere in the file does not disturb it; the same entry appears once per occurrence (a
multiset), so a second copy of a known error in the same file is a new error.

    python scripts/mypy_baseline.py                 # exit 1 listing every error not in the baseline
    python scripts/mypy_baseline.py --update        # drop the entries that no longer occur (never adds any)
    python scripts/mypy_baseline.py --update --allow-grow   # rewrite it with every current error

Errors in gst/ (the pure package, strict) never enter the baseline: it stays at zero.
Exit codes: 0 clean against the baseline, 1 new errors (or a refused update), 2 mypy itself failed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "mypy-baseline.txt"
NEVER_BASELINED = ("gst/",)  # must stay at zero errors
HEADER = """\
# mypy errors tolerated in the checked services (scripts/mypy_baseline.py; `make typecheck`). One line per
# occurrence: "path: [code] message", no line numbers. Fix one and run `scripts/mypy_baseline.py --update` to drop
# it; this file only ever shrinks (a new error is fixed, not added here).
"""
_LINE_REFERENCE = re.compile(r"\bline \d+\b")  # "defined on line 12" -> "defined on line N"


def run_mypy() -> tuple[list[dict[str, object]], str]:
    """mypy's errors (JSON records) on the configured files, and its raw output (for a failure)."""
    proc = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "mypy", "--output", "json", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    errors: list[dict[str, object]] = []
    for raw in proc.stdout.splitlines():
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            return [], proc.stdout + proc.stderr
        if record.get("severity") == "error":
            errors.append(record)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not errors):
        return [], proc.stdout + proc.stderr or f"mypy exited with {proc.returncode}"
    return errors, ""


def entry(error: dict[str, object]) -> str:
    path = Path(str(error["file"])).as_posix()
    message = _LINE_REFERENCE.sub("line N", str(error["message"]))
    return f"{path}: [{error['code'] or 'misc'}] {message}"


def located(error: dict[str, object]) -> str:
    return f"{Path(str(error['file'])).as_posix()}:{error['line']}: [{error['code'] or 'misc'}] {error['message']}"


def read_baseline() -> Counter[str]:
    if not BASELINE.exists():
        return Counter()
    lines = BASELINE.read_text(encoding="utf-8").splitlines()
    return Counter(line for line in lines if line.strip() and not line.startswith("#"))


def write_baseline(entries: Counter[str]) -> None:
    BASELINE.write_text(HEADER + "".join(f"{e}\n" for e in sorted(entries.elements())), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--update", action="store_true", help="rewrite the baseline with the current errors")
    parser.add_argument(
        "--allow-grow", action="store_true", help="with --update: let the baseline gain entries"
    )
    args = parser.parse_args(argv)

    errors, failure = run_mypy()
    if failure:
        print(failure.rstrip(), file=sys.stderr)
        print("mypy did not run to completion (above).", file=sys.stderr)
        return 2

    current = Counter(entry(e) for e in errors)
    baseline = read_baseline()
    new = current - baseline
    gone = baseline - current
    pure = [e for e in errors if entry(e).startswith(NEVER_BASELINED)]

    # the located errors behind each new entry (the last occurrences in the file: a new one is usually the later)
    new_located: list[str] = []
    remaining = Counter(new)
    for e in reversed(errors):
        if remaining[entry(e)] > 0:
            remaining[entry(e)] -= 1
            new_located.append(located(e))
    new_located.reverse()

    if gone:
        print(
            f"{sum(gone.values())} baseline entr{'y' if sum(gone.values()) == 1 else 'ies'} no longer occur:"
        )
        for line in sorted(gone.elements()):
            print(f"  {line}")
        if not args.update:
            print("Run `python scripts/mypy_baseline.py --update` to drop them from mypy-baseline.txt.")

    if args.update:
        if pure:
            print("gst/ must pass strict mode with no errors; these are never baselined:")
            for e in pure:
                print(f"  {located(e)}")
            return 1
        if new and not args.allow_grow:
            print(f"{sum(new.values())} new error(s) not in the baseline; fix them (or --allow-grow):")
            for line in new_located:
                print(f"  {line}")
            return 1
        if current != baseline:
            write_baseline(current)
            print(
                f"mypy-baseline.txt rewritten: {sum(current.values())} entries (was {sum(baseline.values())})."
            )
        else:
            print(f"mypy-baseline.txt unchanged: {sum(current.values())} entries.")
        return 0

    failing = new_located + [located(e) for e in pure if located(e) not in new_located]
    if failing:
        print(f"{len(failing)} mypy error(s) not in the baseline:")
        for line in failing:
            print(f"  {line}")
        print("Fix them (gst/ must stay at zero errors); mypy-baseline.txt only shrinks.")
        return 1
    print(f"mypy: no new errors ({sum(current.values())} known, in mypy-baseline.txt).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
