// The dashboard page: one WebSocket to the kernel (/ws), one JSON frame of every metric per
// 100 ms, kept as time series of the last minutes and drawn with uPlot. A learned component
// whose series are not in the registry is shown as absent, never as zeros: the rule is the
// one `autoctl ai-metrics` applies (kernel/src/net/commands.rs, COMPONENTS).
"use strict";

const HISTORY_S = 300;                 // seconds of history kept and drawn
const MAX_POINTS = HISTORY_S * 10;
const COMPONENTS = {
  sched: { prefix: "nous_sched_", not: ["nous_sched_context_switches_total", "nous_sched_threads"],
           what: "the learned scheduler" },
  llm: { prefix: "nous_llm_", not: [], what: "the language model" },
};
const LEVELS = ["NORMAL", "ELEVATED", "WARNING", "CRITICAL"];

const state = { frames: 0, lastSeq: 0, chartUpdates: 0, connected: false, components: {},
                arrivals: [], shown: {} };
window.nousDashboard = { state: () => JSON.parse(JSON.stringify(state)) };

const $ = (id) => document.getElementById(id);
const key = (m) => {
  const labels = Object.entries(m.labels || {}).map(([k, v]) => `${k}="${v}"`).join(",");
  return labels ? `${m.name}{${labels}}` : m.name;
};

// Time series: a shared time axis (seconds of kernel uptime) and one column per series key.
const series = { t: [], cols: {} };
function record(t, values) {
  series.t.push(t);
  for (const [k, col] of Object.entries(series.cols)) col.push(k in values ? values[k] : null);
  for (const [k, v] of Object.entries(values)) {
    if (!(k in series.cols)) {
      series.cols[k] = new Array(series.t.length - 1).fill(null);
      series.cols[k].push(v);
    }
  }
  if (series.t.length > MAX_POINTS) {
    series.t.shift();
    for (const col of Object.values(series.cols)) col.shift();
  }
}
const col = (k) => series.cols[k] || new Array(series.t.length).fill(null);
// A counter as a per-second rate over the previous sample.
function rate(k, scale = 1) {
  const c = col(k), t = series.t, out = new Array(t.length).fill(null);
  for (let i = 1; i < t.length; i++) {
    if (c[i] != null && c[i - 1] != null && t[i] > t[i - 1]) {
      out[i] = Math.max(0, (c[i] - c[i - 1]) / (t[i] - t[i - 1])) * scale;
    }
  }
  return out;
}

function chart(el, title, specs, yRange) {
  const width = () => Math.max(300, el.clientWidth);
  const opts = {
    title, width: width(), height: 190, legend: { live: false },
    scales: { x: { time: false }, y: yRange ? { range: yRange } : {} },
    axes: [{ stroke: "#8693a1", grid: { stroke: "#2d3640" }, label: "uptime (s)" },
           { stroke: "#8693a1", grid: { stroke: "#2d3640" } }],
    series: [{}].concat(specs.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: false },
                                            paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined }))),
  };
  const plot = new uPlot(opts, [[]].concat(specs.map(() => [])), el);
  window.addEventListener("resize", () => plot.setSize({ width: width(), height: 190 }));
  return { plot, specs };
}
function redraw(c) {
  c.plot.setData([series.t.slice()].concat(c.specs.map((s) => s.data())));
  state.chartUpdates++;
}

function fig(k, v, cls = "") {
  return `<div class="fig ${cls}"><span class="k">${k}</span><span class="v">${v}</span></div>`;
}
const num = (v, d = 2) => (v == null ? "–" : Number(v).toFixed(d));
const mib = (v) => (v == null ? "–" : (v / 1048576).toFixed(1) + " MiB");
const secs = (v) => (v == null || v < 0 ? "–" : v.toFixed(1) + " s");

