// FragranceDB's JavaScript client: the HTTP API over fetch (Node 20+, browsers), no dependencies.
// Types: index.d.ts. Every server error is thrown as a FragranceError carrying the server's code
// (the same codes as the line protocol: Sources/FragranceProtocol/ErrorCode.swift).

export const DEFAULT_URL = "http://127.0.0.1:8000";

/** A failure: `code` (the server's, or CONNECTION / TIMEOUT from this client), `message`,
 *  `field` (the request field at fault, when named) and `status` (HTTP). */
export class FragranceError extends Error {
  constructor(code, message, { field, status, retryAfter } = {}) {
    super(`${code}: ${message}${field ? ` (field ${field})` : ""}`);
    this.name = "FragranceError";
    this.code = code;
    this.detail = message;
    this.field = field ?? null;
    this.status = status ?? null;
    this.retryAfter = retryAfter ?? null;
  }
}

/** Every code the server sends, by kind. */
export const ERROR_KINDS = Object.freeze({
  SYNTAX: "bad_request", UNKNOWN_COMMAND: "bad_request", BAD_REQUEST: "bad_request", BAD_JSON: "bad_request",
  BAD_TYPE: "bad_request", BAD_VALUE: "bad_request", MISSING_FIELD: "bad_request", UNKNOWN_FIELD: "bad_request",
  OUT_OF_RANGE: "bad_request", BAD_SCHEMA: "bad_request", BAD_RECORD: "bad_request", BAD_FILTER: "bad_request",
  DIM_MISMATCH: "bad_request", TOO_LARGE: "too_large", METHOD_NOT_ALLOWED: "bad_request", NOT_FOUND: "not_found",
  EXISTS: "already_exists", MODEL_UNAVAILABLE: "unavailable", UNAVAILABLE: "unavailable", CORRUPT: "server",
  IO: "server", BAD_CONFIG: "server", INTERNAL: "server", READONLY: "read_only", RESYNC: "server", BAD_PRIMARY: "server", NOAUTH: "authentication", FORBIDDEN: "permission",
  WRONGPASS: "authentication", RATE_LIMITED: "rate_limited", LINE_TOO_LONG: "too_large", TIMEOUT: "timeout",
  BUSY: "unavailable", TOO_MANY_CONNECTIONS: "rate_limited", IDLE: "timeout", PROTOCOL: "bad_request",
});

const RETRY_STATUSES = new Set([429, 503]);

const c = (name) => `/api/v1/collections/${encodeURIComponent(name)}`;

/** A JSON body of the values given (undefined and null left out, so the server's defaults hold). */
function body(values) {
  const out = {};
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null) out[k] = v;
  return out;
}

/** A string filter is the grammar (schemas/filter.md); an object is the structured form. */
function filterBody(filter, filters) {
  if (filter !== undefined && filter !== null && typeof filter === "object") {
    if (filters !== undefined) throw new TypeError("give the structured filter once: filter or filters");
    return { filters: filter };
  }
  return body({ filter, filters });
}

/** A record as the API sends it: id, fields, vector (when asked). */
function record(o, id) {
  const { id: rid, vector, ...fields } = o;
  return { id: rid ?? id ?? "", fields, ...(vector ? { vector } : {}) };
}

function facets(list) {
  return (list ?? []).map((f) => ({
    field: f.field, missing: f.missing ?? 0, values: f.values ?? [], others: f.others ?? null,
    ranges: (f.ranges ?? []).map((r) => ({ start: r.from, end: r.to, count: r.count })),
    min: f.min ?? null, max: f.max ?? null, mean: f.mean ?? null,
  }));
}

