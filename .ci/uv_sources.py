#!/usr/bin/env python
"""Print uv's flags for the package sources pip is configured with, so `uv pip install` takes packages from
where `pip install` would (uv reads none of pip's configuration).

    uv pip install $(python .ci/uv_sources.py) torch==2.13.0

Reads `pip config list` (pip's files and its PIP_* variables) with pip's precedence for `pip install`: a PIP_*
variable over an `[install]` setting over a `[global]` one. Passes on `find-links`, `index-url` and
`extra-index-url`, in pip's order, and with extra indexes uv's `--index-strategy unsafe-best-match`: pip takes the
best version from all its indexes together, where uv by default takes a package from the first index that has it (an
older transformers from a mirror, say). Prints nothing when pip has none of these settings.
"""

from __future__ import annotations

import subprocess
import sys

SETTINGS = {"find-links": "--find-links", "index-url": "--index-url", "extra-index-url": "--extra-index-url"}
PRECEDENCE = (":env:", "install", "global")  # the first section that sets a key wins, as in pip


def pip_settings(listing: str) -> dict[str, list[str]]:
    """key -> values, from `pip config list` lines such as `global.find-links='/opt/wheels'`."""
    found: dict[str, dict[str, str]] = {}
    for line in listing.splitlines():
        name, _, value = line.partition("=")
        section, _, key = name.rpartition(".")
        if key in SETTINGS and section in PRECEDENCE:
            found.setdefault(key, {})[section] = value.strip().strip("'\"")
    settings = {}
    for key, by_section in found.items():
        value = next(by_section[section] for section in PRECEDENCE if section in by_section)
        settings[key] = value.split()
    return settings


def uv_flags(settings: dict[str, list[str]]) -> list[str]:
    flags = []
    for key, flag in SETTINGS.items():
        for value in settings.get(key, []):
            flags += [flag, value]
    if settings.get("extra-index-url"):
        flags += ["--index-strategy", "unsafe-best-match"]  # pip's resolution across indexes
    return flags


if __name__ == "__main__":
    result = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    print(" ".join(uv_flags(pip_settings(result.stdout))) if result.returncode == 0 else "")
