// The dashboard page: one EventSource (/api/events) keeps every view live; the KVS browser
// and job details ask the JSON API on demand. All text goes through textContent (no HTML
// from the instance is ever interpreted).
"use strict";

const state = {overview: null, modules: [], jobs: [], history: [], dmesg: [], config: {actions: []},
               selectedJob: null, kvsFollow: null, subsystems: new Set()};
const LOG_KEEP = 2000;

// -- helpers ----------------------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
  }
  return e;
}

function fsd(sec) {
  if (sec === null || sec === undefined || isNaN(sec)) return "-";
  if (sec < 60) return sec.toFixed(sec < 10 ? 1 : 0) + "s";
  if (sec < 3600) return (sec / 60).toFixed(1) + "m";
  if (sec < 86400) return (sec / 3600).toFixed(1) + "h";
  return (sec / 86400).toFixed(1) + "d";
}

function when(t) {
  return t ? new Date(t * 1000).toLocaleTimeString() : "-";
}

async function api(path, opts) {
  const resp = await fetch(path, Object.assign({credentials: "same-origin"}, opts || {}));
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (e) { body = {error: text}; }
  if (!resp.ok) throw new Error((body && body.error) || ("HTTP " + resp.status));
  return body;
}

// -- tabs -------------------------------------------------------------------------------------

function showView() {
  const name = (location.hash || "#overview").slice(1);
  for (const v of document.querySelectorAll(".view")) v.classList.toggle("active", v.id === "view-" + name);
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.view === name);
  if (name === "overview") renderCharts();
  if (name === "kvs" && !document.getElementById("kvs-content").hasChildNodes()) kvsLookup(".");
}

// -- overview ---------------------------------------------------------------------------------

function renderOverview() {
  const o = state.overview;
  if (!o) return;
  document.getElementById("instance-summary").textContent =
    `${o.state} · size ${o.size} · up ${fsd(o.uptime)} · owner ${o.owner} · depth ${o.level}` +
    (o.jobid ? ` · job ${o.jobid}` : "") + ` · version ${o.version}`;
  const rows = new Map(o.ranks.map((r) => [r.rank, r]));
  const node = (t) => {
    const r = rows.get(t.rank) || {};
    const li = el("li", {}, el("span", {class: "node"}, `${t.rank} `,
      el("span", {class: "status-" + (r.status || "lost")}, r.status || "?"), " ", r.host || ""));
    if (t.children && t.children.length) li.appendChild(el("ul", {}, ...t.children.map(node)));
    return li;
  };
  document.getElementById("tree").replaceChildren(el("ul", {}, node(o.tree)));
  const tbody = document.querySelector("#ranks-table tbody");
  tbody.replaceChildren(...o.ranks.map((r) => el("tr", {"data-rank": r.rank},
    el("td", {}, r.rank), el("td", {class: "status-" + r.status}, r.status), el("td", {}, r.host || "-"),
    el("td", {}, fsd(r.uptime)), el("td", {}, r.cpu !== undefined ? r.cpu : "-"),
    el("td", {}, r.load ? r.load.join(" / ") : "-"))));
  const select = document.getElementById("modules-rank");
  if (select.options.length !== o.size) {
    select.replaceChildren(...Array.from({length: o.size}, (_, i) => el("option", {value: i}, i)));
  }
}

function renderCharts() {
  if (!document.getElementById("view-overview").classList.contains("active")) return;
  const h = state.history;
  drawLineChart(document.getElementById("chart-messages"),
                [{name: "messages/s", points: h.map((s) => [s.t, s.messages])}]);
  const names = new Set();
  for (const s of h.slice(-60)) for (const n of Object.keys(s.services || {})) names.add(n);
  drawLineChart(document.getElementById("chart-services"),
                [...names].slice(0, 8).map((n) => ({name: n, points: h.map((s) => [s.t, (s.services || {})[n] || 0])})));
  drawLineChart(document.getElementById("chart-jobs"), ["submitted", "started", "finished"].map(
    (k) => ({name: k, points: h.map((s) => [s.t, s[k]])})));
}

