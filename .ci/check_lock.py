"""Fail when pyproject.toml and requirements/lock.txt disagree.

    python3 .ci/check_lock.py            # exit 0: every dependency is pinned, hashed and in range
    python3 .ci/check_lock.py --pyproject P --lock L --constraints C

Checked, offline: every requirement of `[project.dependencies]` and the `dev` extra (and the
constraints file) names a package the lock pins with `==`, at a version inside the range;
every pin carries at least one `--hash`. A pyproject edit that the lock does not follow (a new
dependency, a raised bound) fails here before anything installs; `make lock` refreshes the
lock. Transitive consistency is `pip check`'s job after the install (the Makefile runs it).
"""
from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
    from packaging.version import Version
except ImportError:  # a bare interpreter: pip carries the same library
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
    from pip._vendor.packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def read_lock(text: str) -> dict[str, tuple[Version, int]]:
    """Package name -> (pinned version, number of hashes), from a pip-compile lock."""
    pins: dict[str, tuple[Version, int]] = {}
    name = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = PIN.match(line)
        if m:
            name = canonicalize_name(m.group(1))
            pins[name] = (Version(m.group(2)), 0)
        if name is not None and "--hash=" in line:
            version, hashes = pins[name]
            pins[name] = (version, hashes + line.count("--hash="))
    return pins


def requirements(pyproject: dict, constraints: str) -> list[tuple[str, Requirement]]:
    project = pyproject["project"]
    found = [("dependencies", Requirement(r)) for r in project.get("dependencies", [])]
    found += [("dev", Requirement(r)) for r in project.get("optional-dependencies", {}).get("dev", [])]
    for line in constraints.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            found.append(("constraints", Requirement(line)))
    return found


def problems(pyproject_path: Path, lock_path: Path, constraints_path: Path) -> list[str]:
    pins = read_lock(lock_path.read_text(encoding="utf-8"))
    wanted = requirements(tomllib.loads(pyproject_path.read_text(encoding="utf-8")),
                          constraints_path.read_text(encoding="utf-8") if constraints_path.exists() else "")
    out = []
    for where, req in wanted:
        if req.marker is not None and not req.marker.evaluate():
            continue
        name = canonicalize_name(req.name)
        if name not in pins:
            out.append(f"{req} ({where}): not in {lock_path.name}")
            continue
        version, _ = pins[name]
        if not req.specifier.contains(version, prereleases=True):
            out.append(f"{req} ({where}): {lock_path.name} pins {version}, outside the range")
    out += [f"{name}=={version}: no --hash in {lock_path.name}" for name, (version, n) in pins.items() if n == 0]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pyproject", type=Path, default=REPO / "pyproject.toml")
    ap.add_argument("--lock", type=Path, default=REPO / "requirements" / "lock.txt")
    ap.add_argument("--constraints", type=Path, default=REPO / "requirements" / "constraints.txt")
    args = ap.parse_args(argv)
    found = problems(args.pyproject, args.lock, args.constraints)
    for line in found:
        print(f"lock out of date: {line}", file=sys.stderr)
    if found:
        print("run `make lock` and commit requirements/lock.txt", file=sys.stderr)
        return 1
    print(f"{args.lock.name} agrees with {args.pyproject.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
