"""Checks that Cargo.toml's `rust-version` is at least what every locked dependency
declares (cargo metadata's `rust_version`), so the promise it makes is one the lock keeps.
Run by `make check` and `make test` as `python3 -m local.rust_version`; stdlib only."""

import json
import re
import subprocess
import sys

from .common import ROOT


def version(text):
    return tuple(int(part) for part in text.split("."))


def main():
    declared = re.search(r'^rust-version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    if not declared:
        print("Cargo.toml declares no rust-version")
        return 1
    metadata = json.loads(subprocess.run(["cargo", "metadata", "--format-version", "1", "--locked"], cwd=ROOT,
                                         capture_output=True, text=True, check=True, timeout=300).stdout)
    ours_ids = set(metadata["workspace_members"])
    needs = max((version(p["rust_version"]), p["name"]) for p in metadata["packages"]
                if p.get("rust_version") and p["id"] not in ours_ids)
    ours = version(declared.group(1))
    needed = ".".join(map(str, needs[0]))
    if ours < needs[0]:
        print(f"rust-version {declared.group(1)} in Cargo.toml, but {needs[1]} needs {needed}: raise it")
        return 1
    print(f"rust-version {declared.group(1)}: covers every locked dependency (the highest need: {needs[1]} {needed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
