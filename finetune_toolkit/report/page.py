"""The report page: one HTML file holding its style, script, data and figures (PNG as data URIs), so it opens from a
disk, an e-mail or a CI artefact and asks no server for anything (its Content-Security-Policy forbids it)."""

from __future__ import annotations

import base64
import json
import os
import time
from importlib import resources
from pathlib import Path

import jinja2
from markupsafe import Markup

from finetune_toolkit import __version__

from .reading import Report

GENERATOR = f"finetune-toolkit report {__version__}"


def _asset(name: str) -> str:
    return resources.files("finetune_toolkit.report").joinpath("assets", name).read_text(encoding="utf-8")


def script_json(value) -> str:
    """JSON safe inside a <script> element: no `</script>`, `<!--` or line separators can end or bend it."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def figure_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def run_labels(runs: list[dict]) -> list[dict]:
    """Each run with a short `label` for the table: the run names without the part they all share (the model and
    template of a one-model sweep, `packaged-SmolLM2-135M-Instruct__sentiment__`)."""
    names = [run["name"] for run in runs]
    shared = os.path.commonprefix(names) if len(names) > 1 else ""
    shared = shared[: shared.rfind("__") + 2] if "__" in shared else ""
    return [{**run, "label": run["name"][len(shared):] or run["name"]} for run in runs]


def render_page(report: Report, folder: Path) -> str:
    """The page's HTML: the summary rendered here (Jinja2, autoescaped), the examples by the script from the data."""
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    template = environment.from_string(_asset("page.html.j2"))
    data = {"runs": run_labels(report.runs), "rows": report.rows, "contexts": report.contexts.texts}
    return template.render(
        report=report, folder=folder.name, generator=GENERATOR, written=time.strftime("%Y-%m-%d %H:%M"),
        figures=[{"name": path.relative_to(folder).as_posix(), "src": figure_uri(path)} for path in report.figures],
        css=Markup(_asset("report.css")), js=Markup(_asset("report.js")), data=Markup(script_json(data)),
    )
