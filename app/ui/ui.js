// The usage page: fetches /ui/api/usage for the chosen range and draws it. No library, no build.
"use strict";

const COLORS = ["#2f6fdf", "#e0692b", "#2a9d62", "#b63fa8", "#c9a227", "#4a5568", "#d13d3d", "#1aa3b8"];
// Each chart: the value of a row, and whether rows stack (sums) or are drawn as lines (averages).
const CHARTS = {
  "chart-requests": [(r) => r.requests, true],
  "chart-tokens": [(r) => r.input_tokens + r.output_tokens, true],
  "chart-spend": [(r) => r.cost_usd, true],
  "chart-errors": [(r) => r.errors, true],
  "chart-latency": [(r) => r.avg_total_ms, false],
};
const COLUMNS = ["requests", "errors", "input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens"];

function seriesName(row) {
  return (row.key || "-") + " · " + row.model;
}

// One row of values per key and model over the range's buckets (zero where a bucket has no requests).
function lines(data, value) {
  const buckets = [];
  for (let t = Math.floor(data.since / data.step) * data.step; t < data.until; t += data.step) buckets.push(t);
  const index = new Map(buckets.map((t, i) => [t, i]));
  const out = new Map();
  for (const row of data.series) {
    const name = seriesName(row);
    if (!out.has(name)) out.set(name, new Array(buckets.length).fill(0));
    const i = index.get(row.t);
    if (i !== undefined) out.get(name)[i] = value(row) || 0;
  }
  return { buckets, lines: out };
}

function draw(canvas, chart, colorOf, stacked) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 48, bottom = 22;
  ctx.clearRect(0, 0, w, h);
  const n = chart.buckets.length;
  const all = [...chart.lines.values()];
  let max = 0;
  for (let i = 0; i < n; i++) {
    const values = all.map((v) => v[i]);
    max = Math.max(max, stacked ? values.reduce((a, b) => a + b, 0) : Math.max(0, ...values));
  }
  max = max || 1;
  ctx.strokeStyle = "#c5cad3";
  ctx.fillStyle = "#5b6472";
  ctx.font = "11px system-ui, sans-serif";
  ctx.beginPath();
  ctx.moveTo(left, 4);
  ctx.lineTo(left, h - bottom);
  ctx.lineTo(w - 4, h - bottom);
  ctx.stroke();
  ctx.fillText(max < 1 ? max.toPrecision(2) : String(Math.round(max * 100) / 100), 2, 12);  // dollars are small
  ctx.fillText("0", 2, h - bottom);
  if (n) {
    ctx.fillText(new Date(chart.buckets[0] * 1000).toLocaleString(), left, h - 6);
    const end = new Date((chart.buckets[n - 1] + (chart.buckets[1] - chart.buckets[0] || 0)) * 1000).toLocaleString();
    ctx.fillText(end, w - 4 - ctx.measureText(end).width, h - 6);
  }
  const slot = (w - left - 8) / Math.max(1, n);
  const y = (v) => ((h - bottom - 8) * v) / max;
  let points = 0;
  const base = new Array(n).fill(0);
  for (const [name, values] of chart.lines) {
    ctx.fillStyle = ctx.strokeStyle = colorOf(name);
    ctx.lineWidth = 2;
    ctx.beginPath();
    values.forEach((v, i) => {
      if (v <= 0) return;
      points++;
      const x = left + slot * i;
      if (stacked) {
        ctx.fillRect(x + 1, h - bottom - y(base[i] + v), Math.max(1, slot - 2), y(v));
        base[i] += v;
      } else {
        ctx.moveTo(x + 1, h - bottom - y(v));
        ctx.lineTo(x + Math.max(2, slot - 1), h - bottom - y(v));
      }
    });
    ctx.stroke();
  }
  canvas.dataset.points = String(points);
}

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text;
  return td;
}

function table(rows) {
  const body = document.querySelector("#totals tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    tr.append(cell(row.key || "-"), cell(row.model));
    for (const column of COLUMNS) tr.append(cell(String(row[column])));
    tr.append(cell(row.cost_usd.toFixed(4)));
    tr.append(cell(row.avg_ttfb_ms === null ? "-" : row.avg_ttfb_ms.toFixed(1)), cell(row.avg_total_ms.toFixed(1)));
    body.append(tr);
  }
}

function legend(names, colorOf) {
  const list = document.getElementById("legend");
  list.replaceChildren();
  for (const name of names) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.style.background = colorOf(name);
    item.append(swatch, name);
    list.append(item);
  }
}

async function load() {
  const range = Number(document.getElementById("range").value);
  const until = Math.ceil(Date.now() / 1000);
  const since = until - range;
  const step = Math.max(60, Math.round(range / 48));
  const status = document.getElementById("status");
  status.textContent = "loading…";
  const response = await fetch(`/ui/api/usage?since=${since}&until=${until}&step=${step}`, { credentials: "same-origin" });
  if (!response.ok) {
    status.textContent = `error ${response.status}`;
    return;
  }
  const data = await response.json();
  const names = [...new Set(data.series.map(seriesName))];
  const colorOf = (name) => COLORS[names.indexOf(name) % COLORS.length];
  for (const [id, [value, stacked]] of Object.entries(CHARTS)) {
    draw(document.getElementById(id), lines(data, value), colorOf, stacked);
  }
  legend(names, colorOf);
  table(data.totals);
  status.textContent = `${data.totals.reduce((n, r) => n + r.requests, 0)} requests`;
  document.body.dataset.loaded = "true";
}

document.getElementById("range").addEventListener("change", load);
load();
