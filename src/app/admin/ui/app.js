// mockrig dashboard. Plain JS, no dependencies, no build step. Served under a strict CSP:
// every value that comes from the server (request paths, headers, bodies are written by
// arbitrary clients) goes into the page through textContent / createElement, never HTML.
"use strict";

const BASE = "/__mockrig";
const MAX_ROWS = 2000;
const TOKEN_KEY = "mockrig.token";
const SESSION_KEY = "mockrig.session";
const TABS = ["requests", "health", "routes", "data", "connections"];

// ---------------------------------------------------------------------------------------
// Small helpers

const $ = (id) => document.getElementById(id);

/** Creates an element: el("td", {className: "x", dataset: {id: 1}}, "text", child, ...). */
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "dataset") for (const [dk, dv] of Object.entries(v)) e.dataset[dk] = String(dv);
    else e[k] = v;
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

function clear(node) {
  node.replaceChildren();
  return node;
}

const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const str = (v, dflt = "") => (v === undefined || v === null ? dflt : String(v));
const fmtInt = (n) => (Number.isFinite(n) ? n.toLocaleString("en-US") : "—");
const pad = (n, w = 2) => String(n).padStart(w, "0");

function fmtTime(iso, withDate) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return str(iso, "—");
  const t = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  return withDate ? `${d.toLocaleDateString()} ${t}` : t;
}
const fmtDateTime = (iso) => fmtTime(iso, true);

function fmtAgo(iso) {
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return "";
  const s = Math.max(0, Math.round((Date.now() - t) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

function fmtDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "—";
  if (ms < 10) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function statusClass(status) {
  const s = Number(status);
  return s >= 200 && s < 600 ? `s${Math.floor(s / 100)}xx` : "sother";
}

function toJson(v, indent) {
  try {
    return JSON.stringify(v, null, indent);
  } catch (_) {
    return String(v);
  }
}
/** A JSON value (or text) for a <pre>: strings as they are, the rest pretty-printed. */
const pretty = (v) => (v === undefined || v === null ? "" : typeof v === "string" ? v : toJson(v, 2));
/** A near-miss cell: strings as they are, missing values marked, the rest as JSON. */
const criterionValue = (v) => (v === undefined || v === null ? "(missing)" : typeof v === "string" ? v : toJson(v));
const isSet = (v) => v !== undefined && v !== null;

/** Header maps come as {name: value}; tolerate [[name, value]] and array values too. */
function headerPairs(h) {
  if (Array.isArray(h)) return h.filter(Array.isArray).map(([k, v]) => [str(k), str(v)]);
  if (!isObj(h)) return [];
  const out = [];
  for (const [k, v] of Object.entries(h)) {
    if (Array.isArray(v)) for (const x of v) out.push([k, str(x)]);
    else out.push([k, str(v)]);
  }
  return out;
}

function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (isSet(v) && v !== "") p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : "";
}

// ---------------------------------------------------------------------------------------
// SSE parsing: a pure function, fed the text received so far (after what the last call
// left over), answering the complete events and the unfinished rest.

/**
 * Parses Server-Sent Events text. `buffer` is the unconsumed text; returns
 * `{events: [{event, data, id}], rest}` where `rest` is text to prepend to the next chunk.
 * Lines end with \n, \r\n or \r; a blank line ends an event; ':' lines are comments;
 * "field: value" drops one space after the colon; several data lines join with \n; an
 * event without data lines is not dispatched (as EventSource does).
 */
function parseSse(buffer) {
  const events = [];
  let text = buffer;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  // A trailing \r may be the first half of \r\n: keep it for the next chunk.
  const tail = text.endsWith("\r") ? "\r" : "";
  text = text.slice(0, text.length - tail.length).replace(/\r\n|\r/g, "\n");
  let start = 0;
  for (;;) {
    const end = text.indexOf("\n\n", start);
    if (end < 0) break;
    const block = text.slice(start, end);
    start = end + 2;
    let event = "message";
    let id = null;
    const data = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value || "message";
      else if (field === "data") data.push(value);
      else if (field === "id") id = value;
    }
    if (data.length) events.push({ event, data: data.join("\n"), id });
  }
  return { events, rest: text.slice(start) + tail };
}

// ---------------------------------------------------------------------------------------
// State

const S = {
  token: sessionStorage.getItem(TOKEN_KEY) || "",
  session: sessionStorage.getItem(SESSION_KEY) || "",
  tab: "requests",
  authFailed: false,
  routes: [], // GET /routes, match order
  routeBySource: new Map(),
  items: [], // request summaries, newest first, each {key, s, row}
  byKey: new Map(),
  dropped: 0,
  selectedKey: null,
  detailSeq: 0,
  status: null,
  dataDirty: new Set(), // resources whose textarea the user has edited
  stream: null, // {abort}
  streamEpoch: 0,
  connTimer: null,
  routesThrottle: null,
};

// ---------------------------------------------------------------------------------------
// Errors and the token

let errorCount = 0;
function showError(msg) {
  const bar = $("error-bar");
  const same = !bar.hidden && $("error-text").dataset.msg === msg;
  errorCount = same ? errorCount + 1 : 1;
  $("error-text").dataset.msg = msg;
  $("error-text").textContent = errorCount > 1 ? `${msg} (×${errorCount})` : msg;
  bar.hidden = false;
}

function hideError() {
  $("error-bar").hidden = true;
  errorCount = 0;
}

class ApiError extends Error {
  constructor(message, status, reason) {
    super(message);
    this.status = status;
    this.reason = reason || message;
  }
}

const authHeaders = () => (S.token ? { Authorization: `Bearer ${S.token}` } : {});

function showTokenForm(message) {
  S.authFailed = true;
  stopStream();
  stopConnPolling();
  const err = $("token-error");
  err.textContent = message || "";
  err.hidden = !message;
  if (!$("token-overlay").hidden) return; // already up: keep what the user is typing
  $("token-overlay").hidden = false;
  $("token-form").hidden = false;
  $("token-input").value = "";
  $("token-input").focus();
}

/**
 * Calls an admin endpoint. Answers the parsed JSON (or null for an empty body). Throws an
 * ApiError (with the server's "error" text) on a non-2xx answer or a network failure; a 401
 * also brings up the token form. Unless `quiet`, the error is shown in the error bar too.
 */
async function api(method, path, opts = {}) {
  const headers = { ...authHeaders(), Accept: "application/json" };
  const init = { method, headers, cache: "no-store" };
  if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  }
  let res;
  try {
    res = await fetch(BASE + path + qs(opts.query), init);
  } catch (e) {
    const err = new ApiError(`${method} ${path}: cannot reach the server (${e.message})`, 0);
    if (!opts.quiet) showError(err.message);
    throw err;
  }
  const text = await res.text().catch(() => "");
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch (_) {
    body = text;
  }
  if (res.status === 401) {
    showTokenForm(S.token ? "The token was refused. Enter the admin token again." : "");
    throw new ApiError("unauthorized", 401);
  }
  if (!res.ok) {
    const why = isObj(body) && body.error ? String(body.error) : typeof body === "string" && body ? body : res.statusText;
    const err = new ApiError(`${method} ${path}: ${res.status} ${why}`, res.status, why);
    if (!opts.quiet && !(opts.allow || []).includes(res.status)) showError(err.message);
    throw err;
  }
  return body;
}

