/**
 * `npm run bench`: the service against its baselines, in one run, on the same
 * machine, token set and Redis. Prints requests/s, p50, p99, errors, the
 * server's CPU and RSS, and each figure as a ratio to its baseline (medians of
 * --runs runs, baseline and service alternating). Then loads 1,000,000
 * revocations and measures Info again, and the bytes each revocation costs in
 * Redis and in SQLite. `--smoke` runs everything briefly, for the test suite.
 *
 *   npm run bench [-- --runs 3 --seconds 8 --smoke --out results.json]
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import jwt from "jsonwebtoken";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { startRedis } from "../test/helpers/redis-server.js";
import { grpcLoad, httpLoad, pacedGrpcH2load, type HttpRequestSpec, type LoadResult } from "./load.js";
import { startProcess, type BenchProcess } from "./processes.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seconds: { type: "string" },
    smoke: { type: "boolean", default: false },
    out: { type: "string" },
    "no-pin": { type: "boolean", default: false },
  },
});
const smoke = values.smoke;
const runs = Number(values.runs ?? (smoke ? 1 : 3));
const seconds = Number(values.seconds ?? (smoke ? 1 : 8));
const revocationCount = smoke ? 20_000 : 1_000_000;
const CONNECTIONS = 10;

/**
 * On two or more cores (and with taskset), the servers get core 0 to
 * themselves while this process (the autocannon and paced gRPC generators),
 * h2load and Redis share core 1: on shared cores the generator's own stalls
 * land in the servers' latency tail. `--no-pin` turns it off.
 */
const serverCpu = (() => {
  if (values["no-pin"] || cpus().length < 2) return undefined;
  try {
    execFileSync("taskset", ["-a", "-p", "-c", "1", String(process.pid)], { stdio: "ignore" });
    return 0;
  } catch {
    return undefined; // no taskset: everything shares every core
  }
})();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const fingerprintOf = (token: string) =>
  createHash("sha256")
    .update(token.slice(0, token.lastIndexOf(".")))
    .digest("base64url");

interface Row {
  name: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  unexpected: number;
  cpuPercent: number;
  rssMiB: number;
  baseline?: string;
  ratio?: number;
}

async function measure(name: string, target: BenchProcess, load: () => Promise<LoadResult>): Promise<Row> {
  const cpuBefore = target.cpuSeconds();
  const started = Date.now();
  const result = await load();
  const elapsed = (Date.now() - started) / 1000;
  return {
    name,
    ...result,
    cpuPercent: (100 * (target.cpuSeconds() - cpuBefore)) / elapsed,
    rssMiB: target.rssBytes() / 1048576,
  };
}

function medianRow(rows: Row[]): Row {
  const pick = (key: keyof Row) => median(rows.map((r) => r[key] as number));
  return {
    name: rows[0]!.name,
    requestsPerSecond: pick("requestsPerSecond"),
    p50Ms: pick("p50Ms"),
    p99Ms: pick("p99Ms"),
    errors: rows.reduce((n, r) => n + r.errors, 0),
    unexpected: rows.reduce((n, r) => n + r.unexpected, 0),
    cpuPercent: pick("cpuPercent"),
    rssMiB: pick("rssMiB"),
  };
}

/** Stops what `main` started, also when it fails half-way, so no server outlives the run. */
const started: Array<{ stop(): Promise<void> }> = [];
function stopsLater<T extends { stop(): Promise<void> }>(thing: T): T {
  let stopping: Promise<void> | undefined;
  const stop = thing.stop.bind(thing);
  const once = { stop: () => (stopping ??= stop()) };
  started.push(once);
  return Object.assign(thing, once);
}