// -- modules ----------------------------------------------------------------------------------

function renderModules() {
  const rank = Number(document.getElementById("modules-rank").value || 0);
  const m = state.modules.find((x) => x.rank === rank);
  const tbody = document.querySelector("#modules-table tbody");
  if (!m) { tbody.replaceChildren(); return; }
  const canRemove = state.config.actions.includes("module-remove");
  const triple = (s, dir) => s && s[dir] ? [s[dir].request, s[dir].response, s[dir].event].join(" / ") : "-";
  tbody.replaceChildren(...(m.modules.length ? m.modules.map((mod) => el("tr", {"data-module": mod.name},
    el("td", {}, mod.name), el("td", {}, mod.state), el("td", {}, mod.idle), el("td", {}, (mod.services || []).join(", ")),
    el("td", {}, triple(mod.stats, "rx")), el("td", {}, triple(mod.stats, "tx")), el("td", {}, mod.pid || "-"),
    el("td", {}, canRemove ? el("button", {onclick: () => removeModule(rank, mod.name)}, "unload") : ""))) :
    [el("tr", {}, el("td", {colspan: 8, class: "muted"}, "no modules loaded on this rank"))]));
  const sbody = document.querySelector("#services-table tbody");
  const services = Object.entries(m.services || {}).sort((a, b) => b[1] - a[1]);
  sbody.replaceChildren(...services.map(([n, c]) => el("tr", {"data-service": n}, el("td", {}, n), el("td", {}, c))));
}

async function removeModule(rank, name) {
  if (!confirm(`Unload module ${name} on rank ${rank}?`)) return;
  try {
    await api(`/api/modules/${rank}/${encodeURIComponent(name)}/remove`,
              {method: "POST", headers: {"X-Dashboard-Action": "module-remove"}});
  } catch (e) { alert(e.message); }
}

// -- log --------------------------------------------------------------------------------------

function logLine(r) {
  return el("div", {class: "lvl-" + r.severity, "data-subsystem": r.subsystem, "data-severity": r.severity},
            `${r.timestamp} ${r.subsystem}.${r.level}[${r.rank}]: ${r.message}`);
}

function logVisible(r) {
  const level = Number(document.getElementById("log-level").value);
  const sub = document.getElementById("log-subsystem").value;
  return r.severity <= level && (!sub || r.subsystem === sub);
}

function addSubsystem(name) {
  if (state.subsystems.has(name)) return;
  state.subsystems.add(name);
  const select = document.getElementById("log-subsystem");
  const options = [...state.subsystems].sort().map((s) => el("option", {value: s}, s));
  const current = select.value;
  select.replaceChildren(el("option", {value: ""}, "all"), ...options);
  select.value = current;
}

function renderLog() {
  const box = document.getElementById("dmesg-lines");
  box.replaceChildren(...state.dmesg.filter(logVisible).map(logLine));
  if (document.getElementById("log-follow").checked) box.scrollTop = box.scrollHeight;
}

function appendLog(r) {
  state.dmesg.push(r);
  addSubsystem(r.subsystem);
  const box = document.getElementById("dmesg-lines");
  if (state.dmesg.length > LOG_KEEP) {
    state.dmesg.shift();
    if (box.firstChild && box.childNodes.length > LOG_KEEP) box.removeChild(box.firstChild);
  }
  if (logVisible(r)) {
    box.appendChild(logLine(r));
    if (document.getElementById("log-follow").checked) box.scrollTop = box.scrollHeight;
  }
}

// -- KVS --------------------------------------------------------------------------------------

function renderValue(v) {
  if (v.format === "eventlog") {
    return el("table", {class: "eventlog"}, el("thead", {}, el("tr", {}, el("th", {}, "timestamp"), el("th", {}, "name"), el("th", {}, "context"))),
      el("tbody", {}, ...v.value.map((e) => el("tr", {}, el("td", {}, new Date(e.timestamp * 1000).toISOString()),
        el("td", {}, e.name), el("td", {}, e.context ? JSON.stringify(e.context) : "")))));
  }
  if (v.format === "json") return el("pre", {id: "kvs-value"}, JSON.stringify(v.value, null, 2));
  return el("pre", {id: "kvs-value"}, v.value === null ? "(empty)" : String(v.value));
}

