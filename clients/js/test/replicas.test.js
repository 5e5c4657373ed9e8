// Issue #24: a client given replicas sends reads to them and writes to the primary, against a
// real primary and a real replica following it over the line protocol.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Client, FragranceError, readsOnly } from "../src/index.js";
import { startServer } from "./server.js";

const primary = await startServer({ FRAGRANCEDB_CATALOGUE_LOAD: "false" });
const replica = await startServer({ FRAGRANCEDB_REPLICATION_REPLICA_OF: `127.0.0.1:${primary.tcp}` });
after(async () => { await replica.stop(); await primary.stop(); });

test("reads go to the replica, writes to the primary, a dead replica passes reads on", async () => {
  const seen = [];
  const recording = (url, init) => { seen.push(`${init.method} ${new URL(url).port}`); return fetch(url, init); };
  const dead = "http://127.0.0.1:1";
  const db = new Client(primary.url, { replicas: [dead, replica.url], fetch: recording, retries: 0 });
  await db.createCollection("routed", { dimension: 2 });
  await db.upsert("routed", [{ id: "a", vector: [1, 0] }, { id: "b", vector: [0, 1] }]);
  const primaryPort = new URL(primary.url).port, replicaPort = new URL(replica.url).port;
  assert.deepEqual(seen, [`POST ${primaryPort}`, `POST ${primaryPort}`]);
  const wait = await (await fetch(primary.url + "/api/v1/replication/wait", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ replicas: 1, timeout_ms: 30000 }),
  })).json();
  assert.equal(wait.replicas, 1);
  seen.length = 0;
  for (let i = 0; i < 4; i++) {
    assert.equal((await db.get("routed", "a")).id, "a");
    assert.deepEqual((await db.search("routed", { vector: [1, 0.1], k: 1 })).ids, ["a"]);
  }
  assert.ok(seen.every((s) => !s.endsWith(` ${primaryPort}`)), seen.join(", "));
  assert.equal(seen.filter((s) => s.endsWith(` ${replicaPort}`)).length, 8);

  const direct = new Client(replica.url, { retries: 0 });
  await assert.rejects(direct.upsert("routed", [{ id: "c", vector: [1, 1] }]),
    (e) => e instanceof FragranceError && e.code === "READONLY" && e.status === 409);
});

test("which calls count as reads", () => {
  assert.ok(readsOnly("GET", "/api/v1/collections/x"));
  assert.ok(readsOnly("POST", "/api/v1/collections/x/search"));
  assert.ok(readsOnly("POST", "/api/v1/search/hybrid"));
  assert.ok(!readsOnly("POST", "/api/v1/collections/x/records"));
  assert.ok(!readsOnly("DELETE", "/api/v1/collections/x"));
  assert.ok(!readsOnly("GET", "/api/v1/replication/log"));
});
