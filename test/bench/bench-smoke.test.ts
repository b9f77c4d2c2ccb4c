import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const run = promisify(execFile);
const root = fileURLToPath(new URL("../..", import.meta.url));

/** The benchmark is not part of the suite, but a brief run keeps it from rotting. */
describe("npm run bench -- --smoke", () => {
  it("measures every target and its baseline, and the cost of revocations", async () => {
    const dir = mkdtempSync(join(tmpdir(), "tb-bench-"));
    try {
      const out = join(dir, "results.json");
      await run(process.execPath, ["--import", "tsx", "bench/run.ts", "--smoke", "--out", out], {
        cwd: root,
        timeout: 240_000,
        maxBuffer: 1 << 22,
      });
      const results = JSON.parse(readFileSync(out, "utf8")) as {
        rows: Array<{
          name: string;
          requestsPerSecond: number;
          cpuMicrosPerRequest: number;
          errors: number;
          unexpected: number;
          ratio?: number;
          target?: number;
          rssMiB: number;
          p99Ms: number | null;
        }>;
        revocations: { redisBytesPerEntry: number; sqliteFileBytesPerEntry: number; clusterBytesPerEntryOnMasters: number };
        feed: {
          propagation: {
            revocations: number;
            checkerP50Ms: number;
            checkerP99Ms: number;
            mirrorInstanceP50Ms: number;
            mirrorInstanceP99Ms: number;
          };
          checker: { validMeanMicros: number; revokedMeanMicros: number; checksPerSecond: number; infoCallsPerSecond: number };
          mirror: { entries: number; heapBytesPerEntry: number };
        };
      };
      const names = results.rows.map((r) => r.name);
      for (const name of [
        "REST GET /info, node:http baseline",
        "REST GET /info",
        "REST GET /info, SQLite",
        "REST GET /info, REVOCATION_CACHE=mirror",
        "Connect JSON Info",
        "Connect binary Info",
        "gRPC Info, grpc-js baseline",
        "gRPC Info",
        "gRPC Info over TLS, grpc-js baseline",
        "gRPC Info over TLS",
        "REST GET /info, Sentinel",
        "REST GET /info, Cluster (3 masters)",
        "REST GET /info, Cluster, REDIS_WAIT_REPLICAS=1",
        "ext_authz Check (gRPC, h2c)",
        "forward-auth GET /auth",
        "RevokeJti (a store write)",
        "RevokeJti, Sentinel",
        "RevokeJti, Sentinel, REDIS_WAIT_REPLICAS=1",
        "RevokeJti, Cluster (3 masters)",
        "RevokeJti, Cluster, REDIS_WAIT_REPLICAS=1",
      ]) {
        expect(names).toContain(name);
      }
      for (const row of results.rows) {
        expect(row.requestsPerSecond, row.name).toBeGreaterThan(0);
        expect(row.cpuMicrosPerRequest, row.name).toBeGreaterThan(0);
        expect(row.errors, row.name).toBe(0);
        expect(row.unexpected, row.name).toBe(0);
        expect(row.rssMiB, row.name).toBeGreaterThan(0);
      }
      // Each target row is judged against its same-run baseline.
      const judged = results.rows.filter((r) => r.target !== undefined);
      expect(judged.map((r) => r.name).sort()).toEqual(
        [
          "REST GET /info",
          "REST GET /info, SQLite",
          "REST GET /info, REVOCATION_CACHE=mirror",
          "Connect JSON Info",
          "Connect binary Info",
          "gRPC Info",
          "gRPC Info over TLS",
          "REST GET /info, Sentinel",
          "REST GET /info, Cluster (3 masters)",
          "REST GET /info, Cluster, REDIS_WAIT_REPLICAS=1",
          "ext_authz Check (gRPC, h2c)",
          "forward-auth GET /auth",
        ].sort(),
      );
      for (const row of judged) expect(row.ratio, row.name).toBeGreaterThan(0);
      // The latency rows at half the maximum rate: baseline and service, each with a real p99.
      const paced = results.rows.filter((r) => /half max/.test(r.name));
      expect(paced.map((r) => r.name.replace(/.*, /, ""))).toEqual(["node:http baseline", "service", "grpc-js baseline", "service"]);
      for (const row of paced) expect(row.p99Ms, row.name).toBeGreaterThan(0);
      expect(results.revocations.redisBytesPerEntry).toBeGreaterThan(0);
      expect(results.revocations.sqliteFileBytesPerEntry).toBeGreaterThan(0);
      expect(results.revocations.clusterBytesPerEntryOnMasters).toBeGreaterThan(0);
      // The feed: every revocation reached the checker and the mirror instance; both check speeds and the mirror's size measured.
      const { propagation, checker, mirror } = results.feed;
      expect(propagation.revocations).toBe(30);
      for (const ms of [
        propagation.checkerP50Ms,
        propagation.checkerP99Ms,
        propagation.mirrorInstanceP50Ms,
        propagation.mirrorInstanceP99Ms,
      ]) {
        expect(ms).toBeGreaterThan(0);
      }
      expect(checker.validMeanMicros).toBeGreaterThan(0);
      expect(checker.revokedMeanMicros).toBeGreaterThan(0);
      expect(checker.infoCallsPerSecond).toBeGreaterThan(0);
      expect(mirror.heapBytesPerEntry).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 270_000);
});