/** Runs an async task, swallowing errors api() has already reported. */
function run(promise) {
  promise.catch((e) => {
    if (e instanceof ApiError) return;
    console.error(e);
    showError(String(e && e.message ? e.message : e));
  });
}

// ---------------------------------------------------------------------------------------
// Tabs

function tabFromHash() {
  const h = location.hash.replace(/^#/, "");
  return TABS.includes(h) ? h : "requests";
}

function showTab(name) {
  S.tab = name;
  for (const t of TABS) {
    const active = t === name;
    $(`view-${t}`).hidden = !active;
    const btn = $(`tab-${t}`);
    btn.classList.toggle("active", active);
    btn.setAttribute("aria-selected", String(active));
  }
  if (S.authFailed) return;
  if (name === "health") run(loadStatus());
  if (name === "routes") run(loadRoutesView());
  if (name === "data") run(loadData(false));
  if (name === "connections") run(loadRoutes().then(startConnPolling));
  else stopConnPolling();
}

function gotoTab(name) {
  if (location.hash !== `#${name}`) location.hash = name;
  else showTab(name);
}

// ---------------------------------------------------------------------------------------
// Live stream

function setLive(on) {
  const live = $("live");
  live.textContent = on ? "live" : "reconnecting";
  live.classList.toggle("on", on);
  live.classList.toggle("off", !on);
}

function stopStream() {
  S.streamEpoch++;
  if (S.stream) S.stream.abort();
  S.stream = null;
  setLive(false);
}

function startStream() {
  stopStream();
  const epoch = S.streamEpoch;
  let delay = 1000;
  let first = true;
  const loop = async () => {
    while (epoch === S.streamEpoch) {
      const ctrl = new AbortController();
      S.stream = ctrl;
      let connected = false;
      try {
        const headers = { ...authHeaders(), Accept: "text/event-stream" };
        const res = await fetch(`${BASE}/events`, { headers, cache: "no-store", signal: ctrl.signal });
        if (res.status === 401) return void (epoch === S.streamEpoch && showTokenForm(S.token ? "The token was refused." : ""));
        if (!res.ok || !res.body) throw new Error(`events: ${res.status}`);
        connected = true;
        setLive(true);
        delay = 1000;
        // Catch up with what happened while disconnected (the first time: the page load).
        if (!first) [loadRequests(), loadStatus(), loadRoutes()].forEach(run);
        first = false;
        const reader = res.body.getReader();
        const decoder = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += decoder.decode(value, { stream: true });
          const { events, rest } = parseSse(buf);
          buf = rest;
          for (const ev of events) {
            if (epoch !== S.streamEpoch) return;
            handleEvent(ev);
          }
        }
      } catch (_) {
        // the connection failed or ended: retry below
      }
      if (epoch !== S.streamEpoch) return;
      setLive(false);
      await new Promise((r) => setTimeout(r, delay));
      delay = connected ? 2000 : Math.min(delay * 2, 10000); // 1 s, 2 s, 4 s, 8 s, 10 s, ...
    }
  };
  loop();
}

function handleEvent(ev) {
  let data;
  try {
    data = ev.data ? JSON.parse(ev.data) : {};
  } catch (_) {
    return;
  }
  if (!isObj(data)) return;
  if (ev.event === "requests") {
    if (Array.isArray(data.requests) && data.requests.length) {
      addNewRequests(data.requests);
      noteSessions(data.requests);
    }
    if (Number(data.dropped) > 0) {
      S.dropped += Number(data.dropped);
      renderSampling();
    }
    if (S.tab === "routes") scheduleRoutesRefresh(); // answer counts moved
  } else if (ev.event === "reload" || ev.event === "routes" || ev.event === "resync") {
    // resync: this page fell behind and missed a reload or a change of the routes.
    if (ev.event === "reload") applyReloadEvent(data);
    if (ev.event === "reload" || ev.event === "resync") {
      run(loadStatus());
    }
    run(S.tab === "routes" ? loadRoutesView() : loadRoutes());
  } // hello, and events this page does not know, need nothing
}

function scheduleRoutesRefresh() {
  if (S.routesThrottle) return;
  S.routesThrottle = setTimeout(() => {
    S.routesThrottle = null;
    if (S.tab === "routes") run(loadRoutes());
  }, 1500);
}

// ---------------------------------------------------------------------------------------
// Health

function applyReloadEvent(ev) {
  const { reload_error: re, ...last } = ev;
  S.status = { ...(S.status || {}), last_reload: last };
  if ("reload_error" in ev) S.status.reload_error = re;
  renderHealth();
}

