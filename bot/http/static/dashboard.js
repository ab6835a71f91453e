// The quipbot dashboard: plain DOM, one small file, uPlot for the charts. Every change it asks
// for is a POST carrying the session's CSRF token.
"use strict";

const T = JSON.parse(document.getElementById("texts").textContent);
const CSRF = document.querySelector("meta[name=csrf]").content;
const POLL_MS = 5000;
const $ = (selector) => document.querySelector(selector);

function say(template, values = {}) {
  $("#status").textContent = template.replace(/\{(\w+)\}/g, (_, name) => values[name] ?? "");
}

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: JSON.stringify(body),
  };
  const response = await fetch("/dashboard/api/" + path, { credentials: "same-origin", ...init });
  if (response.status === 401) location.reload(); // the session ended: back to the login form
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.message : response.statusText);
  return data;
}

// A table from rows: each column is [title, row => text or node].
function fill(table, rows, columns) {
  table.replaceChildren();
  const head = table.createTHead().insertRow();
  for (const [title] of columns) head.appendChild(document.createElement("th")).textContent = title;
  const body = table.createTBody();
  for (const row of rows) {
    const line = body.insertRow();
    for (const [, cell] of columns) {
      const value = cell(row);
      line.insertCell().append(value instanceof Node ? value : String(value ?? ""));
    }
  }
  if (!rows.length) Object.assign(body.insertRow().insertCell(), { colSpan: columns.length, textContent: T.none });
}

function button(label, action) {
  const b = document.createElement("button");
  b.textContent = label;
  b.addEventListener("click", async () => {
    try { await action(); } catch (error) { say(error.message); }
  });
  return b;
}

// Today's rows show the time only: narrower columns on a phone.
function when(row) {
  const date = new Date(row.at * 1000);
  const today = date.toDateString() === new Date().toDateString();
  return today ? date.toLocaleTimeString() : date.toLocaleString();
}
const sum = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

// -- figures ---------------------------------------------------------------------------------

const series = { hour: [], day: [] };
let range = "hour";
let since = 0;
let charts = null;

function figures(stats, pool) {
  const tiers = stats.cache.tiers;
  const hits = sum(Object.fromEntries(Object.entries(tiers).map(([k, t]) => [k, t.hits])));
  const lookups = tiers.l1.hits + tiers.l1.misses; // every lookup starts at l1
  const llm = Object.keys(stats.llm.calls).map((name) => stats.latency_ms["llm:" + name] || {});
  const worst = (q) => Math.max(0, ...llm.map((l) => l[q] || 0)).toFixed(1);
  const shown = {
    answers: sum(stats.answers),
    hit_rate: lookups ? Math.round((100 * hits) / lookups) + " %" : "–",
    llm_calls: sum(stats.llm.calls),
    llm_errors: sum(stats.llm.errors),
    saved_calls: stats.saved.calls,
    saved_tokens: stats.saved.tokens,
    p50: worst("p50"), p95: worst("p95"), p99: worst("p99"),
    pool,
    blocked: sum(Object.fromEntries(Object.entries(stats.moderation.blocked)
      .map(([stage, layers]) => [stage, sum(layers)]))),
  };
  for (const [name, value] of Object.entries(shown)) {
    document.querySelector(`[data-figure=${name}]`).textContent = value;
  }
  fill($("#tiers"), Object.entries(stats.answers), [[T.tier, (r) => r[0]], [T.answers, (r) => r[1]]]);
  fill($("#breakers"), Object.entries(stats.llm.breakers), [["", (r) => r[0]], ["", (r) => r[1]]]);
}

// Sample columns: t, answers, cached, llm calls, llm errors, saved tokens, blocked, p50, p95, p99.
function chartData(points) {
  const t = [], cached = [], llm = [], p50 = [], p95 = [], p99 = [];
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const perMin = 60 / Math.max(1, b[0] - a[0]);
    t.push(b[0]);
    cached.push((b[2] - a[2]) * perMin);
    llm.push((b[3] - a[3]) * perMin);
    p50.push(b[7]); p95.push(b[8]); p99.push(b[9]);
  }
  return [[t, cached, llm], [t, p50, p95, p99]];
}

function makeCharts() {
  const width = Math.min(960, $("#figures").clientWidth);
  const make = (id, names, colours) => new uPlot({
    width, height: 180,
    series: [{}, ...names.map((label, i) => ({ label, stroke: colours[i], width: 2 }))],
  }, [[], ...names.map(() => [])], document.getElementById(id));
  return [
    make("chart-answers", [T.cached, T.llm], ["#2a9d8f", "#e76f51"]),
    make("chart-latency", ["p50", "p95", "p99"], ["#2a9d8f", "#e9c46a", "#e76f51"]),
  ];
}

function draw() {
  charts = charts || makeCharts();
  chartData(series[range]).forEach((data, i) => charts[i].setData(data));
}

