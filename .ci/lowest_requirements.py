"""Print the lowest version of every dependency `pyproject.toml` declares with a floor (`name>=X` becomes `name==X`),
for `make test-lowest`. torch is left out: older torch wheels on the package index pull gigabytes of CUDA packages, so
the lowest run keeps the CPU build the project installs (the Makefile's TORCH)."""

import re
import sys
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

EXTRAS = sys.argv[1:]  # optional-dependency groups whose floors are pinned too
project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
requirements = list(project["dependencies"]) + [r for extra in EXTRAS for r in project["optional-dependencies"][extra]]
for requirement in requirements:
    match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*>=\s*([^,;\s]+)", requirement)
    if match and match.group(1).lower() != "torch":
        print(f"{match.group(1)}{match.group(2) or ''}=={match.group(3)}")