async function loadStatus() {
  const st = await api("GET", "/status");
  S.status = isObj(st) ? st : {};
  S.authFailed = false;
  renderHealth();
}

function renderChanges(changes) {
  const box = clear($("reload-changes"));
  if (!isObj(changes)) return;
  for (const [kind, sign] of [["added", "+"], ["changed", "~"], ["removed", "−"]]) {
    const list = Array.isArray(changes[kind]) ? changes[kind] : [];
    const ul = el("ul", { className: `change-list ${kind}` });
    for (const r of list) ul.append(el("li", { className: kind }, el("span", { className: "sign" }, sign), el("span", { className: "mono" }, str(r))));
    if (!list.length) ul.append(el("li", { className: "muted" }, "none"));
    box.append(el("div", { className: "change-group" }, el("h4", null, `${kind} (${list.length})`), ul));
  }
}

function renderHealth() {
  const st = S.status || {};
  const failed = !!st.reload_error;
  const badge = $("health-badge");
  badge.textContent = failed ? "last save failed" : "ok";
  badge.className = `badge ${failed ? "health-error" : "health-ok"}`;
  $("spec-name").textContent = str(st.spec);
  const hs = $("health-status");
  hs.textContent = failed ? "error" : "ok";
  hs.className = `pill ${failed ? "error" : "ok"}`;
  $("health-spec").textContent = str(st.spec, "—");
  $("health-loaded-at").textContent = st.loaded_at ? fmtDateTime(st.loaded_at) : "—";
  $("health-reload-count").textContent = str(st.reload_count, "—");
  $("health-failed-count").textContent = str(st.failed_reload_count, "—");
  $("health-watching").textContent = st.watching === undefined ? "—" : st.watching ? "yes — saves reload the spec" : "no";
  const counts = isObj(st.counts) ? Object.entries(st.counts).map(([k, v]) => `${v} ${k}`).join(" · ") : "";
  $("health-counts").textContent = counts || "—";
  const last = isObj(st.last_reload) ? st.last_reload : null;
  $("last-reload-at").textContent = last && last.at ? fmtDateTime(last.at) : "no reload since start";
  const res = $("last-reload-result");
  res.textContent = last ? str(last.result, "—") : "—";
  res.className = last ? (last.result === "ok" ? "ok-text" : "error-text") : "";
  $("last-reload-message").textContent = last ? str(last.message, last.result === "error" ? "the spec did not load" : "—") : "—";
  renderChanges(last && last.result !== "error" ? last.changes : null);
  $("reload-error-box").hidden = !failed;
  $("reload-error").textContent = failed ? String(st.reload_error) : "";
}

// ---------------------------------------------------------------------------------------
// Routes (also the source of `at` for the requests list and the channels)

async function loadRoutes() {
  const body = await api("GET", "/routes", { query: { session: S.session } });
  const list = Array.isArray(body) ? body : isObj(body) && Array.isArray(body.routes) ? body.routes : [];
  S.routes = list.filter(isObj);
  S.routeBySource = new Map();
  for (const r of S.routes) if (r.source && !S.routeBySource.has(r.source)) S.routeBySource.set(r.source, r);
  refreshRouteCells();
  renderRoutes();
  renderChannels(null);
}

const loadRoutesView = () => Promise.all([loadRoutes(), loadScenarios()]);

function routeAt(source) {
  const r = S.routeBySource.get(source);
  return r && r.at ? String(r.at) : "";
}

const openYaml = new Set();

function renderRoutes() {
  const tbody = clear($("routes-table").tBodies[0]);
  S.routes.forEach((r, i) => {
    const source = str(r.source);
    const key = `${source}|${r.method}|${r.path}|${r.stub_id}`;
    const actions = el("td", { className: "actions" });
    if (r.stub) actions.append(el("span", { className: "badge stub" }, "runtime stub"));
    if (r.stub && isSet(r.stub_id)) {
      const dataset = { stubId: r.stub_id };
      actions.append(el("button", { type: "button", className: "remove-stub small danger-outline", dataset, title: "Remove this runtime stub" }, "remove"));
    }
    const sc = r.scenario;
    const scen = isObj(sc) ? `${str(sc.name)}: ${str(sc.when, "any")} → ${str(sc.then, "(unchanged)")}` : "";
    const tr = el("tr", { className: `route kind-${str(r.kind, "unknown")}`, dataset: { source, key } },
      el("td", { className: "num muted" }, String(i + 1)),
      el("td", { className: `method m-${str(r.method).toLowerCase()}` }, str(r.method, "—")),
      el("td", { className: "mono path" }, str(r.path), r.conditions ? el("span", { className: "badge cond", title: "has match: conditions" }, "match") : null),
      el("td", { className: "kind" }, str(r.kind)),
      el("td", { className: "mono at muted" }, str(r.at, "—")),
      el("td", { className: "num answers" }, isSet(r.answers) ? fmtInt(Number(r.answers)) : "—"),
      el("td", { className: "scenario" }, scen),
      actions);
    const yaml = r.yaml ? el("pre", { className: "code yaml" }, String(r.yaml)) : el("span", { className: "muted" }, `${source}: no YAML source to show`);
    tr.classList.toggle("open", openYaml.has(key));
    tbody.append(tr, el("tr", { className: "route-yaml", hidden: !openYaml.has(key) }, el("td", { colSpan: 8 }, yaml)));
  });
  if (!S.routes.length) tbody.append(el("tr", null, el("td", { colSpan: 8, className: "empty" }, "No routes.")));
}

function onRoutesClick(e) {
  const btn = e.target.closest("button.remove-stub");
  if (btn) {
    btn.disabled = true;
    return run(api("DELETE", `/routes/${encodeURIComponent(btn.dataset.stubId)}`).then(loadRoutes).finally(() => (btn.disabled = false)));
  }
  const tr = e.target.closest("tr.route");
  if (!tr || e.target.closest("a,button,select,input")) return;
  const yamlRow = tr.nextElementSibling;
  if (!yamlRow || !yamlRow.classList.contains("route-yaml")) return;
  yamlRow.hidden = !yamlRow.hidden;
  tr.classList.toggle("open", !yamlRow.hidden);
  openYaml[yamlRow.hidden ? "delete" : "add"](tr.dataset.key);
}

