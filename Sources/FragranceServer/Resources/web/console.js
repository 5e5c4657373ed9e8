// /console: collections and their schemas, understood search with a filter builder and facets,
// hits with their records and (on request) the plan and why each matched, browsing with a
// cursor, the recipe form with its validation, and live request rates and latency from
// /metrics. Talks to this server's own HTTP API; built with DOM calls and textContent only.
"use strict";

const $ = (id) => document.getElementById(id);

const state = { collection: null, fields: [], clauses: [], after: null, cursors: [] };

async function api(method, path, body, raw = false) {
  const headers = {};
  const token = $("token").value.trim();
  if (token) headers.Authorization = "Bearer " + token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  if (!r.ok) {
    let e = { code: "HTTP_" + r.status, message: text.slice(0, 300) };
    try { e = JSON.parse(text).error || e; } catch { /* not JSON */ }
    throw Object.assign(new Error(`${e.code}: ${e.message}`), { code: e.code, field: e.field, status: r.status });
  }
  return raw ? text : JSON.parse(text);
}

function showError(e) { $("error").textContent = e ? String(e.message || e) : ""; }

// -- collections ------------------------------------------------------------------------

async function loadCollections() {
  const { collections } = await api("GET", "/api/v1/collections");
  const box = $("collections");
  box.replaceChildren(...collections.map((c) => el("button", { type: "button", class: "coll", "data-name": c.name, onclick: () => select(c.name) },
    el("b", {}, c.name), el("div", { class: "muted" }, `${c.records.toLocaleString()} records · ${c.dimension}d${c.embedder ? " · " + c.embedder : ""}`))));
  if (!collections.length) box.replaceChildren(el("span", { class: "muted" }, "no collections yet"));
  const wanted = state.collection || (collections.find((c) => c.name === "perfumes") || collections[0] || {}).name;
  if (wanted) await select(wanted);
}

async function select(name) {
  state.collection = name;
  state.clauses = [];
  for (const b of document.querySelectorAll(".coll")) b.classList.toggle("active", b.dataset.name === name);
  const c = await api("GET", `/api/v1/collections/${encodeURIComponent(name)}`);
  state.fields = c.fields;
  $("schema").replaceChildren(el("h4", {}, `${c.name}: ${c.records.toLocaleString()} records`),
    el("table", { id: "schema-table" }, c.fields.map((f) => el("tr", {}, el("td", {}, el("code", {}, f.name)), el("td", { class: "muted" }, f.type)))),
    el("p", { class: "muted" }, `${c.metric}, graph ${c.graph_nodes} nodes, ${c.tombstones} tombstones${c.dynamic ? ", dynamic" : ""}`));
  renderClauses();
  await refreshFacets();
}

// -- filter builder ---------------------------------------------------------------------

