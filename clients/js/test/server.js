// A real `fragrancedb serve` on free loopback ports for the client's tests: $FRAGRANCEDB_BIN or
// the repository's .build/debug/fragrancedb, the model from $FRAGRANCEDB_MODEL_DIR or models/.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, openSync, readFileSync, accessSync, constants } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

export async function startServer(env = {}, readyWithinMs = 600000) {
  const binary = process.env.FRAGRANCEDB_BIN ?? join(REPO, ".build/debug/fragrancedb");
  accessSync(binary, constants.X_OK);
  const data = mkdtempSync(join(tmpdir(), "fdb-js-"));
  const [tcp, http] = [await freePort(), await freePort()];
  const log = openSync(join(data, "server.log"), "w");
  const child = spawn(binary, ["serve", "--data", join(data, "db"), "--port", String(tcp), "--http-port", String(http),
    "--model-dir", process.env.FRAGRANCEDB_MODEL_DIR ?? join(REPO, "models/all-MiniLM-L6-v2"), "--config-dir", join(data, "none")],
  { env: { ...process.env, FRAGRANCEDB_LOG_LEVEL: "error", ...env }, stdio: ["ignore", log, log] });
  let exited = null;
  child.on("exit", (code) => { exited = code; });
  const url = `http://127.0.0.1:${http}`;
  const output = () => readFileSync(join(data, "server.log"), "utf8").slice(-2000);
  const stop = async () => {
    if (exited === null) {
      const done = new Promise((ok) => child.once("exit", ok));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 30000);
      await done;
      clearTimeout(timer);
    }
    rmSync(data, { recursive: true, force: true });
  };
  const until = Date.now() + readyWithinMs;
  while (Date.now() < until) {
    if (exited !== null) throw new Error(`fragrancedb serve exited with ${exited}: ${output()}`);
    try {
      const r = await fetch(url + "/ready");
      if ((await r.json()).status === "ready") return { url, tcp, stop, output };
    } catch { /* not listening yet */ }
    await new Promise((ok) => setTimeout(ok, 250));
  }
  await stop();
  throw new Error(`fragrancedb serve was not ready within ${readyWithinMs} ms`);
}
