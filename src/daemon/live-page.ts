/**
 * The page at GET /live: one self-contained HTML file (inline script and style, no CDN, no
 * build step) for a browser on the unit or through an SSH tunnel.
 *
 *   EventSource /events?types=ecg,heart ─┬─ ecg ─▶ strip (last 8 s, beats marked above the trace)
 *   fetch /live/trend (on load, reconnect)┴─ heart ─▶ trend (heart rate and RMSSD over the ride)
 *
 * The strip canvas says what it drew (data-beats: source sample indices, data-x0-sample,
 * data-samples-per-px, and data-start-sample, the first sample it holds), so a test can find each marker's pixel column from the beats alone.
 * Pause (button or space) freezes the drawing, not the data.
 */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>motobio live</title>
<style>
  body { margin: 0; background: #101418; color: #d8dee4; font: 15px/20px system-ui, sans-serif; }
  header { display: flex; flex-wrap: wrap; gap: 18px; align-items: baseline; padding: 10px 14px; }
  .big { font-size: 34px; line-height: 40px; font-weight: 600; }
  .warn { color: #101418; background: #ffb000; padding: 0 6px; border-radius: 3px; font-weight: 600; }
  .muted { color: #8a96a3; }
  canvas { display: block; margin: 4px 14px; background: #0a0d10; }
  button { font: inherit; height: 28px; }
  /* Whole-pixel layout: the strip's pixels are where its data attributes say. */
  h2 { font-size: 14px; line-height: 20px; font-weight: 500; margin: 10px 14px 0; color: #8a96a3; }
</style>
</head>
<body>
<header>
  <span>HR <span id="hr" class="big">--</span> bpm</span>
  <span>quality <span id="quality">--</span></span>
  <span id="leadoff" class="warn" hidden>LEAD OFF</span>
  <span>RMSSD <span id="rmssd">--</span> ms</span>
  <span class="muted">source <span id="fs">--</span> Hz</span>
  <span id="conn" class="muted">connecting…</span>
  <button id="pause" type="button">Pause</button>
</header>
<h2>ECG, last 8 s (beats marked above the trace)</h2>
<canvas id="strip" width="960" height="260" style="width:960px;height:260px"></canvas>
<h2>Over the ride: <span style="color:#ffaa00">heart rate (bpm)</span> and <span style="color:#40a0ff">RMSSD (ms)</span></h2>
<canvas id="trend" width="960" height="200" style="width:960px;height:200px"></canvas>
<script>
"use strict";
const WINDOW_S = 8;
const MARK = "#ff0040", MARK_BAND = 16;
const strip = document.getElementById("strip"), sctx = strip.getContext("2d");
const trendCanvas = document.getElementById("trend"), tctx = trendCanvas.getContext("2d");
const $ = (id) => document.getElementById(id);
let fs = null, factor = 1, start = 0, values = [], beats = [], paused = false, dirty = false;
let trend = [];

function onEcg(c) {
  const f = Math.max(1, Math.round(c.fs / c.rateHz));
  // A new rate, or data that does not follow on (a daemon restart, a gap): start the strip over.
  if (c.fs !== fs || f !== factor || c.start !== start + values.length * factor) {
    fs = c.fs; factor = f; start = c.start; values = []; beats = [];
  }
  for (const v of c.values) values.push(v);
  for (const b of c.beats) beats.push(b);
  const keep = Math.ceil(WINDOW_S * fs / factor) + 8;
  if (values.length > keep) { const cut = values.length - keep; values.splice(0, cut); start += cut * factor; }
  beats = beats.filter((b) => b >= start);
  $("hr").textContent = c.hrBpm === null ? "--" : Math.round(c.hrBpm);
  $("quality").textContent = c.quality === null ? "--" : c.quality.toFixed(2);
  $("leadoff").hidden = !c.leadOff;
  $("fs").textContent = String(Math.round(c.fs * 10) / 10);
  dirty = true;
}

function drawStrip() {
  const w = strip.width, h = strip.height;
  sctx.fillStyle = "#0a0d10"; sctx.fillRect(0, 0, w, h);
  if (!fs || values.length === 0) return;
  const end = start + values.length * factor;
  const n = WINDOW_S * fs, x0 = end - n, spp = n / w;
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (v !== null) { if (v < lo) lo = v; if (v > hi) hi = v; }
  if (!(hi > lo)) { hi = (lo === Infinity ? 0 : lo) + 0.5; lo = hi - 1; }
  const top = MARK_BAND + 6, bottom = h - 6;
  const y = (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top);
  // Grid: a line each second.
  sctx.strokeStyle = "#1d252d"; sctx.lineWidth = 1; sctx.beginPath();
  for (let s = Math.ceil(x0 / fs); s * fs < end; s++) { const x = Math.round((s * fs - x0) / spp) + 0.5; sctx.moveTo(x, top); sctx.lineTo(x, h); }
  sctx.stroke();
  const drawn = [];
  for (const b of beats) {
    if (b < x0 || b >= end) continue;
    const x = Math.round((b - x0) / spp);
    sctx.fillStyle = "rgba(255,0,64,0.25)"; sctx.fillRect(x, top, 1, bottom - top);
    sctx.fillStyle = MARK; sctx.fillRect(x - 1, 2, 3, MARK_BAND - 4);
    drawn.push(b);
  }
  sctx.strokeStyle = "#3ddc84"; sctx.lineWidth = 1.5; sctx.beginPath();
  let pen = false;
  for (let i = 0; i < values.length; i++) {
    const s = start + i * factor + (factor - 1) / 2;
    if (s < x0) continue;
    const v = values[i];
    if (v === null) { pen = false; continue; }
    const x = (s - x0) / spp;
    if (pen) sctx.lineTo(x, y(v)); else sctx.moveTo(x, y(v));
    pen = true;
  }
  sctx.stroke();
  strip.dataset.beats = drawn.join(",");
  strip.dataset.x0Sample = String(x0);
  strip.dataset.startSample = String(start);
  strip.dataset.samplesPerPx = String(spp);
  strip.dataset.fs = String(fs);
}

function drawTrend() {
  const w = trendCanvas.width, h = trendCanvas.height, pad = 24;
  tctx.fillStyle = "#0a0d10"; tctx.fillRect(0, 0, w, h);
  trendCanvas.dataset.points = String(trend.length);
  if (trend.length === 0) return;
  const t0 = trend[0].monoMs, t1 = Math.max(trend[trend.length - 1].monoMs, t0 + 1);
  const x = (t) => pad + ((t - t0) / (t1 - t0)) * (w - 2 * pad);
  tctx.font = "12px system-ui, sans-serif";
  for (const [key, colour, side] of [["hrBpm", "#ffaa00", 0], ["rmssdMs", "#40a0ff", 1]]) {
    const vs = trend.map((p) => p[key]).filter((v) => typeof v === "number");
    if (vs.length === 0) continue;
    let lo = Math.min(...vs), hi = Math.max(...vs);
    if (hi - lo < 10) { const m = (hi + lo) / 2; lo = m - 5; hi = m + 5; }
    const y = (v) => h - pad - ((v - lo) / (hi - lo)) * (h - 2 * pad);
    tctx.strokeStyle = colour; tctx.fillStyle = colour; tctx.lineWidth = 2; tctx.beginPath();
    let pen = false;
    for (const p of trend) {
      const v = p[key];
      if (typeof v !== "number") { pen = false; continue; }
      if (pen) tctx.lineTo(x(p.monoMs), y(v)); else tctx.moveTo(x(p.monoMs), y(v));
      pen = true;
    }
    if (trend.length === 1) tctx.arc(x(trend[0].monoMs), y(vs[0]), 3, 0, 2 * Math.PI);
    tctx.stroke();
    tctx.textAlign = side ? "right" : "left";
    tctx.fillText(Math.round(hi) + " / " + Math.round(lo), side ? w - 4 : 4, 14);
  }
  tctx.fillStyle = "#8a96a3"; tctx.textAlign = "center";
  tctx.fillText(Math.round((t1 - t0) / 60000) + " min", w / 2, h - 6);
}

function loadTrend() {
  fetch("/live/trend").then((r) => r.json()).then((j) => { trend = j.points; drawTrend(); }).catch(() => {});
}

const es = new EventSource("/events?types=ecg,heart");
es.addEventListener("ecg", (e) => onEcg(JSON.parse(e.data)));
es.addEventListener("heart", (e) => {
  const p = JSON.parse(e.data);
  $("rmssd").textContent = typeof p.rmssdMs === "number" ? Math.round(p.rmssdMs) : "--";
  trend.push(p);
  drawTrend();
});
es.onopen = () => { $("conn").textContent = "live"; loadTrend(); };
es.onerror = () => { $("conn").textContent = "reconnecting…"; };

function setPaused(p) { paused = p; $("pause").textContent = p ? "Resume" : "Pause"; document.body.dataset.paused = String(p); }
$("pause").addEventListener("click", () => setPaused(!paused));
document.addEventListener("keydown", (e) => { if (e.key === " ") { e.preventDefault(); setPaused(!paused); } });
function frame() { if (dirty && !paused) { dirty = false; drawStrip(); } requestAnimationFrame(frame); }
requestAnimationFrame(frame);
</script>
</body>
</html>
`;