async function main(): Promise<void> {
  const redis = stopsLater(await startRedis());
  const client = new Redis(redis.url);
  const env = { REDIS_URL: redis.url, LOG_LEVEL: "warn", JWT_SECRET: "bench-secret" };
  const sign = (i: number) =>
    jwt.sign({ sub: `user-${i}`, jti: `jti-${i}` }, "bench-secret", { issuer: "https://www.discogs.com/", expiresIn: 3600 });
  const valid = Array.from({ length: 100 }, (_, i) => sign(i));
  const revoked = Array.from({ length: 20 }, (_, i) => sign(1000 + i));
  for (const token of revoked) await client.set(`tbl:${fingerprintOf(token)}`, "1", "PX", 3_600_000);
  const tokens = [...valid, ...revoked]; // one in six revoked

  const service = stopsLater(await startProcess("service", "dist/src/main.js", env, serverCpu));
  const baselineHttp = stopsLater(await startProcess("node:http baseline", "bench/baseline-http.ts", env, serverCpu));
  const baselineGrpc = stopsLater(await startProcess("grpc-js baseline", "bench/baseline-grpc.ts", env, serverCpu));

  const rest: HttpRequestSpec[] = tokens.map((t) => ({ method: "GET", path: "/info", headers: { authorization: `Bearer ${t}` } }));
  const connect: HttpRequestSpec[] = tokens.map((t) => ({
    method: "POST",
    path: "/tokens.v1.TokenService/Info",
    headers: { authorization: `Bearer ${t}`, "content-type": "application/json" },
    body: "{}",
  }));
  const http = (port: number, spec: HttpRequestSpec[], overallRate?: number) => () =>
    httpLoad(port, spec, { seconds, connections: CONNECTIONS, overallRate });
  const grpcTokens = [valid[0]!, valid[1]!, valid[2]!, valid[3]!, revoked[0]!]; // one stream set in five revoked
  const grpc = (port: number) => () => grpcLoad(port, grpcTokens, { seconds, connections: 5, streams: 16 });

  // Warm-up (JIT, connection pools, Redis): not measured.
  const warm = smoke ? 1 : 3; // h2load takes whole seconds
  for (const [port, spec] of [
    [baselineHttp.port, rest],
    [service.port, rest],
    [service.port, connect],
  ] as const) {
    await httpLoad(port, spec, { seconds: warm, connections: CONNECTIONS });
  }
  for (const port of [baselineGrpc.port, service.port]) await grpcLoad(port, grpcTokens, { seconds: warm, connections: 5, streams: 16 });

  const samples = new Map<string, Row[]>();
  const add = (row: Row) => samples.set(row.name, [...(samples.get(row.name) ?? []), row]);
  for (let i = 0; i < runs; i++) {
    add(await measure("REST GET /info, node:http baseline", baselineHttp, http(baselineHttp.port, rest)));
    add(await measure("REST GET /info", service, http(service.port, rest)));
    add(await measure("Connect JSON Info", service, http(service.port, connect)));
    add(await measure("gRPC Info, grpc-js baseline", baselineGrpc, grpc(baselineGrpc.port)));
    add(await measure("gRPC Info", service, grpc(service.port)));
  }
  const table = [...samples.values()].map(medianRow);
  const row = (name: string) => table.find((r) => r.name === name)!;
  const ratio = (name: string, baseline: string) => {
    row(name).baseline = baseline;
    row(name).ratio = row(name).requestsPerSecond / row(baseline).requestsPerSecond;
  };
  ratio("REST GET /info", "REST GET /info, node:http baseline");
  ratio("Connect JSON Info", "REST GET /info, node:http baseline");
  ratio("gRPC Info", "gRPC Info, grpc-js baseline");

  // Latency at half the service's measured maximum rate, and the baseline's at the same rate:
  // the pair tells the server's tail apart from the machine's and the generator's.
  const halfRate = Math.round(row("REST GET /info").requestsPerSecond / 2);
  for (const [label, target] of [
    ["node:http baseline", baselineHttp],
    ["service", service],
  ] as const) {
    table.push(await measure(`REST GET /info at ${halfRate} req/s (half max), ${label}`, target, http(target.port, rest, halfRate)));
  }
  const grpcHalfRate = Math.round(row("gRPC Info").requestsPerSecond / 2);
  for (const [label, target] of [
    ["grpc-js baseline", baselineGrpc],
    ["service", service],
  ] as const) {
    const paced = (s: number) => pacedGrpcH2load(target.port, grpcTokens, { seconds: s, ratePerSecond: grpcHalfRate, connections: 1 });
    await paced(warm); // warm-up
    table.push(await measure(`gRPC Info at ${grpcHalfRate} req/s (half max, h2load --rps), ${label}`, target, () => paced(seconds)));
  }

  // One million revocations: Info throughput, and bytes per entry.
  const memoryBefore = await usedMemory(client);
  await loadRevocations(client, revocationCount);
  const memoryAfter = await usedMemory(client);
  const sampleKey = (await client.randomkey())!;
  const scaled = medianRow(
    await sequential(runs, () => measure(`REST GET /info with ${revocationCount} revocations`, service, http(service.port, rest))),
  );
  scaled.baseline = "REST GET /info";
  scaled.ratio = scaled.requestsPerSecond / row("REST GET /info").requestsPerSecond;
  table.push(scaled);
  const redisBytesPerEntry = (memoryAfter - memoryBefore) / revocationCount;
  const redisMemoryUsage = Number(await client.call("MEMORY", "USAGE", sampleKey));
  const sqliteBytesPerEntry = (await sqliteFileBytes(revocationCount)) / revocationCount;

  for (const p of [service, baselineHttp, baselineGrpc]) await p.stop();
  client.disconnect();
  await redis.stop();

  printTable(table);
  const summary = {
    machine: { cpus: cpus().length, node: process.version, serversPinnedToCpu: serverCpu ?? null },
    runs,
    secondsPerRun: seconds,
    rows: table,
    revocations: {
      count: revocationCount,
      redisBytesPerEntry: Math.round(redisBytesPerEntry),
      redisMemoryUsageOfOneKey: redisMemoryUsage,
      sqliteFileBytesPerEntry: Math.round(sqliteBytesPerEntry),
    },
  };
  console.log(
    `\nrevocations: ${revocationCount}; Redis ${summary.revocations.redisBytesPerEntry} bytes/entry (used_memory delta; ` +
      `MEMORY USAGE of one key: ${redisMemoryUsage}); SQLite ${summary.revocations.sqliteFileBytesPerEntry} bytes/entry (file size)`,
  );
  if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(summary, null, 2));
}