const quote = (v) => "'" + String(v).replace(/'/g, "''") + "'";
function clauseText({ field, op, value }) {
  const f = state.fields.find((x) => x.name === field) || { type: "string" };
  if (value === "") return null;
  if (op === "IN") return `${field} IN (${value.split(",").map((v) => v.trim()).filter(Boolean).map((v) => (f.type === "int" || f.type === "float") ? v : quote(v)).join(", ")})`;
  const numeric = (f.type === "int" || f.type === "float") && !Number.isNaN(Number(value));
  const bool = f.type === "bool" && (value === "true" || value === "false");
  return `${field} ${op} ${numeric || bool ? value : quote(value)}`;
}
function filterText() { return state.clauses.map(clauseText).filter(Boolean).join(" AND ") || null; }

function renderClauses() {
  const fields = state.fields.filter((f) => f.type !== "text");
  $("builder").replaceChildren(...state.clauses.map((c, i) => {
    const field = el("select", { onchange: (e) => { c.field = e.target.value; update(); } }, fields.map((f) => el("option", { value: f.name }, f.name)));
    field.value = c.field;
    const op = el("select", { onchange: (e) => { c.op = e.target.value; update(); } }, ["=", "!=", ">", ">=", "<", "<=", "CONTAINS", "IN"].map((o) => el("option", {}, o)));
    op.value = c.op;
    const value = el("input", { type: "text", value: c.value, placeholder: "value", oninput: (e) => { c.value = e.target.value; update(false); } });
    return el("div", { class: "clause" }, field, op, value, el("button", { type: "button", class: "quiet", title: "remove", onclick: () => { state.clauses.splice(i, 1); update(); } }, "×"));
  }));
  $("filter-text").textContent = filterText() || "no filter";
}
function update(rerender = true) {
  if (rerender) renderClauses(); else $("filter-text").textContent = filterText() || "no filter";
}
function addClause(field, op, value) {
  state.clauses.push({ field, op, value });
  renderClauses();
}

async function refreshFacets() {
  // Few-valued fields first (what a shop's sidebar shows), then the collection's other strings and sets.
  const first = ["gender", "family", "seasons", "intensity", "product", "role"];
  const candidates = state.fields.filter((f) => f.type === "string" || f.type === "set" || f.type === "bool")
    .map((f) => f.name).filter((n) => !n.endsWith("_origin") && !["name", "id", "cas", "sources"].includes(n));
  const wanted = [...first.filter((n) => candidates.includes(n)), ...candidates.filter((n) => !first.includes(n))].slice(0, 4);
  if (!wanted.length) { $("facets").replaceChildren(); return; }
  try {
    const r = await api("POST", `/api/v1/collections/${encodeURIComponent(state.collection)}/facets`, { fields: wanted, filter: filterText() ?? undefined, facet_size: 6 });
    $("facets").replaceChildren(el("div", { class: "muted" }, `${r.count.toLocaleString()} records match`), ...r.facets.map((f) => {
      const type = (state.fields.find((x) => x.name === f.field) || {}).type;
      return el("div", { class: "facet", "data-field": f.field }, el("b", {}, f.field), el("div", {}, (f.values || []).map((v) =>
        el("a", { "data-value": v.value, onclick: async () => { addClause(f.field, type === "set" ? "CONTAINS" : "=", v.value); await refreshFacets(); await runSearch(); } },
          `${v.value} (${v.count})`)), f.missing ? el("span", { class: "muted" }, ` · ${f.missing} without`) : ""));
    }));
  } catch (e) { showError(e); }
}

// -- search -----------------------------------------------------------------------------

async function runSearch() {
  showError(null);
  const query = $("q").value.trim();
  if (!query) return;
  const body = { query, collection: state.collection, top_k: Number($("k").value) || 10, search_type: $("mode").value, explain: $("explain").checked };
  const filter = filterText();
  if (filter) body.filter = filter;
  try {
    const r = await api("POST", "/api/v1/search/hybrid", body);
    $("summary").textContent = `${r.total} hits in ${r.took_ms.toFixed(1)} ms · ${r.scoring} over ${r.arms.join(" + ")}` + (r.filter ? ` · filter ${r.filter}` : "");
    renderPlan(r);
    $("hits").replaceChildren(...r.results.map(renderHit));
  } catch (e) { showError(e); $("hits").replaceChildren(); $("plan").replaceChildren(); }
}

function renderPlan(r) {
  if (!r.plan && !r.parsed) { $("plan").replaceChildren(); return; }
  const rows = [];
  if (r.plan) {
    const p = r.plan;
    rows.push(["path", p.path], ["exact", String(p.exact)], ["reason", p.reason], ["candidates", `${p.candidates} of ${p.records} (estimated ${Math.round(p.estimated_candidates)})`],
      ["work", `${p.nodes_visited} nodes, ${p.distance_computations} distances, ef ${p.ef}`], ["took", `${r.took_ms.toFixed(2)} ms`]);
  }
  if (r.parsed) {
    rows.push(["understood", r.parsed.terms.map((t) => `${t.role} ${t.meaning}`).join("; ") || "nothing"], ["embedded", r.parsed.embedded_text || "–"]);
  }
  $("plan").replaceChildren(el("table", { id: "plan-table" }, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))));
}

function renderHit(h) {
  const rec = h.record || {};
  const title = rec.name ? `${rec.name}${rec.brand ? " — " + rec.brand : ""}` : h.id;
  const facts = Object.entries(rec).filter(([k, v]) => k !== "name" && k !== "brand" && k !== "text" && !k.endsWith("_origin") && typeof v !== "object")
    .slice(0, 6).map(([k, v]) => `${k}: ${v}`).join(" · ");
  const lists = ["accords", "seasons"].filter((k) => Array.isArray(rec[k])).map((k) => `${k}: ${rec[k].join(", ")}`).join(" · ");
  const why = [];
  if (h.explain) {
    const e = h.explain;
    if (e.matched_preferences?.length) why.push("matches " + e.matched_preferences.join("; "));
    const ranks = ["vector", "keyword", "preference", "popularity"].filter((a) => e[a + "_rank"]).map((a) => `${a} #${e[a + "_rank"]}`);
    if (ranks.length) why.push(ranks.join(", "));
    if (e.quality_prior) why.push(`quality ×${e.quality_prior.factor.toFixed(2)}`);
  }
  if (h.collapsed?.length) why.push(`stands for ${h.collapsed.length} near-duplicate(s)`);
  return el("div", { class: "hit", "data-id": h.id }, el("div", {}, el("b", {}, `${h.rank}. ${title}`), el("span", { class: "muted" }, `  ${h.id} · score ${h.score.toPrecision(4)}`)),
    facts ? el("div", { class: "fields" }, facts) : "", lists ? el("div", { class: "fields" }, lists) : "",
    why.length ? el("div", { class: "why" }, why.join(" · ")) : "");
}

