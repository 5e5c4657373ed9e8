// The JavaScript client against a real server (test/server.js), with node --test.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client, FragranceError, ERROR_KINDS, binaryVector } from "../src/index.js";
import { startServer, REPO } from "./server.js";

let server, guarded, db;

before(async () => {
  // 120 perfumes and 120 materials of the bundled catalogue, embedded by the real model.
  server = await startServer({ FRAGRANCEDB_CATALOGUE_LIMIT: "120" });
  guarded = await startServer({
    FRAGRANCEDB_CATALOGUE_LOAD: "false",
    FRAGRANCEDB_AUTH_KEYS: "reader:read:read-secret,writer:write:write-secret",
    FRAGRANCEDB_RATE_LIMIT_PER_KEY: "4", FRAGRANCEDB_RATE_LIMIT_PER_KEY_BURST: "2",
  }, 120000);
  db = new Client(server.url);
});

after(async () => {
  await server?.stop();
  await guarded?.stop();
});

async function rejects(promise, code) {
  try {
    await promise;
  } catch (e) {
    assert.ok(e instanceof FragranceError, `not a FragranceError: ${e}`);
    assert.equal(e.code, code, e.message);
    return e;
  }
  assert.fail(`expected ${code}`);
}

test("server, collections and a collection's schema", async () => {
  assert.equal(await db.health(), true);
  const info = await db.info("memory");
  const root = await (await fetch(server.url + "/")).json();
  assert.equal(info.version, root.version);
  assert.ok(info.sections.memory.rss_bytes > 0);
  const names = Object.fromEntries((await db.collections()).map((c) => [c.name, c]));
  assert.equal(names.perfumes.records, 120);
  const perfumes = await db.collection("perfumes");
  assert.equal(perfumes.dimension, 384);
  assert.ok(perfumes.fields.some((f) => f.name === "seasons" && f.type === "set"));
  const e = await rejects(db.collection("nope"), "NOT_FOUND");
  assert.equal(e.status, 404);
});

test("records, filters and errors in a dynamic collection", async () => {
  const name = "js_records";
  const created = await db.createCollection(name, { dimension: 2 });
  assert.equal(created.dynamic, true);
  await rejects(db.createCollection(name, { dimension: 2 }), "EXISTS");
  const w = await db.upsert(name, [
    { id: "a", vector: [1, 0], brand: "Maison Noir", price: 12.5, tags: ["sale", "new"] },
    { id: "b", fields: { brand: "Atelier", price: 40, tags: ["new"] }, vector: [0, 1] },
  ]);
  assert.deepEqual(w, { inserted: 2, updated: 0 });
  const a = await db.get(name, "a", { vector: true });
  assert.equal(a.fields.price, 12.5);
  assert.equal(a.vector.length, 2);
  const bad = await rejects(db.upsert(name, { id: "c", vector: [1, 1], price: "cheap" }), "BAD_TYPE");
  assert.match(bad.detail, /price/);
  assert.equal(await db.count(name), 2);
  assert.equal(await db.count(name, "price < 20 AND tags CONTAINS 'sale'"), 1);
  assert.equal(await db.count(name, { price: { gte: 12.5 } }), 2);
  assert.deepEqual(await db.exists(name, ["b", "zz", "a"]), ["b", "a"]);
  await rejects(db.count(name, "price <"), "BAD_FILTER");
  const altered = await db.alterCollection(name, { fields: [{ name: "stock", type: "integer" }], dynamic: false });
  assert.equal(altered.dynamic, false);
  assert.equal(await db.delete(name, ["a", "gone"]), 1);
  await rejects(db.get(name, "a"), "NOT_FOUND");
  assert.equal(await db.dropCollection(name), name);
});