async function loadScenarios() {
  const body = await api("GET", "/scenarios", { query: { session: S.session } });
  const scen = isObj(body) && isObj(body.scenarios) ? body.scenarios : {};
  const tbody = clear($("scenarios-table").tBodies[0]);
  const names = Object.keys(scen).sort();
  for (const name of names) {
    const sc = isObj(scen[name]) ? scen[name] : {};
    const states = Array.isArray(sc.states) ? sc.states.map(String) : [];
    if (isSet(sc.state) && !states.includes(String(sc.state))) states.unshift(String(sc.state));
    const select = el("select", { className: "scenario-state", dataset: { scenario: name } });
    for (const s of states) select.append(el("option", { value: s }, s));
    select.value = str(sc.state);
    const current = el("td", { className: "scenario-current" }, el("span", { className: "pill neutral" }, str(sc.state, "—")));
    tbody.append(el("tr", { className: "scenario", dataset: { scenario: name } }, el("td", { className: "mono" }, name), current, el("td", null, select)));
  }
  $("scenarios-table").hidden = !names.length;
  $("scenarios-empty").hidden = !!names.length;
}

function onScenarioChange(e) {
  const sel = e.target.closest("select.scenario-state");
  if (!sel) return;
  sel.disabled = true;
  const put = api("PUT", `/scenarios/${encodeURIComponent(sel.dataset.scenario)}`, { query: { session: S.session }, body: { state: sel.value } });
  // Either way, show the state the server has.
  run(put.finally(() => ((sel.disabled = false), run(loadScenarios()))).then(loadRoutes));
}

// ---------------------------------------------------------------------------------------
// Requests

const keyOf = (s) => `${str(s.session)}\u0000${str(s.id)}`;

function sortNewestFirst(a, b) {
  const ta = Date.parse(a.s.time) || 0;
  const tb = Date.parse(b.s.time) || 0;
  return ta !== tb ? tb - ta : (Number(b.s.id) || 0) - (Number(a.s.id) || 0);
}

/** Keeps only the summary fields: a list entry can carry headers and bodies. */
const summaryOf = ({ headers, body, response, ...s }) => s;
const isMatched = (s) => isSet(s.matched);
const pathOf = (s) => str(s.path) + (s.query ? `?${s.query}` : "");

/** The list shows `at` as file name:line (the spec may be named by a long path). */
const shortAt = (at) => at.replace(/^.*[\\/]/, "");

function matchedCell(s) {
  const td = el("td", { className: "route-cell" });
  if (isMatched(s)) {
    const at = routeAt(s.matched);
    td.append(el("span", { className: "mono" }, str(s.matched)), at ? el("span", { className: "at muted mono" }, ` ${shortAt(at)}`) : null);
    td.title = `${s.matched}${at ? ` (${at})` : ""}`;
  } else {
    const near = isObj(s.nearest) && s.nearest.route ? String(s.nearest.route) : "";
    const at = near ? routeAt(near) : "";
    const text = (a) => `no match${near ? ` — closest: ${near}${a ? ` (${a})` : ""}` : ""}`;
    td.title = text(at);
    td.append(el("span", { className: "miss-text" }, text(at && shortAt(at))));
  }
  return td;
}

function requestRow(s) {
  const matched = isMatched(s);
  const status = el("td", { className: `status ${statusClass(s.status)}` }, str(s.status, "—"));
  if (s.fault) status.append(el("span", { className: "badge fault", title: "fault injected" }, str(s.fault)));
  const dataset = { id: str(s.id), session: str(s.session), matched: String(matched) };
  return el("tr", { className: `request${matched ? "" : " miss"}`, dataset },
    el("td", { className: "time mono muted" }, fmtTime(s.time)),
    el("td", { className: `method m-${str(s.method).toLowerCase()}` }, str(s.method)),
    el("td", { className: "path mono", title: pathOf(s) }, pathOf(s)),
    status,
    matchedCell(s),
    el("td", { className: "dur num muted" }, fmtDuration(s.duration_ms)),
    el("td", { className: "session mono" }, str(s.session)));
}

function refreshRouteCells() {
  for (const it of S.items) it.row.replaceChild(matchedCell(it.s), it.row.cells[4]);
}

// Filters

function statusMatcher(text) {
  const tokens = text.toLowerCase().split(/[\s,]+/).filter(Boolean);
  if (!tokens.length) return null;
  return (status) => {
    const s = str(status);
    return tokens.some((t) => {
      const p = t.padEnd(3, "x");
      return p.length === s.length && [...p].every((c, i) => c === "x" || c === s[i]);
    });
  };
}

function currentFilter() {
  const path = $("filter-path").value.trim().toLowerCase();
  const status = statusMatcher($("filter-status").value);
  const matched = $("filter-matched").value;
  return (s) => {
    if (path && !pathOf(s).toLowerCase().includes(path)) return false;
    if (status && !status(s.status)) return false;
    return matched === "all" || (matched === "matched") === isMatched(s);
  };
}

let filterFn = () => true;

function applyFilters() {
  filterFn = currentFilter();
  for (const it of S.items) it.row.hidden = !filterFn(it.s);
  renderCount();
}

function renderCount() {
  const total = S.items.length;
  let shown = 0;
  for (const it of S.items) if (!it.row.hidden) shown++;
  $("requests-count").textContent = shown === total ? `${fmtInt(total)} requests` : `${fmtInt(shown)} of ${fmtInt(total)} requests`;
  $("requests-empty").hidden = total > 0;
}

function renderSampling() {
  $("sampling").hidden = !(S.dropped > 0);
  $("sampling").textContent = `${fmtInt(S.dropped)} requests not shown: under load the dashboard shows a sample; the journal (/__mockrig/requests) keeps them all.`;
}

