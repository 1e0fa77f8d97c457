"""Known vulnerabilities in the locked dependency set (requirements.lock), and an honest count of what was checked.

    .venv/bin/python bench/audit.py [--allow-incomplete]     # make audit [AUDIT_ARGS=--allow-incomplete]
    .venv/bin/python bench/audit.py --relock                 # rewrite requirements.lock from pyproject.toml

pip-audit asks PyPI's per-release JSON (`/pypi/<name>/<version>/json`) for each pinned package; where that cannot
be reached it reports the package as "not found on PyPI" and exits 0 as if all were well. So every package
pip-audit skips is counted, and tried once more against PyPI's project JSON (`/pypi/<name>/json`), whose
`vulnerabilities` describe the latest release only: it settles the packages locked at their latest release, and
the rest are reported as not checked.

Exit status: 0 every package checked, none vulnerable; 1 a known vulnerability;
2 nothing vulnerable found but some packages could not be checked ("audit incomplete") — 0 with
--allow-incomplete, which still prints the count.
"""
import argparse
import json
import re
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
PYPI_PROJECT = "https://pypi.org/pypi/{name}/json"
INCOMPLETE = 2
LOCK_HEADER = """\
# The locked dependency set: every package `pip install -e '.[test]'` resolves to, pinned (Python 3.11, Linux).
# `make install` installs with it as constraints; `make audit` checks it for known vulnerabilities.
# Regenerate after changing pyproject.toml: .venv/bin/python bench/audit.py --relock
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=LOCK)
    parser.add_argument("--allow-incomplete", action="store_true",
                        help="exit 0 when nothing vulnerable was found even if some packages could not be checked")
    parser.add_argument("--relock", action="store_true", help="resolve pyproject.toml afresh into the lock file")
    args = parser.parse_args()
    if args.relock:
        relock(args.lock)
        return 0

    locked = read_lock(args.lock)
    audited, skipped, vulnerable, failure = run_pip_audit(args.lock)
    fallback = check_latest_releases({name: locked[name] for name in skipped}) if skipped else {}
    for name, outcome in fallback.items():
        if isinstance(outcome, list) and outcome:
            vulnerable[name] = outcome
    by_fallback = sorted(name for name, outcome in fallback.items() if outcome == [])
    unchecked = {name: outcome for name, outcome in fallback.items() if isinstance(outcome, str)}

    print(f"dependency audit of {args.lock.name}: {len(locked)} packages")
    if failure:
        print(f"  pip-audit did not run to the end: {failure}")
    print(f"  checked by pip-audit (PyPI advisory service): {len(audited)}")
    print(f"  checked against PyPI's latest-release advisories (locked at the latest release): {len(by_fallback)}")
    if by_fallback:
        print("    " + ", ".join(f"{name} {locked[name]}" for name in by_fallback))
    for name, advisories in sorted(vulnerable.items()):
        for advisory in advisories:
            fixed = ", ".join(advisory.get("fix_versions") or advisory.get("fixed_in") or []) or "no fix yet"
            print(f"  VULNERABLE {name} {locked.get(name, '?')}: {advisory.get('id')} (fixed in {fixed}) "
                  f"{(advisory.get('summary') or advisory.get('description') or '').strip()[:120]}")
    if unchecked:
        print(f"  not checked: {len(unchecked)}")
        for name, why in sorted(unchecked.items()):
            print(f"    {name} {locked[name]}: {why}")

    if vulnerable:
        print(f"\naudit FAILED: {sum(map(len, vulnerable.values()))} known vulnerabilities in "
              f"{len(vulnerable)} packages")
        return 1
    if unchecked:
        verdict = "could not run" if len(unchecked) == len(locked) else "incomplete"
        print(f"\naudit {verdict}: {len(unchecked)} of {len(locked)} packages not checked (no advisory data "
              f"reachable for their locked versions); nothing vulnerable among the {len(locked) - len(unchecked)} "
              "checked")
        return 0 if args.allow_incomplete else INCOMPLETE
    print(f"\naudit passed: all {len(locked)} packages checked, no known vulnerabilities")
    return 0


def read_lock(path: Path) -> dict[str, str]:
    """{canonical name: version} of every `name==version` line."""
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            if not version:
                raise SystemExit(f"{path}: {line!r} is not pinned with ==")
            pins[canonical(name)] = version.split(";")[0].strip()
    return pins


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run_pip_audit(lock: Path):
    """(audited names, skipped names, {name: vulnerabilities}, failure message or None) from pip-audit's JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "audit.json"
        result = subprocess.run([PIP_AUDIT, "-r", lock, "--no-deps", "--disable-pip", "--progress-spinner", "off",
                                 "--format", "json", "--output", output], capture_output=True, text=True,
                                timeout=600)
        if not output.exists():
            names = list(read_lock(lock))
            return [], names, {}, f"exit {result.returncode}: {result.stderr.strip()[-500:]}"
        report = json.loads(output.read_text())
    audited, skipped, vulnerable = [], [], {}
    for dependency in report["dependencies"]:
        name = canonical(dependency["name"])
        if "skip_reason" in dependency:
            skipped.append(name)
        elif dependency.get("vulns"):
            vulnerable[name] = dependency["vulns"]
        else:
            audited.append(name)
    return audited, skipped, vulnerable, None


def check_latest_releases(pins: dict[str, str]) -> dict[str, list | str]:
    """For each package: its advisories (a list, empty when none) if it is locked at its latest release, else why it
    could not be checked (a string)."""
    with httpx.Client(timeout=20, follow_redirects=True) as client, ThreadPoolExecutor(8) as pool:
        return dict(zip(pins, pool.map(lambda item: _latest_release_advisories(client, *item), pins.items())))


def _latest_release_advisories(client: httpx.Client, name: str, version: str) -> list | str:
    try:
        response = client.get(PYPI_PROJECT.format(name=name))
    except httpx.HTTPError as exc:
        return f"PyPI unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return f"PyPI answered {response.status_code}"
    project = response.json()
    latest = project["info"]["version"]
    if latest != version:
        return f"latest is {latest}; advisories for older releases are not reachable here"
    return [advisory for advisory in project.get("vulnerabilities") or [] if not advisory.get("withdrawn")]


def relock(path: Path) -> None:
    """A clean resolution of the project and its test extras (ignoring what the venv holds), pinned."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
                        "--report", report, "-e", ".[test]"], cwd=ROOT, check=True)
        installs = json.loads(report.read_text())["install"]
    pins = sorted((item["metadata"]["name"], item["metadata"]["version"]) for item in installs
                  if canonical(item["metadata"]["name"]) != "xtoportal")
    path.write_text(LOCK_HEADER + "".join(f"{name}=={version}\n" for name, version in
                                          sorted(pins, key=lambda pin: pin[0].lower())))
    print(f"{path.name}: {len(pins)} packages pinned")


if __name__ == "__main__":
    sys.exit(main())