test("vector search: filter, plan, paging, facets and limits", async () => {
  const name = "js_search";
  await db.createCollection(name, { dimension: 3 });
  await db.upsert(name, Array.from({ length: 20 }, (_, i) => ({ id: `r${i}`, vector: [1, i / 10, 0], kind: i % 2 ? "odd" : "even" })));
  const res = await db.search(name, { vector: [1, 0, 0], k: 3, explain: true, includeRecords: true });
  assert.deepEqual(res.ids, ["r0", "r1", "r2"]);
  assert.equal(res.hits[0].record.fields.kind, "even");
  assert.equal(res.plan.records, 20);
  const odd = await db.search(name, { vector: [1, 0, 0], k: 3, filter: "kind = 'odd'", facets: ["kind"] });
  assert.deepEqual(odd.ids, ["r1", "r3", "r5"]);
  assert.deepEqual(odd.facets[0].values, [{ value: "odd", count: 3 }]);
  assert.deepEqual((await db.search(name, { vector: [1, 0, 0], k: 3, offset: 3 })).ids, ["r3", "r4", "r5"]);
  await rejects(db.search(name, { vector: [1, 0], k: 3 }), "DIM_MISMATCH");
  const queries = [[1, 0, 0], [1, 0.5, 0], [1, 1.3, 0]];
  const batch = await db.searchBatch(name, queries, { k: 3, filter: "kind = 'odd'" });
  const single = await Promise.all(queries.map((q) => db.search(name, { vector: q, k: 3, filter: "kind = 'odd'" })));
  assert.deepEqual(batch.map((hits) => hits.map((h) => h.id)), single.map((r) => r.ids));
  assert.equal(binaryVector([1, 0]), "b64:AACAPwAAAAA=");
  const big = await rejects(db.search(name, { vector: [1, 0, 0], k: 100000 }), "TOO_LARGE");
  assert.equal(big.status, 413);
  await db.dropCollection(name);
});

test("browse with a cursor and facets; filters with spaces survive the query string", async () => {
  const floral = await db.count("perfumes", "families CONTAINS 'floral'");
  const page = await db.browse("perfumes", { filter: "families CONTAINS 'floral'", order: "rating:desc", limit: 7, fields: ["name", "rating"], facets: ["gender"] });
  assert.equal(page.count, floral);
  const ratings = page.records.map((r) => r.fields.rating).filter((x) => x !== undefined);
  assert.deepEqual(ratings, [...ratings].sort((x, y) => y - x));
  const all = [];
  for await (const r of db.iterRecords("perfumes", { order: "-year", pageSize: 25 })) all.push(r);
  assert.equal(all.length, 120);
  assert.equal(new Set(all.map((r) => r.id)).size, 120);
  const counts = await db.facets("perfumes", ["gender", "year:10"]);
  assert.equal(counts.count, 120);
  assert.ok(counts.facets[1].ranges.every((r) => r.end > r.start));
});

test("understood queries in English and Korean", async () => {
  const res = await db.query("fresh citrus perfume for summer", { topK: 5, explain: true });
  assert.ok(res.hits.length > 0 && res.hits.length <= 5);
  assert.equal(res.searchType, "hybrid");
  assert.ok(res.parsed.terms.some((t) => t.meaning.includes("summer")));
  assert.ok(res.hits.every((h) => h.record && h.record.fields.name));
  const ko = await db.query("여름에 쓸 상큼한 시트러스 향수", { topK: 5 });
  assert.equal(ko.parsed.language, "ko");
  const men = await db.query("woody perfume", { topK: 5, filter: "gender = 'male'" });
  assert.ok(men.hits.every((h) => h.record.fields.gender === "male"));
  const e = await rejects(db.query("rose", { searchType: "psychic" }), "BAD_VALUE");
  assert.equal(e.field, "search_type");
  // Concurrent calls on one client give the same answers as one at a time.
  const texts = ["smoky leather", "rose", "겨울 바닐라"];
  const together = await Promise.all(texts.map((t) => db.query(t, { topK: 3 })));
  for (const [i, t] of texts.entries()) assert.deepEqual(together[i].ids, (await db.query(t, { topK: 3 })).ids);
});

