// /docs: the OpenAPI document (/openapi.json) rendered in the browser, offline — operations by
// tag with their parameters, request and response schemas (references resolved), examples, and
// "try it", which sends the request to this server with the token given. Everything is built
// with DOM calls and textContent: nothing from the document is parsed as HTML.
"use strict";

let doc;
const resolve = (s) => {
  let seen = 0;
  while (s && s.$ref && seen++ < 20) {
    s = s.$ref.slice(2).split("/").reduce((n, p) => (n ? n[p] : undefined), doc) || {};
  }
  return s || {};
};
const refName = (s) => (s && s.$ref ? s.$ref.split("/").pop() : null);

function typeOf(s) {
  s = resolve(s);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map((o) => refName(o) || typeOf(o)).join(" | ");
  const t = Array.isArray(s.type) ? s.type.join(" | ") : s.type || (s.properties ? "object" : "any");
  if (t === "array" && s.items) return `array of ${refName(s.items) || typeOf(s.items)}`;
  return t;
}

/** A schema as a nested list: name, type, required, description; depth-limited against cycles. */
function schemaTree(s, depth = 0) {
  const named = refName(s);
  s = resolve(s);
  const ul = el("ul");
  if (depth > 4) return el("span", { class: "muted" }, named ? `(${named})` : "…");
  const props = s.properties || {};
  const required = new Set(s.required || []);
  for (const [name, p] of Object.entries(props)) {
    const r = resolve(p);
    const li = el("li", {}, el("span", { class: "name" }, name), required.has(name) ? el("span", { class: "req" }, " *") : "",
      " ", el("span", { class: "type" }, typeOf(p)), r.description ? el("span", { class: "muted" }, " — " + r.description) : "");
    const inner = r.type === "array" ? resolve(r.items) : r;
    if (inner.properties && Object.keys(inner.properties).length) li.append(schemaTree(r.type === "array" ? r.items : p, depth + 1));
    ul.append(li);
  }
  for (const alt of s.oneOf || s.anyOf || []) {
    const a = resolve(alt);
    if (a.properties) ul.append(el("li", {}, el("span", { class: "muted" }, `one of: ${refName(alt) || typeOf(alt)}`), schemaTree(alt, depth + 1)));
  }
  if (s.type === "array" && s.items && resolve(s.items).properties) ul.append(el("li", {}, el("span", { class: "muted" }, "items:"), schemaTree(s.items, depth + 1)));
  if (!ul.children.length) ul.append(el("li", { class: "type" }, typeOf(s) + (s.description ? "" : "")));
  return el("div", { class: "schema" }, named ? el("div", { class: "muted" }, named) : "", ul);
}

/** An example body: the operation's own, else one made from the schema's required fields. */
function exampleFor(media) {
  if (media.example !== undefined) return media.example;
  const make = (s, depth) => {
    s = resolve(s);
    if (s.example !== undefined) return s.example;
    if (s.examples) return s.examples[0];
    if (s.default !== undefined) return s.default;
    if (s.enum) return s.enum[0];
    if (depth > 3) return null;
    if (s.oneOf) return make(s.oneOf[0], depth + 1);
    const t = Array.isArray(s.type) ? s.type[0] : s.type;
    if (t === "object" || s.properties) {
      const o = {};
      for (const k of s.required || []) o[k] = make(s.properties[k] || {}, depth + 1);
      return o;
    }
    return { string: "", integer: 0, number: 0, boolean: false, array: [] }[t] ?? null;
  };
  return make(media.schema || {}, 0);
}

function tryIt(method, path, op) {
  const box = el("div", { class: "try" });
  const inputs = {};
  const params = [...(doc.paths[path].parameters || []), ...(op.parameters || [])].map(resolve);
  for (const p of params) {
    inputs[p.name] = el("input", { type: "text", name: p.name, placeholder: p.in + (p.required ? ", required" : "") });
    box.append(el("label", {}, p.name + " ", inputs[p.name]));
  }
  const media = op.requestBody && (op.requestBody.content || {});
  const type = media && Object.keys(media)[0];
  const body = type ? el("textarea", { rows: 6, name: "body" }) : null;
  if (body) {
    const ex = exampleFor(media[type]);
    body.value = typeof ex === "string" ? ex : JSON.stringify(ex, null, 2);
    box.append(el("div", {}, el("span", { class: "muted" }, `body (${type})`)), body);
  }
  const out = el("div", { class: "result" });
  const send = el("button", { type: "button", class: "send", onclick: async () => {
    let url = path.replace(/\{(\w+)\}/g, (_, n) => encodeURIComponent(inputs[n]?.value ?? ""));
    const q = new URLSearchParams();
    for (const p of params) if (p.in === "query" && inputs[p.name].value !== "") q.set(p.name, inputs[p.name].value);
    if ([...q].length) url += "?" + q;
    const headers = {};
    const token = document.getElementById("token").value.trim();
    if (token) headers.Authorization = "Bearer " + token;
    if (body) headers["Content-Type"] = type;
    const started = performance.now();
    out.replaceChildren(el("span", { class: "muted" }, "sending…"));
    try {
      const r = await fetch(url, { method: method.toUpperCase(), headers, body: body ? body.value : undefined });
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON */ }
      out.replaceChildren(
        el("div", {}, el("span", { class: "status " + (r.ok ? "ok" : "bad") }, `${r.status} ${r.statusText}`),
          el("span", { class: "muted" }, ` · ${method.toUpperCase()} ${url} · ${(performance.now() - started).toFixed(1)} ms`)),
        el("pre", { class: "response" }, shown));
    } catch (e) {
      out.replaceChildren(el("div", { class: "error" }, String(e)));
    }
  } }, "Send");
  box.append(el("div", {}, send), out);
  return box;
}

