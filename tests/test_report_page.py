"""The report page in a real browser: headless Chromium from the system's packages, driven by Selenium. Each check
is computed here from the files the sweep wrote, then compared with what the page shows."""

import json
import os
import time

import pytest

from finetune_toolkit.report.browser import browser_paths, headless_chromium, open_page
from helpers import load_script

fewshot = load_script("fewshot")
HOSTILE = "</script><script>document.title='owned'</script><img src=x onerror=alert(1)>"


def chromium():
    """A WebDriver on the system's Chromium, or a skip that says how to get one (a failure in CI)."""
    pytest.importorskip("selenium", reason="pip install selenium (the dev extra) to test the report page")
    if None in browser_paths():
        if os.environ.get("FINETUNE_TOOLKIT_REQUIRE_BROWSER"):  # CI: a missing browser must not pass as a skip
            pytest.fail("no chromium/chromedriver on PATH; .ci/run installs them with apt-get")
        pytest.skip("no headless Chromium here: apt-get install -y chromium chromium-driver (Debian), then run the tests again")
    return headless_chromium()


@pytest.fixture(scope="module")
def sweep(fewshot_gpt2, fewshot_files, tmp_path_factory):
    """A sweep of 0 and 2 shots under gold and flipped labels, calibrated too, on a pool with one hostile review."""
    folder = tmp_path_factory.mktemp("report")
    evaluation = [json.loads(line) for line in open(fewshot_files["validation"])]
    evaluation[0]["text"] = HOSTILE
    validation = folder / "eval.jsonl"
    validation.write_text("".join(json.dumps(row) + "\n" for row in evaluation))
    output = folder / "sweep"
    fewshot.main(["--model_name_or_path", fewshot_gpt2, "--train_file", fewshot_files["train"], "--validation_file",
                  str(validation), "--shots", "0", "2", "--seeds", "0", "--selection", "random", "--demo_labels", "gold",
                  "flipped", "--calibrate", "--output_dir", str(output)])
    return output


def predictions(output, key):
    return [json.loads(line) for line in (output / "predictions" / f"{key}.jsonl").read_text().splitlines()]


def run_files(output):
    """Run name on the page -> (prediction, correct) per example index, computed from the predictions files."""
    runs = {}
    for path in sorted((output / "predictions").glob("*.jsonl")):
        rows = predictions(output, path.stem)
        runs[path.stem] = {row["index"]: (row["prediction"], row["prediction"] == row["label"]) for row in rows}
        runs[f"{path.stem} (calibrated)"] = {row["index"]: (row["calibrated_prediction"], row["calibrated_prediction"] == row["label"])
                                             for row in rows}
    return runs


@pytest.fixture(scope="module")
def page(sweep):
    browser = chromium()
    open_page(browser, sweep / "report.html")
    yield browser
    browser.quit()


def choose_filter(page, name, first=None, second=None):
    if first is not None:
        page.execute_script("document.getElementById('run-a').value = arguments[0];"
                            "document.getElementById('run-b').value = arguments[1];", str(first), str(second))
    page.find_element("id", f"filter-{name}").click()
    return {tuple(pair) for pair in page.execute_script("return window.reportView.visible()")}


def test_the_page_loads_without_console_errors_or_network_requests(page, sweep):
    assert [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"] == []
    requests = [json.loads(entry["message"])["message"] for entry in page.get_log("performance")]
    urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
    assert urls[0] == (sweep / "report.html").as_uri()
    assert all(url.startswith("data:image/png;base64,") for url in urls[1:]), "only the page's own inline figures"
    assert len(urls) > 1, "the plots are shown"
    assert page.title != "owned" and page.execute_script("return document.querySelectorAll('img[src=x]').length") == 0


def test_the_row_count_equals_the_predictions_files_and_wrong_shows_exactly_the_wrong_ones(page, sweep):
    runs = run_files(sweep)
    total = sum(len(rows) for rows in runs.values())
    assert page.execute_script("return window.reportTimings.rows") == total
    assert len(choose_filter(page, "all")) == total
    assert page.find_element("id", "count").get_attribute("data-shown") == str(total)
    wrong = {(name, index) for name, rows in runs.items() for index, (_, correct) in rows.items() if not correct}
    assert choose_filter(page, "wrong") == wrong
    right = {(name, index) for name, rows in runs.items() for index, (_, correct) in rows.items() if correct}
    assert choose_filter(page, "right") == right
    rendered = page.find_elements("css selector", "#spacer .row")
    assert 0 < len(rendered) < len(right) or len(right) < 30, "only the rows in view are in the page"


@pytest.mark.parametrize("pair", [("0shot", "random__2shot__seed0"), ("random__2shot__seed0", "random__2shot__seed0__flipped"),
                                  ("random__2shot__seed0", "random__2shot__seed0 (calibrated)")])
def test_changed_shows_exactly_the_examples_whose_prediction_differs(page, sweep, pair):
    runs = run_files(sweep)
    names = [name for name in page.execute_script("return JSON.parse(document.getElementById('report-data').textContent).runs.map(r => r.name)")]
    first, second = (next(name for name in names if name.endswith(f"__{suffix}")) for suffix in pair)
    expected = {(second, index) for index, (prediction, _) in runs[second].items() if prediction != runs[first][index][0]}
    assert choose_filter(page, "changed", names.index(first), names.index(second)) == expected
    choose_filter(page, "all")


def test_an_opened_example_shows_its_full_prompt_and_probabilities_that_sum_to_one(page, sweep):
    key = next(path.stem for path in (sweep / "predictions").glob("*flipped.jsonl"))
    row = predictions(sweep, key)[0]
    page.execute_script("window.reportView.show(arguments[0], 0)", key)
    prompt = page.find_element("id", "detail-prompt")
    assert prompt.get_attribute("textContent") == row["prompt"]
    assert HOSTILE in row["prompt"]
    parts = [span.get_attribute("className") for span in prompt.find_elements("css selector", "span")]
    assert parts == ["part-demonstration", "part-demonstration odd", "part-query"]
    shown = [float(line.get_attribute("data-probability")) for line in page.find_elements("css selector", "#detail tr.option")]
    assert shown == pytest.approx(row["probabilities"]) and sum(shown) == pytest.approx(1, abs=1e-5)
    gold = page.find_element("css selector", "#detail tr.option.gold")
    assert gold.find_element("css selector", "td").text.startswith(["negative", "positive"][row["label"]])
    across = page.find_elements("css selector", "#detail table.across tr")
    assert len(across) == 1 + len(run_files(sweep)), "the example in every run"


def test_search_keeps_the_rows_whose_text_holds_the_words(page, sweep):
    page.find_element("id", "search").send_keys("owned")
    time.sleep(0.4)
    found = choose_filter(page, "all")
    assert found and {index for _, index in found} == {0}
    page.find_element("id", "search").clear()
    page.execute_script("document.getElementById('search').dispatchEvent(new Event('input'))")
    time.sleep(0.4)