// -- browse -----------------------------------------------------------------------------

async function runBrowse(after) {
  showError(null);
  const q = new URLSearchParams({ limit: "20" });
  const filter = $("browse-filter").value.trim(), order = $("browse-order").value.trim();
  if (filter) q.set("filter", filter);
  if (order) q.set("order", order);
  if (after) q.set("after", after);
  try {
    const page = await api("GET", `/api/v1/collections/${encodeURIComponent(state.collection)}/records?${q}`);
    const cols = ["id", ...state.fields.filter((f) => f.type !== "text" && f.type !== "tiered_set").map((f) => f.name).filter((n) => !n.endsWith("_origin")).slice(0, 7)];
    const cell = (v) => (v === undefined ? "" : Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : String(v));
    $("browse-table").replaceChildren(el("tr", {}, cols.map((c) => el("th", {}, c))), ...page.records.map((r) => el("tr", {}, cols.map((c) => el("td", {}, cell(r[c]))))));
    $("browse-count").textContent = `${page.count.toLocaleString()} records match · page ${state.cursors.length + 1}`;
    state.after = page.next;
    $("browse-next").disabled = !page.next;
  } catch (e) { showError(e); }
}

// -- recipe -----------------------------------------------------------------------------

async function runRecipe(ev) {
  ev.preventDefault();
  showError(null);
  const body = {};
  for (const [k, v] of new FormData($("recipe-form"))) if (String(v).trim()) body[k] = String(v).trim();
  $("recipe").replaceChildren(el("span", { class: "muted" }, "composing…"));
  try {
    const r = await api("POST", "/api/v1/generate/recipe", body);
    const v = r.validation;
    const tiers = ["top", "heart", "base"].map((t) => [el("tr", {}, el("th", { colspan: "3" }, t)),
      ...(r.recipe[t] || []).map((i) => el("tr", {}, el("td", {}, i.name), el("td", { class: "muted" }, i.cas || ""), el("td", {}, `${i.percent.toFixed(2)} %`)))]).flat();
    const breaches = v.compliance.breaches.map((b) => el("li", { class: "error" }, b.message));
    $("recipe").replaceChildren(
      el("p", { id: "recipe-verdict" }, el("b", { class: v.valid ? "status ok" : "status bad" }, v.valid ? "valid and compliant" : "not valid"),
        ` · score ${v.score} · ${r.recipe.concentration} · IFRA category ${v.compliance.ifra_category} · ${v.composition.ingredients} ingredients · by ${r.generator}`),
      breaches.length ? el("ul", {}, breaches) : "",
      el("table", { id: "recipe-table" }, tiers),
      el("h4", {}, "Allergens to declare"),
      el("p", { id: "recipe-allergens" }, v.allergens.length ? v.allergens.map((a) => `${a.name} ${a.percent.toFixed(4)} %`).join(" · ") : "none over the threshold"),
      v.problems.length ? el("ul", {}, v.problems.map((p) => el("li", { class: p.severity === "error" ? "error" : "muted" }, `${p.code}: ${p.message}`))) : "");
  } catch (e) { showError(e); $("recipe").replaceChildren(); }
}

// -- live -------------------------------------------------------------------------------