function trimItems() {
  while (S.items.length > MAX_ROWS) {
    const it = S.items.pop();
    S.byKey.delete(it.key);
    it.row.remove();
  }
}

function makeItem(raw) {
  const s = summaryOf(raw);
  const key = keyOf(s);
  const row = requestRow(s);
  row.hidden = !filterFn(s);
  row.classList.toggle("selected", key === S.selectedKey);
  return { key, s, row };
}

/** Requests from the stream: newer than what the page has, newest last in the batch. */
function addNewRequests(list) {
  const fresh = [];
  for (const raw of list) {
    if (!isObj(raw) || S.byKey.has(keyOf(raw))) continue;
    const it = makeItem(raw);
    S.byKey.set(it.key, it);
    fresh.push(it);
    if (raw.session) addSessionOption(String(raw.session));
  }
  if (!fresh.length) return;
  fresh.sort(sortNewestFirst);
  $("requests-table").tBodies[0].prepend(...fresh.map((it) => it.row));
  S.items = fresh.concat(S.items);
  trimItems();
  renderCount();
}

/** Fills the list from the journals: the shared one and each live session's. */
async function loadRequests() {
  // Summaries only (no headers or bodies: a row needs none), the latest that fit the table.
  const list = { summary: "true", limit: String(MAX_ROWS) };
  const shared = api("GET", "/requests", { query: list });
  const names = await loadSessions(true).catch(() => []); // the shared journal is enough
  const perSession = names.slice(0, 20).map((n) => api("GET", "/requests", { query: { ...list, session: n }, quiet: true }).catch(() => null));
  const bodies = [await shared, ...(await Promise.all(perSession))];
  const merged = new Map(S.items.map((it) => [it.key, it]));
  for (const b of bodies) {
    const list = isObj(b) && Array.isArray(b.requests) ? b.requests : [];
    for (const raw of list) if (isObj(raw) && !merged.has(keyOf(raw))) merged.set(keyOf(raw), makeItem(raw));
  }
  S.items = [...merged.values()].sort(sortNewestFirst).slice(0, MAX_ROWS);
  S.byKey = new Map(S.items.map((it) => [it.key, it]));
  clear($("requests-table").tBodies[0]).append(...S.items.map((it) => it.row));
  renderCount();
}

function emptyRequests() {
  S.items = [];
  S.byKey.clear();
  S.dropped = 0;
  clear($("requests-table").tBodies[0]);
  renderSampling();
  renderCount();
  closeDetail();
}

// Details

function closeDetail() {
  S.selectedKey = null;
  S.detailSeq++;
  $("request-detail").hidden = true;
  $("requests-split").classList.remove("with-detail");
  for (const r of document.querySelectorAll("tr.request.selected")) r.classList.remove("selected");
}

function fillHeaders(table, headers) {
  const tbody = clear(table.tBodies[0]);
  const pairs = headerPairs(headers);
  for (const [k, v] of pairs) tbody.append(el("tr", null, el("th", { className: "mono" }, k), el("td", { className: "mono" }, v)));
  if (!pairs.length) tbody.append(el("tr", null, el("td", { className: "muted", colSpan: 2 }, "(none)")));
}

function fillBody(pre, value, emptyText) {
  const text = pretty(value);
  pre.textContent = text || emptyText;
  pre.classList.toggle("muted", !text);
}

function renderNearMiss(near) {
  $("near-miss").hidden = !isObj(near);
  if (!isObj(near)) return;
  const at = near.route ? routeAt(near.route) : "";
  clear($("near-miss-route")).append(
    el("span", { className: "route-label" }, str(near.route, "?")), " ",
    el("span", { className: `method m-${str(near.method).toLowerCase()}` }, str(near.method)), " ",
    el("span", null, str(near.path)),
    at ? el("span", { className: "at muted" }, `  ${at}`) : null);
  const tbody = clear($("near-miss-table").tBodies[0]);
  const failed = Array.isArray(near.failed) ? near.failed : [];
  for (const f of failed) {
    if (!isObj(f)) continue;
    const crit = str(f.criterion) + (isSet(f.segment) ? ` (segment ${f.segment})` : "");
    tbody.append(el("tr", { className: "failure" },
      el("td", { className: "criterion mono" }, crit),
      el("td", { className: "expected mono" }, criterionValue(f.expected)),
      el("td", { className: `actual mono${isSet(f.actual) ? "" : " missing"}` }, criterionValue(f.actual))));
  }
  if (!failed.length) tbody.append(el("tr", null, el("td", { colSpan: 3, className: "muted" }, "no criteria recorded")));
}

function renderDetailMeta(s) {
  const meta = clear($("detail-meta"));
  const add = (label, value, cls) => meta.append(el("span", { className: "meta-item" }, el("span", { className: "muted" }, `${label} `), el("span", { className: cls || "" }, value)));
  add("time", fmtDateTime(s.time));
  add("status", str(s.status, "—"), `status ${statusClass(s.status)}`);
  add("duration", fmtDuration(s.duration_ms));
  add("session", s.session ? String(s.session) : "shared", "mono");
  const at = isMatched(s) ? routeAt(s.matched) : "";
  if (isMatched(s)) add("route", `${s.matched}${at ? ` (${at})` : ""}`, "mono");
  else add("route", "no match", "miss-text");
  if (s.fault) add("fault", String(s.fault), "fault-text");
}