function renderPath(key) {
  const parts = key === "." ? [] : key.split(".");
  const links = [el("a", {href: "#kvs", onclick: (e) => { e.preventDefault(); kvsLookup("."); }}, "(root)")];
  parts.forEach((p, i) => {
    const k = parts.slice(0, i + 1).join(".");
    links.push(document.createTextNode(" . "));
    links.push(el("a", {href: "#kvs", onclick: (e) => { e.preventDefault(); kvsLookup(k); }}, p));
  });
  document.getElementById("kvs-path").replaceChildren(...links);
}

async function kvsLookup(key) {
  document.getElementById("kvs-key").value = key;
  renderPath(key);
  stopFollow();
  const content = document.getElementById("kvs-content");
  if (document.getElementById("kvs-follow").checked && key !== ".") { startFollow(key); return; }
  try {
    const r = await api("/api/kvs?key=" + encodeURIComponent(key));
    if (r.type === "dir") {
      content.replaceChildren(el("table", {id: "kvs-dir"}, el("tbody", {}, ...r.entries.map((e) => {
        const full = key === "." ? e.name : key + "." + e.name;
        return el("tr", {class: "clickable", "data-key": full, onclick: () => kvsLookup(full)},
                  el("td", {}, e.type === "dir" ? e.name + "/" : e.name), el("td", {class: "muted"}, e.type));
      }))));
    } else {
      content.replaceChildren(renderValue(r));
    }
  } catch (e) {
    content.replaceChildren(el("p", {class: "error"}, `${key}: ${e.message}`));
  }
}

function startFollow(key) {
  const content = document.getElementById("kvs-content");
  content.replaceChildren(el("p", {class: "muted"}, `following ${key}…`));
  const es = new EventSource("/api/kvs/follow?key=" + encodeURIComponent(key));
  es.addEventListener("value", (ev) => {
    const v = JSON.parse(ev.data);
    content.replaceChildren(el("p", {class: "muted"}, `following ${key}, updated ${new Date().toLocaleTimeString()}`), renderValue(v));
  });
  es.addEventListener("failure", (ev) => {
    content.replaceChildren(el("p", {class: "error"}, `${key}: ${JSON.parse(ev.data).error}`));
    es.close();
  });
  state.kvsFollow = es;
}

function stopFollow() {
  if (state.kvsFollow) { state.kvsFollow.close(); state.kvsFollow = null; }
}

// -- jobs -------------------------------------------------------------------------------------

function renderJobs() {
  const counts = {};
  for (const j of state.jobs) counts[j.state_name] = (counts[j.state_name] || 0) + 1;
  document.getElementById("job-counts").textContent =
    Object.entries(counts).map(([k, v]) => `${k}: ${v}`).join("   ") || "no jobs";
  const canCancel = state.config.actions.includes("cancel");
  const now = Date.now() / 1000;
  const tbody = document.querySelector("#jobs-table tbody");
  tbody.replaceChildren(...state.jobs.map((j) => {
    const runtime = j.t_run ? ((j.t_cleanup || now) - j.t_run) : null;
    const active = j.state_name !== "INACTIVE";
    return el("tr", {class: "clickable", "data-jobid": j.f58, "data-state": j.state_name,
                     onclick: () => showJob(j.f58)},
      el("td", {}, j.f58), el("td", {}, j.userid), el("td", {}, j.name || ""),
      el("td", {class: "state state-" + j.state_name}, j.state_name),
      el("td", {class: "result-" + (j.result_name || "")}, j.result_name || ""),
      el("td", {}, j.ntasks ?? "-"), el("td", {}, j.nodelist || "-"), el("td", {}, when(j.t_submit)),
      el("td", {}, fsd(runtime)),
      el("td", {}, canCancel && active ? el("button", {onclick: (e) => { e.stopPropagation(); cancelJob(j.f58); }}, "cancel") : ""));
  }));
  if (state.selectedJob) {
    const j = state.jobs.find((x) => x.f58 === state.selectedJob);
    if (j && j.state_name !== state.selectedJobState) showJob(state.selectedJob);
  }
}