function searchResults(o) {
  const hits = o.results.map((h) => ({
    rank: h.rank, id: h.id, score: h.score, distance: h.distance ?? null,
    record: h.record ? record(h.record, h.id) : null, explain: h.explain ?? null, collapsed: h.collapsed ?? [],
  }));
  return {
    hits, ids: hits.map((h) => h.id), collection: o.collection, searchType: o.search_type, scoring: o.scoring,
    topK: o.top_k, offset: o.offset, tookMs: o.took_ms, query: o.query ?? null, filter: o.filter ?? null,
    arms: o.arms ?? [], plan: o.plan ?? null, parsed: o.parsed ?? null, facets: facets(o.facets), raw: o,
  };
}

function collectionInfo(o) {
  return {
    name: o.name, records: o.records, dimension: o.dimension, metric: o.metric, embedder: o.embedder ?? null,
    dynamic: o.dynamic, fields: o.fields, graphNodes: o.graph_nodes, tombstones: o.tombstones, indexBytes: o.index_bytes, raw: o,
  };
}

function validation(o) {
  return {
    valid: o.valid, compliant: Boolean(o.compliance?.compliant), score: o.score, problems: o.problems,
    compliance: o.compliance, allergens: o.allergens, composition: o.composition, raw: o,
  };
}

