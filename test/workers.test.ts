import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { runMainToExit, startMain } from "./helpers/main-process.js";
import { mint } from "./helpers/tokens.js";

const dir = mkdtempSync(join(tmpdir(), "tb-workers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One request on a connection of its own, so the cluster can hand it to any worker. */
function call(port: number, method: string, path: string, token: string) {
  return new Promise<number>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("WORKERS=2", () => {
  it("serves the port from two processes sharing the SQLite file, and stops them all on SIGTERM", async () => {
    const service = await startMain({ WORKERS: "2", SQLITE_PATH: join(dir, "tokens.db") });
    const workerPids = () =>
      new Set([...service.output().matchAll(/"pid":(\d+)[^\n]*"msg":"token-blacklist listening"/g)].map((m) => m[1]));
    expect(await eventually(async () => workerPids().size === 2)).toBe(true);

    const token = mint();
    expect(await call(service.port, "POST", "/blacklist", token), service.output().slice(-2000)).toBe(200);
    // Every worker sees the revocation another wrote.
    const statuses = await Promise.all(Array.from({ length: 20 }, () => call(service.port, "GET", "/info", token)));
    expect(new Set(statuses), service.output().slice(-2000)).toEqual(new Set([401]));

    const servedBy = new Set([...service.output().matchAll(/"pid":(\d+)[^\n]*"msg":"request"/g)].map((m) => m[1]));
    expect(servedBy.size).toBe(2);
    expect(await service.stop("SIGTERM")).toBe(0);
    expect(service.output()).toMatch(/"msg":"all workers stopped"/);
  });

  it("exits 1 when its workers cannot start", async () => {
    const result = await runMainToExit({ WORKERS: "2", REDIS_URL: "redis://127.0.0.1:1" });
    expect(result.code).toBe(1);
    expect(result.output).toMatch(/a worker failed to start/);
  });
});