async function openDetail(key) {
  const it = S.byKey.get(key);
  if (!it) return;
  const s = it.s;
  S.selectedKey = key;
  const seq = ++S.detailSeq;
  for (const r of document.querySelectorAll("tr.request.selected")) r.classList.remove("selected");
  it.row.classList.add("selected");
  $("request-detail").hidden = false;
  $("requests-split").classList.add("with-detail");
  $("detail-request-line").textContent = `${str(s.method)} ${pathOf(s)}`;
  renderDetailMeta(s);
  renderNearMiss(isMatched(s) ? null : s.nearest);
  const msg = $("detail-message");
  msg.hidden = false;
  msg.textContent = "Loading…";
  $("detail-body").classList.add("loading");
  let entry;
  try {
    entry = await api("GET", `/requests/${encodeURIComponent(str(s.id))}`, { query: { session: s.session }, allow: [404] });
  } catch (e) {
    if (seq !== S.detailSeq) return;
    msg.textContent = e.status === 404
      ? "This request was evicted from the journal (it keeps only the most recent requests): its headers and bodies are gone."
      : `Could not load the details: ${e.reason || e.message}`;
    for (const id of ["detail-request-headers", "detail-response-headers"]) clear($(id).tBodies[0]);
    for (const id of ["detail-request-body", "detail-response-body"]) $(id).textContent = "";
    $("detail-response-status").textContent = "";
    $("detail-body").classList.remove("loading");
    return;
  }
  if (seq !== S.detailSeq) return;
  $("detail-body").classList.remove("loading");
  msg.hidden = true;
  const e = isObj(entry) ? entry : {};
  const full = { ...s, ...e };
  renderDetailMeta(full);
  renderNearMiss(isMatched(full) ? null : full.nearest);
  fillHeaders($("detail-request-headers"), e.headers);
  fillBody($("detail-request-body"), e.body, "(no body)");
  const resp = isObj(e.response) ? e.response : {};
  const rs = isSet(resp.status) ? resp.status : s.status;
  const st = $("detail-response-status");
  st.textContent = str(rs, "—");
  st.className = `status ${statusClass(rs)}`;
  fillHeaders($("detail-response-headers"), resp.headers);
  fillBody($("detail-response-body"), resp.body, isObj(e.response) ? "(no body recorded — empty, streamed or a file)" : "(the answer is kept only while a dashboard is open)");
  if (resp.truncated) $("detail-response-body").textContent += "\n… (truncated)";
}

// ---------------------------------------------------------------------------------------
// Sessions and data

function addSessionOption(name) {
  const sel = $("session");
  if ([...sel.options].some((o) => o.value === name)) return;
  sel.append(el("option", { value: name }, name));
}

function renderSessionOptions(names) {
  const sel = $("session");
  const keep = S.session;
  const wanted = ["", ...names];
  if (keep && !wanted.includes(keep)) wanted.push(keep);
  const have = [...sel.options].map((o) => o.value);
  if (have.length === wanted.length && have.every((v, i) => v === wanted[i])) return;
  clear(sel);
  for (const n of wanted) sel.append(el("option", { value: n }, n === "" ? "shared data" : n));
  sel.value = keep;
}

// A session seen in the stream joins the selector at once, without asking the server.
function noteSessions(requests) {
  const have = new Set([...$("session").options].map((o) => o.value));
  const fresh = [];
  for (const r of requests) {
    const name = isObj(r) && typeof r.session === "string" ? r.session : "";
    if (name && !have.has(name)) {
      have.add(name);
      fresh.push(name);
    }
  }
  if (fresh.length) renderSessionOptions([...have].filter((n) => n !== ""));
}

async function loadSessions(quiet) {
  const ss = await api("GET", "/sessions", { quiet });
  const names = isObj(ss) && Array.isArray(ss.sessions) ? ss.sessions.map(String) : [];
  renderSessionOptions(names);
  return names;
}

function onSessionChange() {
  S.session = $("session").value;
  sessionStorage.setItem(SESSION_KEY, S.session);
  S.dataDirty.clear();
  if (S.tab === "routes") run(loadRoutesView());
  else run(loadRoutes());
  if (S.tab === "data") run(loadData(true));
}

function recordCount(v) {
  if (Array.isArray(v)) return `${fmtInt(v.length)} record${v.length === 1 ? "" : "s"}`;
  return isObj(v) ? "singleton" : "";
}

function resourceSection(name) {
  const dataset = { resource: name };
  return el("section", { className: "resource card", dataset },
    el("div", { className: "resource-head" },
      el("h3", { className: "mono" }, name),
      el("span", { className: "count muted", dataset }),
      el("span", { className: "dirty-note", dataset, hidden: true }, "edited — not saved"),
      el("span", { className: "spacer" }),
      el("span", { className: "data-error", dataset }),
      el("span", { className: "data-ok", dataset }),
      el("button", { type: "button", className: "save primary small", dataset }, "Save"),
      el("button", { type: "button", className: "reset small", dataset }, "Reset")),
    el("textarea", { className: "records mono", spellcheck: false, rows: 8, dataset }));
}

const inData = (cls, name) => $("data-resources").querySelector(`.${cls}[data-resource="${CSS.escape(name)}"]`);

function setDirty(name, dirty) {
  if (dirty) S.dataDirty.add(name);
  else S.dataDirty.delete(name);
  const note = inData("dirty-note", name);
  if (note) note.hidden = !dirty;
  const ta = inData("records", name);
  if (ta) ta.classList.toggle("dirty", dirty);
}

/**
 * Fetches GET /state and fills the resource sections. `force` overwrites textareas the user
 * has edited; `only` limits the refresh to one resource.
 */
async function loadData(force, only) {
  const state = await api("GET", "/state", { query: { session: S.session } });
  const data = isObj(state) ? state : {};
  const box = $("data-resources");
  const names = Object.keys(data);
  for (const sec of [...box.querySelectorAll("section.resource")]) {
    if (!(sec.dataset.resource in data)) sec.remove();
  }
  for (const name of names) {
    let sec = box.querySelector(`section.resource[data-resource="${CSS.escape(name)}"]`);
    if (!sec) {
      sec = resourceSection(name);
      box.append(sec);
    }
    inData("count", name).textContent = recordCount(data[name]);
    if (only !== undefined && only !== name) continue;
    if (!force && S.dataDirty.has(name)) continue;
    const ta = inData("records", name);
    ta.value = pretty(data[name]);
    ta.rows = Math.min(24, Math.max(4, ta.value.split("\n").length + 1));
    setDirty(name, false);
  }
  $("data-empty").hidden = names.length > 0;
}

function flash(node, text) {
  node.textContent = text;
  clearTimeout(node._t);
  node._t = setTimeout(() => (node.textContent = ""), 2500);
}