test("bulk import: every good record written, each bad one named", async () => {
  const name = "js_bulk";
  await db.createCollection(name, { dimension: 2, schema: { fields: [{ name: "n", type: "int" }] } });
  const rows = Array.from({ length: 1200 }, (_, i) => ({ id: `x${i + 1}`, vector: [1, i + 1], n: i + 1 }));
  rows[9].n = "ten";
  rows[499].vector = [1, 2, 3];
  rows[1099] = { vector: [0, 1] };
  const seen = [];
  const result = await db.importRecords(name, rows, { batchSize: 300, onProgress: (sent, r) => seen.push([sent, r.inserted]) });
  assert.equal(result.inserted, 1197);
  assert.deepEqual(result.errors.map((e) => [e.line, e.code]), [[10, "BAD_RECORD"], [500, "DIM_MISMATCH"], [1100, "BAD_RECORD"]]);
  assert.equal(result.errors[0].id, "x10");
  assert.deepEqual(seen.map(([s]) => s), [300, 600, 900, 1200]);
  assert.equal(await db.count(name), 1197);
  // Lines of text (a JSON Lines file) go as they are.
  const dir = mkdtempSync(join(tmpdir(), "fdb-js-file-"));
  writeFileSync(join(dir, "rows.jsonl"), rows.slice(0, 5).map((r) => JSON.stringify(r)).join("\n"));
  const lines = readFileSync(join(dir, "rows.jsonl"), "utf8").split("\n");
  const again = await db.importRecords(name, lines);
  assert.deepEqual([again.inserted, again.updated, again.errors.length], [0, 5, 0]);
  await db.dropCollection(name);
});

test("recipes, validation, substitutes and batch errors", async () => {
  const r = await db.generateRecipe({ fragrance_family: "floral", mood: "romantic", season: "spring" });
  assert.equal(r.validation.valid, true);
  assert.ok(r.ingredients.length >= 15 && r.ingredients.length <= 40);
  assert.ok(Math.abs(r.ingredients.reduce((s, i) => s + i.percent, 0) - 100) < 0.5);
  const bad = await db.validateRecipe({ concentration: "EdP", top: [{ name: "Bergamot oil", percent: 30 }], heart: [{ name: "Eugenol", percent: 40 }], base: [{ name: "Vanillin", percent: 30 }] });
  assert.equal(bad.valid, false);
  assert.equal(bad.compliant, false);
  const subs = await db.substitutes("Coumarin", { product: "body_lotion", limit: 3 });
  assert.ok(subs.substitutes.length > 0 && subs.substitutes.length <= 3);
  const batch = await db.generateBatch([{ fragrance_family: "woody" }, { fragrance_family: "woody", intensity: "deafening" }]);
  assert.ok(batch[0].recipe);
  assert.ok(batch[1] instanceof FragranceError);
  assert.equal(batch[1].code, "BAD_VALUE");
});

test("snapshots restore as a new collection", async () => {
  const name = "js_snap";
  await db.createCollection(name, { dimension: 2 });
  await db.upsert(name, [0, 1, 2].map((i) => ({ id: String(i), vector: [i, 1], n: i })));
  const file = await db.snapshot(name);
  const restored = await db.restore(file.split("/").pop(), { as: name + "_copy" });
  assert.deepEqual(restored, { name: name + "_copy", records: 3 });
  assert.equal((await db.get(restored.name, "2")).fields.n, 2);
  await db.dropCollection(restored.name);
  await db.dropCollection(name);
});

test("tokens, roles and rate limits", async () => {
  const e = await rejects(new Client(guarded.url, { retries: 0 }).collections(), "NOAUTH");
  assert.equal(e.status, 401);
  const reader = new Client(guarded.url, { token: "read-secret", retries: 6 });
  assert.deepEqual(await reader.collections(), []);
  await rejects(reader.createCollection("nope", { dimension: 2 }), "FORBIDDEN");
  const impatient = new Client(guarded.url, { token: "write-secret", retries: 0 });
  let limited = null;
  for (let i = 0; i < 20 && !limited; i++) {
    try { await impatient.collections(); } catch (err) { limited = err; }
  }
  assert.equal(limited?.code, "RATE_LIMITED");
  assert.equal(limited.status, 429);
  const patient = new Client(guarded.url, { token: "write-secret", retries: 8, backoffMs: 100 });
  for (let i = 0; i < 8; i++) assert.deepEqual(await patient.collections(), []);
});

test("an unreachable server is a CONNECTION error", async () => {
  await rejects(new Client("http://127.0.0.1:9", { retries: 1, backoffMs: 10 }).health(), "CONNECTION");
});

test("every code the server sends has a kind", () => {
  const swift = readFileSync(join(REPO, "Sources/FragranceProtocol/ErrorCode.swift"), "utf8");
  const codes = [...swift.matchAll(/case \w+ = "([A-Z_]+)"/g)].map((m) => m[1]).sort();
  assert.ok(codes.length > 20);
  assert.deepEqual(Object.keys(ERROR_KINDS).sort(), codes);
});
