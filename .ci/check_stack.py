"""Fail unless this environment holds exactly the torch stack a constraints file pins, inside pyproject's ranges.

    python .ci/check_stack.py constraints/vllm.txt

Run after ``pip install -e .`` into an environment that already had that stack: it proves pip kept the versions
(a user's GPU box with torch/transformers inside our ranges keeps them).
"""
from __future__ import annotations

import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

STACK = ("torch", "torchvision", "transformers")


def pins(path: Path) -> dict[str, Version]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line and not line.startswith("-"):
            name, v = line.split("==")
            out[name.strip().lower()] = Version(v.strip())
    return out


def ranges(pyproject: Path) -> dict[str, Requirement]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return {r.name.lower(): r for r in map(Requirement, deps)}


def main(constraints: str) -> int:
    root = Path(__file__).resolve().parents[1]
    want, allowed, bad = pins(Path(constraints)), ranges(root / "pyproject.toml"), []
    for name in STACK:
        have = Version(Version(version(name)).public)          # 2.14.1+cu130 -> 2.14.1
        if have != want[name]:
            bad.append(f"{name} {have} is installed but {constraints} pins {want[name]} (pip replaced it?)")
        if not allowed[name].specifier.contains(have, prereleases=True):
            bad.append(f"{name} {have} is outside pyproject's range {allowed[name]}")
    for line in bad:
        print("check_stack:", line, file=sys.stderr)
    if not bad:
        print("check_stack: " + ", ".join(f"{n}=={version(n)}" for n in STACK) + f" as {constraints} pins, in range")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