function recipeResult(o) {
  const ingredients = ["top", "heart", "base"].flatMap((t) => o.recipe[t] ?? []);
  return {
    recipe: o.recipe, ingredients, validation: validation(o.validation), generator: o.generator,
    contextPerfumes: o.context_perfumes, tookMs: o.took_ms, fallbackReason: o.fallback_reason ?? null, raw: o,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Whether a replica may answer: GET/HEAD, and the POSTs that only read (searches, queries,
 *  counts, facets, id lookups, recipes); deploy/haproxy.cfg routes the same way. */
export function readsOnly(method, path) {
  if (method === "GET" || method === "HEAD") return !path.startsWith("/api/v1/replication/");
  return method === "POST" && (["/search", "/search/batch", "/count", "/facets", "/exists"].some((s) => path.endsWith(s))
    || ["/api/v1/search/", "/api/v1/recipes/", "/api/v1/generate/"].some((s) => path.startsWith(s)));
}

export class Client {
  /**
   * @param {string} [url]
   * @param {{token?: string, timeoutMs?: number, retries?: number, backoffMs?: number, fetch?: typeof fetch}} [options]
   */
  constructor(url = DEFAULT_URL, { token, timeoutMs = 30000, retries = 2, backoffMs = 200, fetch: f, replicas = [] } = {}) {
    if (!(retries >= 0)) throw new RangeError("retries must be 0 or more");
    this.url = url.replace(/\/+$/, "");
    this.replicas = replicas.map((r) => r.replace(/\/+$/, ""));
    this._turn = 0;
    this.token = token ?? null;
    this.timeoutMs = timeoutMs;
    this.retries = retries;
    this.backoffMs = backoffMs;
    this._fetch = f ?? globalThis.fetch;
  }

  /** One call: JSON in and out, the server's errors thrown with their code; calls that are safe
   *  to repeat are retried on a broken connection or a 429/503, with jittered backoff. With
   *  replicas, a read goes to them in turn (one down or not ready, 503, passes it to the next,
   *  the primary last) and anything else to the primary. */
  async _call(method, path, { json, params, content, contentType, idempotent = true, accept = [] } = {}) {
    let query = "";
    if (params) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) q.set(k, String(v));
      const s = q.toString();
      if (s) query = "?" + s;
    }
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let payload = content;
    if (json !== undefined) {
      payload = JSON.stringify(json);
      headers["Content-Type"] = "application/json";
    } else if (contentType) headers["Content-Type"] = contentType;

    for (let attempt = 0; ; attempt++) {
      let error;
      for (const base of this._targets(method, path)) {
        try {
          return await this._once(base + path + query, method, path, headers, payload, accept);
        } catch (e) {
          error = e;
          if (error.parsed === false) throw error; // not JSON: not worth another try
        }
        if (!(error.code === "CONNECTION" || error.status === 503)) break;
      }
      const retriable = error.code === "CONNECTION" || RETRY_STATUSES.has(error.status);
      if (!idempotent || !retriable || attempt >= this.retries) throw error;
      const wait = Math.max(this.backoffMs * 2 ** attempt * (0.5 + Math.random()), (error.retryAfter ?? 0) * 1000);
      await sleep(Math.min(wait, 30000));
    }
  }

  /** Where a call may go, in the order to try: replicas in turn for a read, then the primary. */
  _targets(method, path) {
    if (this.replicas.length === 0 || !readsOnly(method, path)) return [this.url];
    this._turn = (this._turn + 1) % this.replicas.length;
    return [...this.replicas.slice(this._turn), ...this.replicas.slice(0, this._turn), this.url];
  }

  /** One request to one server; throws a FragranceError. */
  async _once(url, method, path, headers, payload, accept) {
    let response, text;
    try {
      response = await this._fetch(url, { method, headers, body: payload, signal: AbortSignal.timeout(this.timeoutMs) });
      text = await response.text();
    } catch (e) {
      if (e?.name === "TimeoutError" || e?.name === "AbortError") {
        throw new FragranceError("TIMEOUT", `${method} ${path}: no answer within ${this.timeoutMs} ms`);
      }
      throw new FragranceError("CONNECTION", `${method} ${path}: ${e?.cause?.code ?? e?.message ?? e}`);
    }
    let parsed = null;
    try { parsed = text ? JSON.parse(text) : {}; } catch { parsed = null; }
    if (response.status < 400 || accept.includes(response.status)) {
      if (parsed === null) {
        const e = new FragranceError("PROTOCOL", `${method} ${path}: the server's reply is not JSON`, { status: response.status });
        e.parsed = false;
        throw e;
      }
      return parsed;
    }
    const e = parsed && typeof parsed.error === "object" ? parsed.error : null;
    const retryAfter = Number(response.headers.get("retry-after")) || null;
    throw e
      ? new FragranceError(e.code ?? "INTERNAL", e.message ?? "", { field: e.field, status: response.status, retryAfter })
      : new FragranceError("INTERNAL", `${method} ${path}: HTTP ${response.status} ${text.slice(0, 200)}`, { status: response.status });
  }

  // -- server ----------------------------------------------------------------------------

  async health() { return (await this._call("GET", "/health")).status === "ok"; }
  /** The readiness report, 200 or 503 alike. */
  ready() { return this._call("GET", "/ready", { accept: [503] }); }
  async waitReady({ timeoutMs = 60000, intervalMs = 200 } = {}) {
    const until = Date.now() + timeoutMs;
    let last;
    while (Date.now() < until) {
      try {
        last = await this.ready();
        if (last.status === "ready") return last;
      } catch (e) { last = e; }
      await sleep(intervalMs);
    }
    throw new FragranceError("TIMEOUT", `the server was not ready within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
  }
  async info(section) {
    const o = await this._call("GET", "/api/v1/info", { params: { section } });
    const { server, version, uptime_seconds, ...sections } = o;
    return { version, uptimeSeconds: uptime_seconds, sections };
  }
  async reload() { return (await this._call("POST", "/api/v1/admin/reload", { idempotent: false })).reloaded; }
  breakerStatus() { return this._call("GET", "/api/v1/circuit-breaker/status"); }

  // -- collections -----------------------------------------------------------------------

  async collections() { return (await this._call("GET", "/api/v1/collections")).collections; }
  async collection(name) { return collectionInfo(await this._call("GET", c(name))); }
  async createCollection(name, { dimension, metric, embedder, schema, dynamic, embedFields, m, efConstruction, efSearch, seed } = {}) {
    const b = body({ name, dimension, metric, embedder, schema, dynamic, embed_fields: embedFields, m, ef_construction: efConstruction, ef_search: efSearch, seed });
    return collectionInfo(await this._call("POST", "/api/v1/collections", { json: b, idempotent: false }));
  }
  async alterCollection(name, { fields, dynamic } = {}) {
    return collectionInfo(await this._call("PATCH", c(name), { json: body({ fields, dynamic }), idempotent: false }));
  }
  async dropCollection(name) { return (await this._call("DELETE", c(name), { idempotent: false })).dropped; }

  // -- records ---------------------------------------------------------------------------

  /** Insert or replace records, all or none. A record: {id, vector?, ...fields} or {id, fields, vector}. */
  async upsert(collection, records) {
    const list = (Array.isArray(records) ? records : [records]).map(toWire);
    const o = await this._call("POST", c(collection) + "/records", { json: list });
    return { inserted: o.inserted, updated: o.updated };
  }

  /** Bulk load in NDJSON batches: every good record written, each bad one in `errors` with its
   *  1-based place in the input and the server's code. */
  async importRecords(collection, records, { batchSize = 500, atomic = false, onProgress } = {}) {
    if (!(batchSize >= 1)) throw new RangeError("batchSize must be at least 1");
    const result = { inserted: 0, updated: 0, errors: [] };
    let sent = 0;
    let batch = [];
    const flush = async () => {
      const o = await this._call("POST", c(collection) + "/records", {
        content: batch.join("\n") + "\n", contentType: "application/x-ndjson", params: atomic ? { atomic: "true" } : undefined,
      });
      result.inserted += o.inserted;
      result.updated += o.updated;
      for (const item of o.items ?? []) {
        if (item.result === "error") {
          result.errors.push({ line: sent + item.line, id: item.id ?? null, code: item.error?.code ?? "INTERNAL", message: item.error?.message ?? "", field: item.error?.field ?? null });
        }
      }
      sent += batch.length;
      batch = [];
      onProgress?.(sent, result);
    };
    for await (const r of records) {
      batch.push(typeof r === "string" ? r : JSON.stringify(toWire(r)));
      if (batch.length === batchSize) await flush();
    }
    if (batch.length) await flush();
    return result;
  }

  async get(collection, id, { vector = false } = {}) {
    return record(await this._call("GET", `${c(collection)}/records/${encodeURIComponent(id)}`, { params: vector ? { vector: "true" } : undefined }));
  }
  async exists(collection, ids) { return (await this._call("POST", c(collection) + "/exists", { json: { ids } })).existing; }
  async delete(collection, ids) {
    return (await this._call("POST", c(collection) + "/delete", { json: { ids: Array.isArray(ids) ? ids : [ids] } })).deleted;
  }
  async count(collection, filter, { filters } = {}) {
    return (await this._call("POST", c(collection) + "/count", { json: filterBody(filter, filters) })).count;
  }
  /** A page of the records a filter allows, in an order ("rating:desc", "-year"), after a cursor. */
  async browse(collection, { filter, order, after, limit, fields, facets: f, facetSize } = {}) {
    const o = await this._call("GET", c(collection) + "/records", {
      params: { filter, order, after, limit, fields: fields?.join(","), facets: f?.join(","), facet_size: facetSize },
    });
    return { records: o.records.map((r) => record(r)), count: o.count, next: o.next ?? null, facets: facets(o.facets) };
  }
  /** Every record the filter allows, in order, a page at a time. */
  async *iterRecords(collection, { filter, order, pageSize = 200, fields } = {}) {
    let after;
    for (;;) {
      const page = await this.browse(collection, { filter, order, after, limit: pageSize, fields });
      yield* page.records;
      if (!page.next) return;
      after = page.next;
    }
  }
  async facets(collection, fields, filter, { filters, facetSize } = {}) {
    const o = await this._call("POST", c(collection) + "/facets", { json: { fields, ...filterBody(filter, filters), ...body({ facet_size: facetSize }) } });
    return { count: o.count, facets: facets(o.facets) };
  }

  // -- search ----------------------------------------------------------------------------

  /** One collection's vector search, by text (embedded) or a vector. */
  async search(collection, { text, vector, k = 10, filter, filters, ef, exact, explain, includeRecords, offset,
    scoreThreshold, maxDistance, fields, facets: f, facetSize } = {}) {
    const b = body({ text, vector, k, ef, exact, explain, include_records: includeRecords, offset, score_threshold: scoreThreshold,
      max_distance: maxDistance, fields, facets: f, facet_size: facetSize });
    return searchResults(await this._call("POST", c(collection) + "/search", { json: { ...b, ...filterBody(filter, filters) } }));
  }
  /** Many vector searches in one request, spread over the server's cores: one list of hits per
   *  query, in the order given. The queries travel packed in the binary vector form. */
  async searchBatch(collection, vectors, { k = 10, filter, filters, ef, exact } = {}) {
    const b = body({ vectors: binaryVector(vectors.flat()), k, ef, exact });
    const o = await this._call("POST", c(collection) + "/search/batch", { json: { ...b, ...filterBody(filter, filters) } });
    return o.results.map((hits) => hits.map((h, i) => ({ rank: i + 1, id: h.id, score: h.score, distance: h.distance, record: null, explain: null, collapsed: [] })));
  }

  /** Free text, English or Korean: understood, then searched by the vector, keyword and preference arms. */
  async query(text, { collection, topK = 10, searchType = "hybrid", vector, filter, filters, understand, explain, includeRecords,
    fusion, rrfK, weights, candidates, qualityPrior, collapse, diversity, ef, exact, offset, scoreThreshold, maxDistance,
    fields, facets: f, facetSize } = {}) {
    const b = body({ query: text, collection, top_k: topK, search_type: searchType, vector, understand, explain,
      include_records: includeRecords, fusion, rrf_k: rrfK, weights, candidates, quality_prior: qualityPrior, collapse, diversity,
      ef, exact, offset, score_threshold: scoreThreshold, max_distance: maxDistance, fields, facets: f, facet_size: facetSize });
    return searchResults(await this._call("POST", "/api/v1/search/hybrid", { json: { ...b, ...filterBody(filter, filters) } }));
  }

  // -- recipes ---------------------------------------------------------------------------

  /** A recipe from perfumes like the request, held to its product's IFRA limits. Request keys as the API's:
   *  fragrance_family, mood, intensity, gender, season, brief, concentration, seed, product, avoid. */
  async generateRecipe(request) { return recipeResult(await this._call("POST", "/api/v1/generate/recipe", { json: request })); }
  async generateBatch(requests) {
    const o = await this._call("POST", "/api/v1/generate/batch", { json: { requests } });
    return o.results.map((r) => (r.error ? new FragranceError(r.error.code, r.error.message, { field: r.error.field }) : recipeResult(r)));
  }
  async validateRecipe(recipe) { return validation((await this._call("POST", "/api/v1/recipes/validate", { json: recipe })).validation); }
  async substitutes(material, { product, concentration, fragrancePercent, limit } = {}) {
    const o = await this._call("POST", "/api/v1/recipes/substitutes", { json: body({ material, product, concentration, fragrance_percent: fragrancePercent, limit }) });
    return { material: o.material, product: o.product, fragrancePercent: o.fragrance_percent, substitutes: o.substitutes };
  }

  // -- snapshots -------------------------------------------------------------------------

  async snapshot(collection) { return (await this._call("POST", c(collection) + "/snapshot", { idempotent: false })).file; }
  async restore(file, { as } = {}) {
    const o = await this._call("POST", "/api/v1/snapshots/restore", { json: body({ file, as }), idempotent: false });
    return { name: o.restored, records: o.records };
  }
}

/** The binary vector form both protocols accept: "b64:" + base64 of little-endian float32. */
export function binaryVector(values) {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return "b64:" + btoa(text);
}

/** {id, fields, vector} (as this client returns records) or the API's flat {id, vector, ...fields}. */
function toWire(r) {
  if (r && typeof r === "object" && r.fields && typeof r.fields === "object" && !Array.isArray(r.fields)) {
    return { ...r.fields, id: r.id, ...(r.vector ? { vector: r.vector } : {}) };
  }
  return r;
}