let charts = null;
function setupCharts() {
  charts = {
    oom: chart($("oom-chart"), "risk (learned) and the baselines' firing", [
      { label: "predictor risk", color: "#58a6ff", data: () => col("nous_oom_risk") },
      { label: "confidence", color: "#3b6ea8", data: () => col("nous_oom_confidence") },
      { label: "earlyoom fires", color: "#f0883e", step: true,
        data: () => col('nous_oom_baseline_firing{baseline="earlyoom"}') },
      { label: "PSI fires", color: "#bc8cff", step: true,
        data: () => col('nous_oom_baseline_firing{baseline="psi"}') },
    ], [0, 1.05]),
    sched: chart($("sched-chart"), "context switches per second, by the policy running", [
      { label: "learned", color: "#58a6ff", data: () => switchesUnder(true) },
      { label: "round-robin", color: "#f0883e", data: () => switchesUnder(false) },
    ]),
    schedLoss: chart($("sched-loss-chart"), "learned policy: training loss (the decision latency is above)", [
      { label: "training loss", color: "#58a6ff", data: () => col("nous_sched_training_loss") },
    ]),
    llm: chart($("llm-chart"), "language model: last inference (ms), fine-tune loss and progress (%)", [
      { label: "inference ms", color: "#58a6ff", step: true,
        data: () => col("nous_llm_inference_last_seconds").map((x) => x == null ? null : x * 1e3) },
      { label: "fine-tune loss", color: "#4cc38a", data: () => col("nous_llm_finetune_loss") },
      { label: "fine-tune %", color: "#d29922", step: true,
        data: () => col("nous_llm_finetune_progress_permille").map((x) => x == null ? null : x / 10) },
      { label: "commands executed/s", color: "#bc8cff", data: () => rate("nous_llm_commands_executed_total") },
    ]),
    mem: chart($("mem-chart"), "MiB", [
      { label: "free", color: "#4cc38a", data: () => col("nous_memory_free_bytes").map((v) => v == null ? null : v / 1048576) },
      { label: "block cache", color: "#d29922", data: () => col("nous_block_cache_bytes").map((v) => v == null || v < 0 ? null : v / 1048576) },
      { label: "heap", color: "#8693a1", data: () => col("nous_heap_mapped_bytes").map((v) => v == null ? null : v / 1048576) },
    ]),
    net: chart($("net-chart"), "per second", [
      { label: "ctx switches", color: "#58a6ff", data: () => {
          const a = rate('nous_sched_context_switches_total{cause="voluntary"}');
          const b = rate('nous_sched_context_switches_total{cause="preempted"}');
          return a.map((v, i) => (v == null || b[i] == null ? null : v + b[i]));
        } },
      { label: "net rx KiB", color: "#4cc38a", data: () => rate('nous_net_bytes_total{direction="rx"}', 1 / 1024) },
      { label: "net tx KiB", color: "#f0883e", data: () => rate('nous_net_bytes_total{direction="tx"}', 1 / 1024) },
    ]),
  };
}

// A learned component's panel: absent (dashed box, no figures, no charts) until its series
// exist; then its own figures and charts, filled by `schedView` / `llmView`.
function componentPresent(name, metrics) {
  const spec = COMPONENTS[name];
  const present = metrics.some((m) => m.name.startsWith(spec.prefix) && !spec.not.includes(m.name));
  state.components[name] = present;
  $(`${name}-body`).innerHTML = present ? "" : `<div class="absent">absent — no <code>${spec.prefix}*</code>
    series in this kernel yet; ${spec.what} appears here when it lands</div>`;
  for (const id of [`${name}-figures`, `${name}-chart`, `${name}-loss-chart`]) {
    if ($(id)) $(id).style.display = present ? "" : "none";
  }
  return present;
}

const SWITCHES = ['nous_sched_context_switches_total{cause="voluntary"}',
                  'nous_sched_context_switches_total{cause="preempted"}'];