const live = { last: null, rate: [], p99: [] };
function parseMetrics(text) {
  const out = { requests: 0, searches: 0, rss: 0, buckets: new Map() };
  for (const line of text.split("\n")) {
    if (!line || line[0] === "#") continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/);
    if (!m) continue;
    const [, name, labels = "", value] = m;
    const v = Number(value);
    if (name === "fragrancedb_http_requests_total" && !labels.includes('route="/metrics"')) out.requests += v;
    else if (name === "fragrancedb_search_duration_seconds_count") out.searches += v;
    else if (name === "process_resident_memory_bytes") out.rss = v;
    else if (name === "fragrancedb_http_request_duration_seconds_bucket" && !labels.includes('route="/metrics"')) {
      const le = labels.match(/le="([^"]+)"/)[1];
      out.buckets.set(le, (out.buckets.get(le) || 0) + v);
    }
  }
  return out;
}
/** The q-quantile's bucket bound in ms, from cumulative bucket counts (le → count). */
function quantile(deltas, q) {
  const total = deltas.get("+Inf") || 0;
  if (!total) return null;
  const bounds = [...deltas].filter(([k]) => k !== "+Inf").map(([k, v]) => [Number(k), v]).sort((a, b) => a[0] - b[0]);
  for (const [bound, count] of bounds) if (count >= q * total) return bound * 1000;
  return bounds.length ? bounds[bounds.length - 1][0] * 1000 : null;
}
function spark(svg, values) {
  const w = 200, h = 40, max = Math.max(1e-9, ...values);
  svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const pts = values.map((v, i) => `${(i / Math.max(1, values.length - 1)) * w},${h - (v / max) * (h - 2) - 1}`).join(" ");
  svg.replaceChildren(Object.assign(document.createElementNS("http://www.w3.org/2000/svg", "polyline"), {}));
  svg.firstChild.setAttribute("points", pts);
  svg.firstChild.setAttribute("fill", "none");
  svg.firstChild.setAttribute("stroke", "#7a3e65");
}
async function pollMetrics() {
  try {
    const now = performance.now();
    const m = parseMetrics(await api("GET", "/metrics", undefined, true));
    if (live.last) {
      const dt = (now - live.last.at) / 1000;
      const rate = Math.max(0, (m.requests - live.last.m.requests) / dt);
      const deltas = new Map([...m.buckets].map(([k, v]) => [k, v - (live.last.m.buckets.get(k) || 0)]));
      const p50 = quantile(deltas, 0.5), p99 = quantile(deltas, 0.99);
      live.rate = [...live.rate, rate].slice(-60);
      live.p99 = [...live.p99, p99 ?? 0].slice(-60);
      $("live-rate").textContent = rate.toFixed(1);
      $("live-latency").textContent = p50 === null ? "idle" : `≤${p50.toFixed(1)} / ≤${p99.toFixed(1)}`;
      $("live-searches").textContent = Math.max(0, (m.searches - live.last.m.searches) / dt).toFixed(1);
      spark($("spark-rate"), live.rate);
      spark($("spark-p99"), live.p99);
    }
    $("live-rss").textContent = `${(m.rss / 1048576).toFixed(0)} MiB`;
    live.last = { at: now, m };
  } catch (e) { $("live-rate").textContent = "–"; showError(e); }
}

// -- wiring -----------------------------------------------------------------------------

function showTab(name) {
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === name);
  for (const t of document.querySelectorAll(".tab")) t.hidden = t.id !== "tab-" + name;
  if (name === "browse" && state.collection) { state.cursors = []; runBrowse(null); }
  if (name === "live") pollMetrics();
}

async function start() {
  $("token").value = localStorage.getItem("fragrancedb.token") || "";
  $("token").addEventListener("change", async () => { localStorage.setItem("fragrancedb.token", $("token").value.trim()); await boot(); });
  for (const b of document.querySelectorAll("#tabs button")) b.addEventListener("click", () => showTab(b.dataset.tab));
  $("search").addEventListener("click", runSearch);
  $("q").addEventListener("keydown", (e) => { if (e.key === "Enter") runSearch(); });
  $("add-clause").addEventListener("click", () => { const f = state.fields.find((x) => x.type !== "text"); if (f) addClause(f.name, "=", ""); });
  $("browse").addEventListener("click", () => { state.cursors = []; runBrowse(null); });
  $("browse-first").addEventListener("click", () => { state.cursors = []; runBrowse(null); });
  $("browse-next").addEventListener("click", () => { state.cursors.push(state.after); runBrowse(state.after); });
  $("recipe-form").addEventListener("submit", runRecipe);
  setInterval(() => { if (!$("tab-live").hidden) pollMetrics(); }, 2000);
  await boot();
}

async function boot() {
  showError(null);
  try {
    const root = await api("GET", "/");
    $("server").textContent = `${root.server} ${root.version}`;
    await loadCollections();
  } catch (e) { showError(e); }
}

start();