async function sequential<T>(n: number, step: () => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await step());
  return out;
}

async function usedMemory(client: Redis): Promise<number> {
  return Number(/used_memory:(\d+)/.exec(await client.info("memory"))![1]);
}

/** Revocations as the service writes them (prefix + 43-char fingerprint, "1", PX), pipelined 10k at a time. */
async function loadRevocations(client: Redis, count: number): Promise<void> {
  for (let done = 0; done < count; done += 10_000) {
    const pipeline = client.pipeline();
    for (let i = done; i < Math.min(count, done + 10_000); i++) {
      pipeline.set(`tbl:${createHash("sha256").update(`bench-${i}`).digest("base64url")}`, "1", "PX", 3_600_000);
    }
    await pipeline.exec();
  }
}

/**
 * The SQLite store's file with `count` token entries, as its size. The store
 * creates its own schema; the rows go in directly, as the Redis keys do
 * (without audit events, which the store would add per change).
 */
async function sqliteFileBytes(count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-sqlite-"));
  try {
    await openSqliteStore({ path: join(dir, "tokens.db"), timeoutMs: 1000 }).close();
    const db = new Database(join(dir, "tokens.db"));
    const insert = db.prepare("INSERT INTO entries (key, expires_at_ms) VALUES (?, ?)");
    const expires = Date.now() + 3_600_000;
    db.transaction(() => {
      for (let i = 0; i < count; i++) insert.run(createHash("sha256").update(`bench-${i}`).digest("base64url"), expires + i);
    })();
    db.close();
    return statSync(join(dir, "tokens.db")).size;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(rows: Row[]): void {
  const fmt = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : "-");
  console.log(["name", "req/s", "p50 ms", "p99 ms", "errors", "unexpected", "cpu %", "rss MiB", "ratio"].join("\t"));
  for (const r of rows) {
    console.log(
      [
        r.name,
        fmt(r.requestsPerSecond),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        r.errors,
        r.unexpected,
        fmt(r.cpuPercent),
        fmt(r.rssMiB),
        r.ratio === undefined ? "" : `${r.ratio.toFixed(2)} of ${r.baseline}`,
      ].join("\t"),
    );
  }
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => {
    const stops = started.reverse().reduce((chain, thing) => chain.then(() => thing.stop().catch(() => {})), Promise.resolve());
    void stops.then(() => process.exit()); // with process.exitCode; a failed run may leave a Redis client open
  });