async function saveResource(name) {
  const errBox = inData("data-error", name);
  errBox.textContent = "";
  let parsed;
  try {
    parsed = JSON.parse(inData("records", name).value);
  } catch (e) {
    return void (errBox.textContent = `Invalid JSON: ${e.message}`);
  }
  try {
    await api("PUT", "/state", { query: { session: S.session }, body: { [name]: parsed }, quiet: true });
  } catch (e) {
    return void (errBox.textContent = e.reason); // the server says which record is wrong
  }
  setDirty(name, false);
  flash(inData("data-ok", name), "saved");
  await loadData(false, name);
  if (S.session) addSessionOption(S.session);
}

async function resetResource(name) {
  inData("data-error", name).textContent = "";
  await api("POST", "/reset", { query: { resource: name, session: S.session } });
  setDirty(name, false);
  flash(inData("data-ok", name), "reset");
  await loadData(false, name);
}

async function resetAll() {
  const msg = S.session
    ? `Reset all data of session "${S.session}" back to the spec's seed?`
    : "Reset all shared data back to the spec's seed?\n\nFor the shared data this also clears the request journal, the runtime stubs and the scenario states.";
  if (!confirm(msg)) return;
  await api("POST", "/reset", { query: { session: S.session } });
  S.dataDirty.clear();
  await loadData(true);
  flash($("data-message"), "reset done");
  if (!S.session) emptyRequests(); // the shared reset cleared the journal too
  run(loadRoutes());
}