function operation(method, path, op) {
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  const params = [...(doc.paths[path].parameters || []), ...(op.parameters || [])].map(resolve);
  if (params.length) {
    body.append(el("h4", {}, "Parameters"), el("table", {},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "")),
      params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "req" }, " *") : ""),
        el("td", {}, p.in), el("td", {}, typeOf(p.schema || {})), el("td", { class: "muted" }, p.description || "")))));
  }
  if (op.requestBody) {
    for (const [type, media] of Object.entries(op.requestBody.content || {})) {
      body.append(el("h4", {}, `Request body (${type})`), schemaTree(media.schema || {}));
      const ex = exampleFor(media);
      if (ex !== null && ex !== undefined && media.example !== undefined) {
        body.append(el("div", { class: "muted" }, "example"), el("pre", {}, JSON.stringify(ex, null, 2)));
      }
    }
  }
  body.append(el("h4", {}, "Responses"));
  for (const [status, r0] of Object.entries(op.responses || {})) {
    const r = resolve(r0);
    const media = Object.entries(r.content || {})[0];
    body.append(el("div", {}, el("b", {}, status), " ", r.description || ""), media ? schemaTree(media[1].schema || {}) : "");
  }
  body.append(el("h4", {}, "Try it"), tryIt(method, path, op));
  const role = op["x-role"] || (op.security && !op.security.length ? "open" : "");
  return el("details", { class: "op", id: op.operationId, "data-path": path, "data-method": method },
    el("summary", {}, el("span", { class: `method ${method}` }, method.toUpperCase()), el("code", {}, path),
      el("span", {}, op.summary || ""), role ? el("span", { class: "role" }, role) : ""), body);
}

async function main() {
  const main = document.getElementById("content");
  const token = document.getElementById("token");
  token.value = localStorage.getItem("fragrancedb.token") || "";
  token.addEventListener("change", () => localStorage.setItem("fragrancedb.token", token.value.trim()));
  try {
    doc = await (await fetch("/openapi.json")).json();
  } catch (e) {
    main.replaceChildren(el("p", { class: "error" }, "Could not load /openapi.json: " + e));
    return;
  }
  document.title = `${doc.info.title} ${doc.info.version}`;
  const byTag = new Map((doc.tags || []).map((t) => [t.name, { tag: t, ops: [] }]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, { tag: { name: tag }, ops: [] });
      byTag.get(tag).ops.push([method, path, op]);
    }
  }
  const sections = [];
  for (const { tag, ops } of byTag.values()) {
    ops.sort((a, b) => a[1].localeCompare(b[1]) || a[0].localeCompare(b[0]));
    sections.push(el("section", { class: "tag", "data-tag": tag.name }, el("h2", {}, tag.name),
      tag.description ? el("p", { class: "muted" }, tag.description) : "", ops.map((o) => operation(...o))));
  }
  const schemas = el("section", { class: "tag", id: "schemas" }, el("h2", {}, "Schemas"),
    Object.keys(doc.components.schemas).sort().map((name) =>
      el("details", { class: "op", id: "schema-" + name }, el("summary", {}, el("code", {}, name)),
        el("div", { class: "body" }, schemaTree({ $ref: "#/components/schemas/" + name })))));
  main.replaceChildren(el("p", {}, doc.info.description || ""), ...sections, schemas);
  const filter = document.getElementById("filter");
  filter.addEventListener("input", () => {
    const q = filter.value.toLowerCase();
    for (const d of main.querySelectorAll("details.op[data-path]")) {
      d.hidden = q !== "" && !d.textContent.toLowerCase().includes(q);
    }
  });
  if (location.hash) document.getElementById(location.hash.slice(1))?.setAttribute("open", "");
}

main();
