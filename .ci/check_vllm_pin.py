"""Fail unless ``pip install -e '.[vllm]' --dry-run`` in a fresh venv resolves the vLLM release pyproject pins.

Without a pin pip backtracks to vllm 0.1.2 (2023), the newest release whose requirements it can meet next to our
torch. Reads package metadata only (no wheel download): ≈ 1 min with a registry. ``python .ci/check_vllm_pin.py``.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version


def main() -> int:
    root = Path(__file__).resolve().parents[1]
    meta = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    (vreq,) = [Requirement(r) for r in meta["optional-dependencies"]["vllm"]]
    ranges = {r.name.lower(): r for r in map(Requirement, meta["dependencies"])}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "venv", f"{tmp}/venv"], check=True)
        subprocess.run([f"{tmp}/venv/bin/python", "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
                        "--report", f"{tmp}/report.json", "-e", f"{root}[vllm]"], check=True)
        report = json.loads(Path(f"{tmp}/report.json").read_text())
    got = {i["metadata"]["name"].lower(): Version(i["metadata"]["version"]) for i in report["install"]}
    bad = []
    if "vllm" not in got or not vreq.specifier.contains(got["vllm"]):
        bad.append(f"resolved vllm {got.get('vllm')}, pyproject pins {vreq}")
    for name in ("torch", "torchvision", "transformers"):
        if not ranges[name].specifier.contains(Version(got[name].public)):
            bad.append(f"resolved {name} {got[name]} outside pyproject's {ranges[name]}")
    for line in bad:
        print("check_vllm_pin:", line, file=sys.stderr)
    if not bad:
        print(f"check_vllm_pin: .[vllm] resolves vllm=={got['vllm']} with torch=={got['torch']}, "
              f"torchvision=={got['torchvision']}, transformers=={got['transformers']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