async function exportState() {
  const state = await api("GET", "/state", { query: { session: S.session } });
  const blob = new Blob([JSON.stringify(state, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: "mockrig-state.json", hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function importState(file) {
  const text = await file.text();
  try {
    JSON.parse(text);
  } catch (e) {
    return showError(`Import: ${file.name} is not JSON (${e.message})`);
  }
  await api("PUT", "/state", { query: { session: S.session }, body: text });
  S.dataDirty.clear();
  await loadData(true);
  flash($("data-message"), `imported ${file.name}`);
}

// ---------------------------------------------------------------------------------------
// Connections

let lastConnections = null;

function stopConnPolling() {
  clearInterval(S.connTimer);
  S.connTimer = null;
}

function startConnPolling() {
  stopConnPolling();
  const tick = () => {
    if (S.tab !== "connections" || S.authFailed) return stopConnPolling();
    if (document.visibilityState === "visible") run(loadConnections());
  };
  tick();
  S.connTimer = setInterval(tick, 2000);
}

async function loadConnections() {
  const c = await api("GET", "/connections");
  lastConnections = isObj(c) ? c : {};
  renderChannels(lastConnections);
}

function renderChannels(conn) {
  conn = conn || lastConnections || {};
  const box = $("channels");
  const channels = S.routes.filter((r) => r.kind === "websocket" || r.kind === "sse");
  const clients = Array.isArray(conn.clients) ? conn.clients.filter(isObj) : [];
  const groups = new Map();
  for (const ch of channels) {
    const k = `${ch.kind}|${ch.path}`;
    if (!groups.has(k)) groups.set(k, { kind: ch.kind, path: str(ch.path), at: ch.at, declared: true, clients: [] });
  }
  for (const cl of clients) {
    const k = `${cl.kind}|${str(cl.channel || cl.path)}`;
    if (!groups.has(k)) groups.set(k, { kind: cl.kind, path: str(cl.channel || cl.path), declared: false, clients: [] });
    groups.get(k).clients.push(cl);
  }
  const countMaps = { websocket: isObj(conn.websockets) ? conn.websockets : {}, sse: isObj(conn.sse) ? conn.sse : {} };
  const frag = document.createDocumentFragment();
  for (const g of groups.values()) {
    const open = Object.entries(countMaps[g.kind] || {})
      .filter(([p]) => p === g.path || matchesPattern(g.path, p))
      .reduce((n, [, v]) => n + (Number(v) || 0), 0);
    const n = Math.max(open, g.clients.length);
    const head = el("div", { className: "channel-head" },
      el("span", { className: `badge kind-${g.kind}` }, g.kind === "sse" ? "SSE" : "WS"),
      el("button", { type: "button", className: "link mono channel-path", dataset: { kind: g.kind, path: g.path }, title: "Push to this channel" }, g.path),
      g.at ? el("span", { className: "muted mono" }, String(g.at)) : null,
      g.declared ? null : el("span", { className: "muted" }, "(not declared)"),
      el("span", { className: "spacer" }),
      el("span", { className: `count ${n ? "" : "muted"}` }, `${n} client${n === 1 ? "" : "s"}`));
    const table = el("table", { className: "grid clients" });
    const tbody = el("tbody");
    for (const cl of g.clients) {
      tbody.append(el("tr", { className: "client", dataset: { id: str(cl.id), kind: str(cl.kind), path: str(cl.path) }, title: "Click to push to this connection" },
        el("td", { className: "cid mono" }, `#${str(cl.id)}`),
        el("td", null, el("button", { type: "button", className: "link mono client-path", dataset: { kind: str(cl.kind), path: str(cl.path) }, title: "Push to this room" }, str(cl.path))),
        el("td", { className: "since muted" }, cl.since ? `connected ${fmtTime(cl.since)}` : ""),
        el("td", { className: "age muted num" }, cl.since ? fmtAgo(cl.since) : "")));
    }
    if (!g.clients.length) tbody.append(el("tr", null, el("td", { className: "muted", colSpan: 4 }, n ? `${n} open (no per-client list from the server)` : "no clients connected")));
    table.append(tbody);
    frag.append(el("section", { className: "channel card", dataset: { channel: g.path, kind: g.kind } }, head, table));
  }
  clear(box).append(frag);
  $("channels-empty").hidden = groups.size > 0;
}

/** Whether a concrete path fits a declared pattern like /ws/rooms/{room} or /x/{*rest}. */
function matchesPattern(pattern, path) {
  const ps = pattern.split("/");
  const xs = path.split("/");
  for (let i = 0; i < ps.length; i++) {
    if (/^\{\*.*\}$/.test(ps[i])) return true;
    if (i >= xs.length) return false;
    if (/^\{.*\}$/.test(ps[i])) continue;
    if (ps[i] !== xs[i]) return false;
  }
  return ps.length === xs.length;
}

function setPushTarget(kind, type, target) {
  if (kind === "websocket" || kind === "sse") $("push-kind").value = kind;
  $("push-target-type").value = type;
  $("push-target").value = target;
  syncPushForm();
  $("push-message").focus();
}

function syncPushForm() {
  const sse = $("push-kind").value === "sse";
  for (const n of document.querySelectorAll(".sse-only")) n.hidden = !sse;
  const type = $("push-target-type").value;
  $("push-target").placeholder = type === "connection" ? "connection id, e.g. 7" : type === "path" ? "/ws/rooms/a" : "/ws/rooms/{room}";
}

function onChannelsClick(e) {
  const pathBtn = e.target.closest("button.channel-path");
  if (pathBtn) return setPushTarget(pathBtn.dataset.kind, "channel", pathBtn.dataset.path);
  const clientPath = e.target.closest("button.client-path");
  if (clientPath) return setPushTarget(clientPath.dataset.kind, "path", clientPath.dataset.path);
  const row = e.target.closest("tr.client");
  if (row) setPushTarget(row.dataset.kind, "connection", row.dataset.id);
}

async function push(e) {
  e.preventDefault();
  const result = $("push-result");
  const kind = $("push-kind").value;
  const type = $("push-target-type").value;
  const target = $("push-target").value.trim();
  const show = (cls, text) => ((result.className = cls), (result.textContent = text));
  if (!target) return show("error-text", "Choose a target first.");
  const raw = $("push-message").value;
  let body = raw; // sent as it is when it is JSON, else as a JSON string
  try {
    JSON.parse(raw);
  } catch (_) {
    body = JSON.stringify(raw);
  }
  const query = { [type]: target };
  if (kind === "sse") Object.assign(query, { event: $("push-event").value.trim(), id: $("push-id").value.trim() });
  const btn = $("push-send");
  btn.disabled = true;
  show("muted", "sending…");
  try {
    const ans = await api("POST", kind === "sse" ? "/sse/send" : "/ws/send", { query, body, quiet: true });
    const n = isObj(ans) && isSet(ans.delivered) ? ans.delivered : "?";
    show(Number(n) > 0 ? "ok-text" : "warn-text", `delivered to ${n}`);
  } catch (err) {
    show("error-text", err.reason);
  } finally {
    btn.disabled = false;
  }
  if (S.tab === "connections") run(loadConnections());
}

// ---------------------------------------------------------------------------------------
// Start

async function boot() {
  S.authFailed = false;
  try {
    await loadStatus();
  } catch (e) {
    if (e.status === 401) return; // the token form is up
    // Keep going: the other calls report their own errors, the stream keeps retrying.
  }
  startStream();
  run(loadRoutes().then(() => loadRequests()));
  showTab(tabFromHash());
}

function wire() {
  for (const t of TABS) $(`tab-${t}`).addEventListener("click", () => gotoTab(t));
  window.addEventListener("hashchange", () => showTab(tabFromHash()));
  $("health-badge").addEventListener("click", () => gotoTab("health"));
  $("error-dismiss").addEventListener("click", hideError);

  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token-input").value.trim();
    if (!t) return;
    S.token = t;
    sessionStorage.setItem(TOKEN_KEY, t);
    $("token-overlay").hidden = true;
    $("token-form").hidden = true;
    hideError();
    boot();
  });

  let filterTimer = null;
  const refilter = () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(applyFilters, 80);
  };
  $("filter-path").addEventListener("input", refilter);
  $("filter-status").addEventListener("input", refilter);
  $("filter-matched").addEventListener("change", applyFilters);
  $("clear-requests").addEventListener("click", () => run(api("DELETE", "/requests").then(emptyRequests)));
  $("requests-table").tBodies[0].addEventListener("click", (e) => {
    const tr = e.target.closest("tr.request");
    if (tr) run(openDetail(keyOf({ session: tr.dataset.session || null, id: tr.dataset.id })));
  });
  $("detail-close").addEventListener("click", closeDetail);
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && S.tab === "requests" && !$("request-detail").hidden) closeDetail();
  });

  $("routes-table").addEventListener("click", onRoutesClick);
  $("scenarios-table").addEventListener("change", onScenarioChange);
  $("refresh-routes").addEventListener("click", () => run(loadRoutesView()));

  $("session").value = S.session;
  $("session").addEventListener("change", onSessionChange);
  $("refresh-data").addEventListener("click", () => run(Promise.all([loadData(true), loadSessions()])));
  $("reset-all").addEventListener("click", () => run(resetAll()));
  $("export").addEventListener("click", () => run(exportState()));
  $("import").addEventListener("change", (e) => {
    const f = e.target.files && e.target.files[0];
    e.target.value = "";
    if (f) run(importState(f));
  });
  const dataBox = $("data-resources");
  dataBox.addEventListener("click", (e) => {
    const save = e.target.closest("button.save");
    if (save) return run(saveResource(save.dataset.resource));
    const reset = e.target.closest("button.reset");
    if (reset) run(resetResource(reset.dataset.resource));
  });
  dataBox.addEventListener("input", (e) => {
    const ta = e.target.closest("textarea.records");
    if (ta) setDirty(ta.dataset.resource, true);
  });

  $("channels").addEventListener("click", onChannelsClick);
  $("push-kind").addEventListener("change", syncPushForm);
  $("push-target-type").addEventListener("change", syncPushForm);
  $("push-form").addEventListener("submit", (e) => run(push(e)));
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && S.tab === "connections" && !S.authFailed) run(loadConnections());
  });
  syncPushForm();
  setLive(false);
  renderSampling();
  renderCount();
}

wire();
boot();
