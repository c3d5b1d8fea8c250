// The examples table of a finetune-toolkit report: filters, a virtualised list (only the rows in view are in the
// page) and one example's detail. Every text from the data goes in through textContent, never as HTML.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const timings = (window.reportTimings = { rows: data.rows.length });
  const rows = data.rows, runs = data.runs, contexts = data.contexts;
  if (!runs.length) return;
  const ROW_HEIGHT = 28, OVERSCAN = 8;
  const $ = (id) => document.getElementById(id);
  const viewport = $("viewport"), spacer = $("spacer"), detail = $("detail");

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const format = (value, digits = 4) => (value === null || value === undefined ? "" : Number(value).toFixed(digits));
  const mark = (ok) => (ok === 1 ? "✓" : ok === 0 ? "✗" : "");
  const goldProbability = (row) => (row.o && row.go !== null && row.go !== undefined && row.o[row.go] ? row.o[row.go][2] : null);

  // Search text, lower-cased once; and each run's rows by example index (for "changed" and "across runs").
  const haystack = rows.map((row) => (row.q + "\u0000" + row.p + "\u0000" + row.g).toLowerCase());
  const byRun = runs.map(() => new Map());
  rows.forEach((row, position) => byRun[row.r].set(row.i, position));

  for (const id of ["run", "run-a", "run-b"]) {
    runs.forEach((run, index) => $(id).appendChild(new Option(`${run.label} (${run.examples})`, String(index))));
  }
  if (runs.length > 1) $("run-b").value = "1";

  let visible = [], changedMode = false, selected = -1;

  function applyFilters() {
    const start = performance.now();
    const query = $("search").value.trim().toLowerCase();
    const filter = document.querySelector("input[name=filter]:checked").value;
    changedMode = filter === "changed";
    $("changed-runs").style.visibility = changedMode ? "visible" : "hidden";
    $("run").disabled = changedMode;
    let candidates = [];
    if (changedMode) {
      const first = byRun[Number($("run-a").value)], second = byRun[Number($("run-b").value)];
      for (const [index, position] of second) {
        const other = first.get(index);
        if (other !== undefined && rows[other].p !== rows[position].p) candidates.push(position);
      }
    } else {
      const run = $("run").value;
      candidates = run === "" ? rows.map((_, position) => position) : Array.from(byRun[Number(run)].values());
      if (filter === "right") candidates = candidates.filter((position) => rows[position].ok === 1);
      if (filter === "wrong") candidates = candidates.filter((position) => rows[position].ok === 0);
    }
    if (query) candidates = candidates.filter((position) => haystack[position].includes(query));
    visible = candidates;
    $("count").textContent = `${visible.length.toLocaleString()} of ${rows.length.toLocaleString()} examples`;
    $("count").dataset.shown = String(visible.length);
    spacer.style.height = `${visible.length * ROW_HEIGHT}px`;
    viewport.scrollTop = 0;
    render();
    timings.lastFilterMs = performance.now() - start;
  }

  function render() {
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(visible.length, first + Math.ceil(viewport.clientHeight / ROW_HEIGHT) + 2 * OVERSCAN);
    const fragment = document.createDocumentFragment();
    for (let k = first; k < last; k++) {
      const position = visible[k], row = rows[position];
      const line = el("div", "row row-grid" + (position === selected ? " selected" : ""));
      line.style.top = `${k * ROW_HEIGHT}px`;
      line.dataset.position = String(position);
      let prediction = row.p;
      if (changedMode) prediction = `${rows[byRun[Number($("run-a").value)].get(row.i)].p} → ${row.p}`;
      line.append(el("span", "", runs[row.r].label), el("span", "", row.i), el("span", "", row.g), el("span", "", prediction),
                  el("span", row.ok === 1 ? "ok" : "bad", mark(row.ok)), el("span", "", format(goldProbability(row), 3)),
                  el("span", "", row.q.replace(/\s+/g, " ")));
      line.title = row.q;
      fragment.appendChild(line);
    }
    spacer.replaceChildren(fragment);
  }

  let pending = false;
  viewport.addEventListener("scroll", () => {
    if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); }
  });
  spacer.addEventListener("click", (event) => {
    const line = event.target.closest(".row");
    if (line) showDetail(Number(line.dataset.position));
  });
  let typing;
  $("search").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 150); });
  for (const id of ["run", "run-a", "run-b"]) $(id).addEventListener("change", applyFilters);
  document.querySelectorAll("input[name=filter]").forEach((radio) => radio.addEventListener("change", applyFilters));

  function promptView(row) {
    const text = contexts[row.c] + row.q;
    const pre = el("pre", "prompt");
    pre.id = "detail-prompt";
    const spans = row.sp || [[0, text.length, "prompt"]];
    let demonstration = 0;
    for (const [start, end, kind] of spans) {
      const odd = kind === "demonstration" && demonstration++ % 2 === 1 ? " odd" : "";
      pre.appendChild(el("span", `part-${kind}${odd}`, text.slice(start, end)));
    }
    return pre;
  }

  function optionsView(row) {
    const table = el("table", "options");
    table.appendChild(el("tr")).append(el("th", "", "option"), el("th", "", "log-probability"), el("th", "", "probability"), el("th"));
    row.o.forEach(([name, logProbability, probability], index) => {
      const line = el("tr", "option" + (index === row.go ? " gold" : "") + (index === row.po ? " predicted" : ""));
      line.dataset.probability = probability === null ? "" : String(probability);
      const bar = el("div", "bar"), fill = bar.appendChild(el("div"));
      fill.style.width = `${100 * (probability || 0)}%`;
      const cell = el("td");
      cell.appendChild(bar);
      line.append(el("td", "", name), el("td", "", format(logProbability)), el("td", "", format(probability)), cell);
      table.appendChild(line);
    });
    return table;
  }

  function answerView(row) {
    const box = el("div");
    const reference = box.appendChild(el("p"));
    reference.append(el("strong", "", "Reference: "), el("span", "", row.g));
    const answer = box.appendChild(el("p"));
    answer.append(el("strong", "", "Answer: "), el("span", "", row.p));
    if (row.df) {
      const diff = box.appendChild(el("p", "diff"));
      diff.appendChild(el("strong", "", "Difference: "));
      for (const [op, text] of row.df) diff.appendChild(el(op === "=" ? "span" : op === "-" ? "del" : "ins", "", text));
    }
    return box;
  }

  function pairsTable(className, pairs) {
    const table = el("table", className);
    for (const [key, value] of pairs) table.appendChild(el("tr")).append(el("th", "", key), el("td", "", value));
    return table;
  }

  function acrossRuns(row) {
    const table = el("table", "across");
    table.appendChild(el("tr")).append(el("th", "", "run"), el("th", "", "prediction"), el("th", "", "right"), el("th", "", "p(gold)"));
    runs.forEach((run, index) => {
      const position = byRun[index].get(row.i);
      if (position === undefined) return;
      const other = rows[position];
      const line = table.appendChild(el("tr", position === selected ? "selected" : ""));
      line.append(el("td", "", run.label), el("td", "", other.p), el("td", other.ok === 1 ? "ok" : "bad", mark(other.ok)),
                  el("td", "", format(goldProbability(other), 3)));
      line.style.cursor = "pointer";
      line.addEventListener("click", () => showDetail(position));
    });
    return table;
  }

  function showDetail(position) {
    selected = position;
    const row = rows[position];
    const parts = [el("h3", "", `${runs[row.r].name} · example ${row.i} · ${row.ok === 1 ? "right" : row.ok === 0 ? "wrong" : "no gold answer"}`)];
    const legend = el("p", "legend");
    for (const kind of ["instruction", "demonstration", "query"]) legend.appendChild(el("span", `part-${kind}`, kind));
    parts.push(el("h4", "", "Prompt"), legend, promptView(row));
    if (row.o) parts.push(el("h4", "", "Labels or options"), optionsView(row));
    else parts.push(el("h4", "", "Answer"), answerView(row));
    if (row.s && Object.keys(row.s).length) parts.push(el("h4", "", "Scores"), pairsTable("scores", Object.entries(row.s).map(([k, v]) => [k, format(v)])));
    if (row.x && Object.keys(row.x).length) parts.push(el("h4", "", "Details"), pairsTable("extra", Object.entries(row.x)));
    parts.push(el("h4", "", "This example in every run"), acrossRuns(row));
    detail.replaceChildren(...parts);
    detail.hidden = false;
    render();
    detail.scrollIntoView({ block: "nearest" });
  }

  window.reportView = {
    visible: () => visible.map((position) => [runs[rows[position].r].name, rows[position].i]),
    show: (runName, index) => showDetail(byRun[runs.findIndex((run) => run.name === runName)].get(index)),
  };
  applyFilters();
  timings.firstRenderMs = performance.now();
})();