async function poll() {
  const data = await api("stats?since=" + since);
  for (const name of ["hour", "day"]) {
    series[name].push(...data[name]);
    series[name].splice(0, series[name].length - (name === "hour" ? 360 : 288));
  }
  const last = series.hour[series.hour.length - 1];
  if (last) since = last[0];
  figures(data.stats, data.pool);
  if (!$("#figures").hidden) draw();
}

// -- lists -----------------------------------------------------------------------------------

async function loadChat() {
  const query = new URLSearchParams(new FormData($("#log-filter")));
  fill($("#log"), await api("logs?" + query), [
    [T.when, when], [T.platform, (r) => r.platform], [T.tier, (r) => r.tier],
    [T.ms, (r) => r.latency_ms.toFixed(0)], [T.user, (r) => r.user_id],
    [T.question, (r) => r.prompt], [T.answer, (r) => r.answer],
  ]);
  fill($("#blocked"), await api("blocked"), [
    [T.when, when], [T.platform, (r) => r.platform], [T.user, (r) => r.user_id],
    [T.stage, (r) => r.stage], [T.why, (r) => `${r.layer}: ${r.reason}`], [T.text, (r) => r.text],
  ]);
}

async function loadJokes() {
  const jokes = await api("jokes");
  const columns = [[T.score, (r) => r.score], [T.text, (r) => r.text],
    ["", (r) => r.retired ? "✗" : button(T.retire, async () => {
      const done = await api("jokes/retire", { key: r.key });
      say(T.retired, { text: done.text });
      await loadJokes();
    })]];
  fill($("#jokes-top"), jokes.top, columns);
  fill($("#jokes-worst"), jokes.worst, columns);
  fill($("#jokes-recent"), jokes.recent, [[T.when, when], ...columns]);
}

async function loadLearned() {
  const query = new URLSearchParams(new FormData($("#learned-filter")));
  fill($("#learned-list"), await api("learned?" + query), [
    [T.question, (r) => r.prompt], [T.answer, (r) => r.answer],
    ["", (r) => button(T.forget, async () => {
      const done = await api("learned/forget", { key: r.key });
      say(T.forgot, { text: done.text });
      await loadLearned();
    })],
  ]);
}

async function loadBanphrases() {
  fill($("#ban-list"), await api("banphrases"), [
    [T.phrase, (r) => r.phrase], [T.added_by, (r) => r.added_by], [T.when, (r) => when({ at: r.added_at })],
    ["", (r) => button(T.remove, async () => {
      const done = await api("banphrases/remove", { phrase: r.phrase });
      say(T.removed, { text: done.text });
      await loadBanphrases();
    })],
  ]);
}

// -- views and wiring ------------------------------------------------------------------------

const views = { figures: draw, chat: loadChat, jokes: loadJokes, learned: loadLearned,
  banphrases: loadBanphrases };

function show() {
  const name = location.hash.slice(1) in views ? location.hash.slice(1) : "figures";
  for (const id of Object.keys(views)) document.getElementById(id).hidden = id !== name;
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("on", a.hash === "#" + name));
  document.body.dataset.view = name;
  Promise.resolve().then(views[name])
    .then(() => { document.body.dataset.loaded = name; }, (e) => say(e.message));
}

function debounced(action) {
  let timer;
  return () => { clearTimeout(timer); timer = setTimeout(action, 250); };
}

$("#log-filter").addEventListener("input", debounced(loadChat));
$("#learned-filter").addEventListener("input", debounced(loadLearned));
for (const form of document.querySelectorAll("form")) form.addEventListener("submit", (e) => e.preventDefault());
$("#ban-add").addEventListener("submit", async () => {
  try {
    const done = await api("banphrases/add", { phrase: $("#ban-phrase").value });
    say(done.added ? T.added : T.exists, { text: done.text });
    $("#ban-phrase").value = "";
    await loadBanphrases();
  } catch (error) { say(error.message); }
});
$("#cache-clear").addEventListener("click", async () => {
  if (!confirm(T.confirm)) return;
  say(T.cleared, { count: (await api("cache/clear", {})).cleared });
});
$("#logout").addEventListener("click", async () => {
  await api("logout", {}).catch(() => {});
  location.reload();
});
document.querySelectorAll("[data-range]").forEach((b) => b.addEventListener("click", () => {
  range = b.dataset.range;
  document.querySelectorAll("[data-range]").forEach((o) => o.classList.toggle("on", o === b));
  draw();
}));
window.addEventListener("hashchange", show);
window.addEventListener("resize", debounced(() => {
  const width = Math.min(960, $("#figures").clientWidth);
  if (charts && width) charts.forEach((chart) => chart.setSize({ width, height: 180 }));
}));
poll().then(show, (e) => say(e.message));
setInterval(() => poll().catch((e) => say(e.message)), POLL_MS);
