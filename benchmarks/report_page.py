#!/usr/bin/env python
"""The report page on 100,000 examples (20 runs x 5,000), measured in headless Chromium.

    python benchmarks/report_page.py [--runs 20] [--examples 5000]

Writes a few-shot sweep's files (the format `finetune-toolkit fewshot` writes: 4 shared demonstrations per run, a
query, two labels' probabilities and log-probabilities), makes its report page with `write_report`, opens it and
reads the page's own timings (`performance.now()`): time to first render (from navigation start: HTML parse, data
parse, first rows), and the time of each filter (wrong, changed between two runs, a search, back to all), then a
scroll to the middle. Prints the figures and writes them to JSON.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

WORDS = "the film plot acting score story cast scene ending dialogue pacing camera music humour script".split()
ADJECTIVES = "excellent dull moving clumsy brilliant tedious charming flat gripping bland".split()


@dataclass
class Arguments:
    runs: int = field(default=20, metadata={"help": "Runs in the sweep."})
    examples: int = field(default=5000, metadata={"help": "Examples per run."})
    repeats: int = field(default=3, metadata={"help": "Page loads (the best and median are reported)."})
    output: str = field(default="benchmarks/results/report_page.json", metadata={"help": "Where the figures go."})


def review(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))) + f", {rng.choice(ADJECTIVES)}."


def write_sweep(folder: Path, runs: int, examples: int) -> None:
    """A sweep folder: plan, summary, and per run its record and predictions."""
    rng = random.Random(0)
    queries = [f"Review: {review(rng)}\nSentiment:" for _ in range(examples)]
    labels = [rng.randrange(2) for _ in range(examples)]
    (folder / "runs").mkdir(parents=True)
    (folder / "predictions").mkdir()
    (folder / "plan.json").write_text(json.dumps({"model_name_or_path": ["synthetic"], "shots": [4]}))
    summary = []
    for run in range(runs):
        key = f"synthetic__sentiment__random__4shot__seed{run}"
        demonstrations = "".join(f"Review: {review(rng)}\nSentiment: {rng.choice(['negative', 'positive'])}\n\n" for _ in range(4))
        lines, right = [], 0
        for index, (query, label) in enumerate(zip(queries, labels)):
            positive = min(max(rng.gauss(0.75 if label else 0.25, 0.25), 0.001), 0.999)
            prediction = int(positive > 0.5)
            right += prediction == label
            spans = [[i * (len(demonstrations) // 4), (i + 1) * (len(demonstrations) // 4), "demonstration"] for i in range(4)]
            lines.append(json.dumps({"index": index, "label": label, "prediction": prediction, "prompt": demonstrations + query,
                                     "prompt_spans": spans + [[len(demonstrations), len(demonstrations) + len(query), "query"]],
                                     "probabilities": [round(1 - positive, 6), round(positive, 6)],
                                     "label_log_probs": [round(-5 - positive, 6), round(-6 + positive, 6)],
                                     "condition": "gold", "order": None}))
        (folder / "predictions" / f"{key}.jsonl").write_text("\n".join(lines) + "\n")
        (folder / "runs" / f"{key}.json").write_text(json.dumps({"rows": [{"examples": examples}], "kind": "classification",
                                                                 "label_names": ["negative", "positive"]}))
        summary.append({"model": "synthetic", "shots": 4, "seed": run, "accuracy_mean": right / examples, "accuracy_std": 0.0})
    (folder / "summary.json").write_text(json.dumps(summary))


def measure(browser, page: Path) -> dict:
    from finetune_toolkit.report.browser import open_page

    timings = open_page(browser, page)

    def filtered(script: str) -> float:
        browser.execute_script(script)
        return browser.execute_script("return window.reportTimings.lastFilterMs")

    result = {"first_render_ms": timings["firstRenderMs"], "rows": timings["rows"]}
    result["filter_wrong_ms"] = filtered("document.getElementById('filter-wrong').click()")
    result["wrong_rows"] = int(browser.find_element("id", "count").get_attribute("data-shown"))
    result["filter_changed_ms"] = filtered("document.getElementById('run-a').value='0'; document.getElementById('run-b').value='1';"
                                           "document.getElementById('filter-changed').click()")
    result["changed_rows"] = int(browser.find_element("id", "count").get_attribute("data-shown"))
    result["search_ms"] = filtered("document.getElementById('filter-all').click();"
                                   "const s = document.getElementById('search'); s.value = 'excellent';"
                                   "s.dispatchEvent(new Event('input'))")
    time.sleep(0.4)  # the search waits 150 ms for typing to stop
    result["search_ms"] = browser.execute_script("return window.reportTimings.lastFilterMs")
    result["search_rows"] = int(browser.find_element("id", "count").get_attribute("data-shown"))
    result["filter_all_ms"] = filtered("const s = document.getElementById('search'); s.value = '';"
                                       "s.dispatchEvent(new Event('input'))")
    time.sleep(0.4)
    result["filter_all_ms"] = browser.execute_script("return window.reportTimings.lastFilterMs")
    start = time.perf_counter()
    browser.execute_script("const v = document.getElementById('viewport'); v.scrollTop = v.scrollHeight / 2;")
    browser.execute_script("return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    result["scroll_to_middle_ms"] = 1000 * (time.perf_counter() - start)
    result["rows_in_page_after_scroll"] = len(browser.find_elements("css selector", "#spacer .row"))
    return result


def main() -> None:
    from transformers import HfArgumentParser

    from finetune_toolkit.report import write_report
    from finetune_toolkit.report.browser import headless_chromium

    (args,) = HfArgumentParser(Arguments).parse_args_into_dataclasses()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "sweep"
        write_sweep(folder, args.runs, args.examples)
        start = time.perf_counter()
        page = write_report(folder)
        report = {"runs": args.runs, "examples_per_run": args.examples, "write_report_seconds": time.perf_counter() - start,
                  "page_megabytes": page.stat().st_size / 2**20}
        loads = []
        for _ in range(args.repeats):
            browser = headless_chromium()
            try:
                loads.append(measure(browser, page))
            finally:
                browser.quit()
    report["loads"] = loads
    for name in ("first_render_ms", "filter_wrong_ms", "filter_changed_ms", "search_ms", "filter_all_ms", "scroll_to_middle_ms"):
        values = [load[name] for load in loads]
        report[f"{name}_best"], report[f"{name}_median"] = min(values), statistics.median(values)
    print(json.dumps({key: value for key, value in report.items() if key != "loads"}, indent=2))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