async function cancelJob(id) {
  try {
    await api(`/api/jobs/${encodeURIComponent(id)}/cancel`, {method: "POST", headers: {"X-Dashboard-Action": "cancel"}});
  } catch (e) { alert(e.message); }
}

async function showJob(id) {
  state.selectedJob = id;
  const j = state.jobs.find((x) => x.f58 === id);
  state.selectedJobState = j ? j.state_name : null;
  const box = document.getElementById("job-detail");
  try {
    const d = await api("/api/jobs/" + encodeURIComponent(id));
    const events = (log) => el("table", {}, el("tbody", {}, ...(log || []).map((e) => el("tr", {},
      el("td", {}, new Date(e.timestamp * 1000).toISOString()), el("td", {}, e.name),
      el("td", {}, e.context ? JSON.stringify(e.context) : "")))));
    box.replaceChildren(el("h3", {}, `job ${d.f58}`),
      el("h3", {}, "eventlog"), events(d.eventlog),
      el("h3", {}, "exec eventlog"), events(d.exec_eventlog),
      el("h3", {}, "output"), el("pre", {id: "job-output"}, d.output.map((l) => (l.stream === "stderr" ? "[stderr] " : "") + l.text).join("") || "(none)"),
      el("h3", {}, "resources (R)"), el("pre", {}, d.R ? JSON.stringify(d.R, null, 2) : "(not allocated)"),
      el("h3", {}, "jobspec"), el("pre", {}, JSON.stringify(d.jobspec, null, 2)));
  } catch (e) {
    box.replaceChildren(el("p", {class: "error"}, `${id}: ${e.message}`));
  }
}

// -- live updates -----------------------------------------------------------------------------

function connect() {
  const conn = document.getElementById("connection");
  const es = new EventSource("/api/events");
  es.onopen = () => { conn.className = "conn-ok"; };
  es.onerror = () => { conn.className = es.readyState === EventSource.CLOSED ? "conn-lost" : "conn-wait"; };
  es.addEventListener("overview", (ev) => { state.overview = JSON.parse(ev.data); renderOverview(); });
  es.addEventListener("modules", (ev) => { state.modules = JSON.parse(ev.data); renderModules(); });
  es.addEventListener("jobs", (ev) => { state.jobs = JSON.parse(ev.data); renderJobs(); });
  es.addEventListener("history", (ev) => { state.history = JSON.parse(ev.data); renderCharts(); });
  es.addEventListener("sample", (ev) => {
    state.history.push(JSON.parse(ev.data));
    if (state.history.length > 300) state.history.shift();
    renderCharts();
  });
  es.addEventListener("dmesg", (ev) => {
    state.dmesg = JSON.parse(ev.data);
    for (const r of state.dmesg) addSubsystem(r.subsystem);
    renderLog();
  });
  es.addEventListener("log", (ev) => appendLog(JSON.parse(ev.data)));
}

async function start() {
  if (location.search.includes("token=")) history.replaceState(null, "", location.pathname + location.hash);
  try { state.config = await api("/api/config"); } catch (e) { /* shown by the connection dot */ }
  window.addEventListener("hashchange", showView);
  document.getElementById("modules-rank").addEventListener("change", renderModules);
  document.getElementById("log-level").addEventListener("change", renderLog);
  document.getElementById("log-subsystem").addEventListener("change", renderLog);
  document.getElementById("kvs-form").addEventListener("submit", (e) => {
    e.preventDefault();
    kvsLookup(document.getElementById("kvs-key").value.trim() || ".");
  });
  showView();
  connect();
}

document.addEventListener("DOMContentLoaded", start);