// Context switches per second, split by the policy that was running at each sample, so the
// learned policy and round-robin are compared on the same live run.
function switchesUnder(learned) {
  const a = rate(SWITCHES[0]), b = rate(SWITCHES[1]), on = col("nous_sched_learned_active");
  return a.map((v, i) => (v == null || b[i] == null || on[i] == null || (on[i] === 1) !== learned
    ? null : v + b[i]));
}
function meanOf(xs) {
  const vals = xs.filter((v) => v != null);
  return vals.length ? vals.reduce((s, v) => s + v, 0) / vals.length : null;
}
const us = (v) => (v == null ? "–" : (v * 1e6).toFixed(1) + " µs");
const ms = (v) => (v == null ? "–" : (v * 1e3).toFixed(0) + " ms");

function schedView(v) {
  // What the panels show, for the browser test (window.nousDashboard.state()).
  state.shown.schedLearned = v("nous_sched_learned_active");
  const steps = v("nous_sched_training_steps");
  const learnedRate = meanOf(switchesUnder(true)), rrRate = meanOf(switchesUnder(false));
  $("sched-figures").innerHTML =
    fig("policy now", v("nous_sched_learned_active") === 1 ? "learned" : "round-robin",
        v("nous_sched_learned_active") === 1 ? "learned" : "base1") +
    fig("switches/s, learned", num(learnedRate, 0), "learned") +
    fig("switches/s, round-robin", num(rrRate, 0), "base1") +
    fig("decision p50 / p99", `${us(v("nous_sched_decision_latency_p50_seconds"))} / ${us(v("nous_sched_decision_latency_p99_seconds"))}`, "learned") +
    fig("training steps", v("nous_sched_training_steps") ?? "–", "learned") +
    fig("training loss", steps ? num(v("nous_sched_training_loss"), 4) : "–", "learned") +
    fig("starvation guard", v("nous_sched_starvation_interventions") ?? "–");
}

function llmView(v) {
  const n = v("nous_llm_inferences_total"), total = v("nous_llm_inference_seconds_total");
  const tuned = v("nous_llm_finetune_steps_total");
  state.shown.llmInferences = n;
  const budget = v("nous_llm_model_budget_bytes");
  $("llm-figures").innerHTML =
    fig("inferences", n ?? "–", "learned") +
    fig("latency last / mean", n ? `${ms(v("nous_llm_inference_last_seconds"))} / ${ms(total / n)}` : "–", "learned") +
    fig("proposed", v("nous_llm_commands_proposed_total") ?? "–") +
    fig("executed", v("nous_llm_commands_executed_total") ?? "–", "learned") +
    fig("failed", v("nous_llm_commands_failed_total") ?? "–") +
    fig("refused by allowlist", v("nous_llm_commands_refused_total") ?? "–") +
    fig("auto-execute", v("nous_llm_auto_execute") === 1 ? "on" : "off") +
    fig("autonomous actions", v("nous_llm_auto_actions_total") ?? "–", "learned") +
    fig("≠ expert policy", v("nous_llm_auto_disagreements_total") ?? "–", "base1") +
    fig("adapter", v("nous_llm_adapter_active") === 1 ? "in use" : "base model") +
    fig("fine-tune", v("nous_llm_finetune_progress_permille") == null ? "–"
        : (v("nous_llm_finetune_progress_permille") / 10).toFixed(0) + " %", "learned") +
    fig("fine-tune loss", tuned ? num(v("nous_llm_finetune_loss"), 4) : "–", "learned") +
    fig("model / budget", budget ? `${mib(v("nous_llm_model_bytes"))} / ${mib(budget)}` : "–");
}

function render(doc) {
  const values = {};
  for (const m of doc.metrics) values[key(m)] = m.value;
  record(doc.uptime_ms / 1000, values);
  const v = (k) => values[k];

  const level = v("nous_oom_risk_level");
  $("oom-figures").innerHTML =
    fig("risk (learned)", num(v("nous_oom_risk"), 3), "learned") +
    fig("confidence", num(v("nous_oom_confidence"), 2), "learned") +
    fig("level", level == null ? "–" : LEVELS[level] || level, `learned lvl${level}`) +
    fig("time to exhaustion", secs(v("nous_oom_time_to_exhaustion_seconds")), "learned") +
    fig("update cost", v("nous_oom_predictor_update_seconds") == null ? "–"
        : (v("nous_oom_predictor_update_seconds") * 1e6).toFixed(0) + " µs", "learned") +
    fig("earlyoom", v('nous_oom_baseline_firing{baseline="earlyoom"}') ? "FIRING" : "quiet", "base1") +
    fig("PSI", v('nous_oom_baseline_firing{baseline="psi"}') ? "FIRING" : "quiet", "base2") +
    fig("ladder actions", v("nous_oom_ladder_actions_total") ?? "–") +
    fig("OOM kills", v("nous_oom_kills_total") ?? "–");
  const oomAt = v("nous_oom_run_oom_seconds");
  let leads = "<tr><th>detector (current run)</th><th>first warning</th><th>lead before the OOM</th></tr>";
  for (const [d, label, cls] of [["predictor", "predictor (learned)", "learned"],
                                 ["earlyoom", "earlyoom (baseline)", "base1"],
                                 ["psi", "PSI (baseline)", "base2"]]) {
    const w = v(`nous_oom_run_first_warning_seconds{detector="${d}"}`);
    const lead = w != null && w >= 0 && oomAt != null && oomAt >= 0 ? (oomAt - w).toFixed(1) + " s" : "–";
    leads += `<tr><td class="${cls}">${label}</td><td>${secs(w)}</td><td>${lead}</td></tr>`;
  }
  leads += `<tr><td>first OOM kill</td><td>${secs(oomAt)}</td><td></td></tr>`;
  $("oom-leads").innerHTML = leads;

  if (componentPresent("sched", doc.metrics)) schedView(v);
  if (componentPresent("llm", doc.metrics)) llmView(v);

  $("mem-figures").innerHTML =
    fig("free", mib(v("nous_memory_free_bytes"))) + fig("total", mib(v("nous_memory_total_bytes"))) +
    fig("heap", mib(v("nous_heap_mapped_bytes"))) +
    fig("alloc failures", v("nous_buddy_allocation_failures_total") ?? "–");
  let bars = "";
  for (let o = 0; o <= 10; o++) {
    const p = v(`nous_buddy_fragmentation_permille{order="${o}"}`);
    if (p == null) continue;
    const pct = Math.max(0, Math.min(100, p / 10));
    bars += `<div class="bar"><span class="o">order ${o}</span><span class="track"><span class="fill"
             style="display:block;width:${pct}%"></span></span><span class="n">${(p / 10).toFixed(1)}%</span></div>`;
  }
  $("frag-bars").innerHTML = bars;
  $("sys-figures").innerHTML =
    fig("threads", v("nous_sched_threads") ?? "–") +
    fig("block cache", mib(v("nous_block_cache_bytes") < 0 ? null : v("nous_block_cache_bytes"))) +
    fig("cache hits", v('nous_block_cache_lookups_total{result="hit"}') ?? "–") +
    fig("net conns", v("nous_net_connections_active") ?? "–") +
    fig("ws clients", v("nous_net_websocket_clients") ?? "–");
  $("uptime").textContent = (doc.uptime_ms / 1000).toFixed(1) + " s";

  if (!charts) setupCharts();
  for (const c of Object.values(charts)) redraw(c);
}

function connect() {
  const ws = new WebSocket(`ws://${location.host}/ws`);
  ws.onopen = () => { state.connected = true; $("conn").textContent = "live"; $("conn").className = "pill good"; };
  ws.onclose = () => {
    state.connected = false;
    $("conn").textContent = "reconnecting"; $("conn").className = "pill bad";
    setTimeout(connect, 1000);
  };
  ws.onmessage = (ev) => {
    let doc;
    try { doc = JSON.parse(ev.data); } catch (e) { return; }
    state.frames++;
    state.lastSeq = doc.seq;
    const now = performance.now();
    state.arrivals.push(now);
    while (state.arrivals.length && now - state.arrivals[0] > 3000) state.arrivals.shift();
    $("frames").textContent = state.frames;
    $("rate").textContent = (state.arrivals.length / 3).toFixed(1);
    render(doc);
  };
}
connect();
