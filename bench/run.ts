/**
 * `npm run bench`: the service against its baselines, in one run, on the same
 * machine, token set and Redis. Each row is measured --runs times, rows
 * interleaved, and reported as its median with the run-to-run range, the
 * server's CPU microseconds per answered request (user + system time from
 * /proc: steadier than requests per second on a shared machine), and a
 * ratio to the row it is judged against. Then latency at half the maximum
 * rate, 1,000,000 revocations, and the bytes each revocation costs in Redis
 * and in SQLite. `--smoke` runs everything briefly, for the test suite.
 *
 *   npm run bench [-- --runs 3 --seconds 8 --smoke --out results.json --no-pin --only REGEX --against DIR]
 *
 * `--only` measures the closed-loop rows whose names match REGEX (name the
 * baselines too) and skips everything after them. `--against DIR` adds the
 * Info rows of another build of the service (DIR/dist/src/main.js, e.g. the
 * previous commit), measured interleaved with this one's: a change's cost.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import { Redis } from "ioredis";
import jwt from "jsonwebtoken";
import type { RedisTopology } from "../src/config.js";
import { openRedisStore } from "../src/store/redis-store.js";
import { entryKey } from "../src/store/revocation-store.js";
import { bucketOf } from "../src/store/redis-key-layout.js";
import { openSqliteStore } from "../src/store/sqlite-store.js";
import { startRedis } from "../test/helpers/redis-server.js";
import { startCluster, startSentinelSet } from "../test/helpers/redis-topologies.js";
import { makeTestCert } from "../test/helpers/tls-cert.js";
import { create, toBinary } from "@bufbuild/protobuf";
import { CheckRequestSchema } from "../gen/envoy/service/auth/v3/external_auth_pb.js";
import { grpcLoad, httpLoad, pacedLoad, type GrpcMethod, type HttpRequestSpec, type LoadResult, type LoadTarget } from "./load.js";
import { measureCheckerSpeed, measurePropagation, mirrorBytesPerEntry } from "./feed.js";
import { startOtlpSink } from "./otlp-sink.js";
import { startProcess, type BenchProcess } from "./processes.js";

const { values } = parseArgs({
  options: {
    runs: { type: "string" },
    seconds: { type: "string" },
    smoke: { type: "boolean", default: false },
    out: { type: "string" },
    "no-pin": { type: "boolean", default: false },
    only: { type: "string" },
    against: { type: "string" },
  },
});
const smoke = values.smoke;
const runs = Number(values.runs ?? (smoke ? 1 : 3));
const seconds = Number(values.seconds ?? (smoke ? 1 : 8));
const revocationCount = smoke ? 20_000 : 1_000_000;
const HTTP_CONNECTIONS = 32;
const ADMIN_KEY = "bench-admin-key-0123456789abcdef-0123";

/**
 * On two or more cores (and with taskset), the servers get core 0 to
 * themselves while this process, wrk, h2load and Redis share core 1: on
 * shared cores the generator's own stalls land in the servers' figures.
 * `--no-pin` turns it off.
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
  /** Lowest and highest requests per second across runs. */
  range: [number, number];
  /** Server CPU time (user + system) per answered request, in microseconds. */
  cpuMicrosPerRequest: number;
  cpuRange: [number, number];
  p50Ms: number;
  p99Ms: number;
  errors: number;
  unexpected: number;
  cpuPercent: number;
  rssMiB: number;
  baseline?: string;
  ratio?: number;
  target?: number;
}

type Sample = Omit<Row, "range" | "cpuRange" | "baseline" | "ratio" | "target">;

/** A load that runs for the seconds it is given. */
type Load = (seconds: number) => Promise<LoadResult>;

async function measure(name: string, server: BenchProcess, load: Load): Promise<Sample> {
  const cpuBefore = server.cpuSeconds();
  const started = Date.now();
  const result = await load(seconds);
  const elapsed = (Date.now() - started) / 1000;
  const cpu = server.cpuSeconds() - cpuBefore;
  return {
    name,
    ...result,
    cpuMicrosPerRequest: (cpu * 1e6) / Math.max(1, result.requestsPerSecond * elapsed),
    cpuPercent: (100 * cpu) / elapsed,
    rssMiB: server.rssBytes() / 1048576,
  };
}

function summarize(samples: Sample[]): Row {
  const pick = (key: keyof Sample) => median(samples.map((r) => r[key] as number));
  const rps = samples.map((r) => r.requestsPerSecond);
  const cpu = samples.map((r) => r.cpuMicrosPerRequest);
  return {
    name: samples[0]!.name,
    requestsPerSecond: pick("requestsPerSecond"),
    range: [Math.min(...rps), Math.max(...rps)],
    cpuMicrosPerRequest: pick("cpuMicrosPerRequest"),
    cpuRange: [Math.min(...cpu), Math.max(...cpu)],
    p50Ms: pick("p50Ms"),
    p99Ms: pick("p99Ms"),
    errors: samples.reduce((n, r) => n + r.errors, 0),
    unexpected: samples.reduce((n, r) => n + r.unexpected, 0),
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
  const cluster = stopsLater(await startCluster());
  const sentinelSet = stopsLater(await startSentinelSet());
  const cert = makeTestCert();
  started.push({ stop: async () => cert.remove() });
  const client = new Redis(redis.url);
  const secret = "bench-secret";
  const env = { REDIS_URL: redis.url, LOG_LEVEL: "warn", JWT_SECRET: secret, ADMIN_KEY };
  const tlsEnv = { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile };
  const sqliteDir = mkdtempSync(join(tmpdir(), "tb-bench-sqlite-"));
  started.push({ stop: async () => rmSync(sqliteDir, { recursive: true, force: true }) });
  const sign = (i: number) =>
    jwt.sign({ sub: `user-${i}`, jti: `jti-${i}` }, secret, { issuer: "https://www.discogs.com/", expiresIn: 3600 });
  const valid = Array.from({ length: 100 }, (_, i) => sign(i));
  const revoked = Array.from({ length: 20 }, (_, i) => sign(1000 + i));
  const tokens = [...valid, ...revoked]; // one in six revoked
  const clusterEnv = { ...env, REDIS_URL: "", ...cluster.env };
  const sentinelEnv = { ...env, REDIS_URL: "", ...sentinelSet.env };
  const topologies: RedisTopology[] = [
    { mode: "single", url: redis.url },
    { mode: "cluster", nodes: cluster.nodes.map((n) => ({ host: "127.0.0.1", port: n.port })), tls: false },
    {
      mode: "sentinel",
      sentinels: sentinelSet.sentinels.map((s) => ({ host: "127.0.0.1", port: s.port })),
      masterName: sentinelSet.masterName,
      tls: false,
    },
  ];
  // Every Redis holds the same revocations, written by the store itself (the Cluster's keys are hash-tagged).
  for (const topology of topologies) {
    const store = await openRedisStore({ topology, keyPrefix: "tbl:", timeoutMs: 5000, historyMaxEvents: 100_000 });
    for (const [i, token] of revoked.entries()) {
      // Placed with the token's jti entry, as the service places it (on a Cluster: the same slot).
      const placedWith = entryKey({ scope: "jti", issuer: "https://www.discogs.com/", jti: `jti-${1000 + i}` });
      await store.revoke(
        { scope: "token", fingerprint: fingerprintOf(token), placedWith },
        { actor: "admin", reason: "", expiresAtMs: Date.now() + 3_600_000 },
      );
    }
    await store.close();
  }

  const service = stopsLater(await startProcess("service", "dist/src/main.js", env, serverCpu));
  const serviceTls = stopsLater(await startProcess("service, TLS", "dist/src/main.js", { ...env, ...tlsEnv }, serverCpu));
  const sqliteEnv = { LOG_LEVEL: "warn", JWT_SECRET: secret, SQLITE_PATH: join(sqliteDir, "tokens.db") };
  const serviceSqlite = stopsLater(await startProcess("service, SQLite", "dist/src/main.js", sqliteEnv, serverCpu));
  const serviceCluster = stopsLater(await startProcess("service, Cluster", "dist/src/main.js", clusterEnv, serverCpu));
  const serviceSentinel = stopsLater(await startProcess("service, Sentinel", "dist/src/main.js", sentinelEnv, serverCpu));
  const serviceMirror = stopsLater(
    await startProcess("service, REVOCATION_CACHE=mirror", "dist/src/main.js", { ...env, REVOCATION_CACHE: "mirror" }, serverCpu),
  );
  // The same without the verified-token cache: every call verifies its token in full, as the baseline does.
  const serviceMirrorUncached = stopsLater(
    await startProcess(
      "service, REVOCATION_CACHE=mirror, JWT_CACHE_SIZE=0",
      "dist/src/main.js",
      { ...env, REVOCATION_CACHE: "mirror", JWT_CACHE_SIZE: "0" },
      serverCpu,
    ),
  );
  const waitEnv = { REDIS_WAIT_REPLICAS: "1", STORE_TIMEOUT_MS: "1000", REDIS_WAIT_TIMEOUT_MS: "500" };
  const serviceClusterWait = stopsLater(
    await startProcess("service, Cluster, WAIT 1", "dist/src/main.js", { ...clusterEnv, ...waitEnv }, serverCpu),
  );
  const serviceSentinelWait = stopsLater(
    await startProcess("service, Sentinel, WAIT 1", "dist/src/main.js", { ...sentinelEnv, ...waitEnv }, serverCpu),
  );
  // Tracing on: every call's spans exported over OTLP/HTTP to a sink in this process (the SDK's default batching).
  const otlpSink = stopsLater(await startOtlpSink());
  const serviceTraced = stopsLater(
    await startProcess("service, tracing on", "dist/src/main.js", { ...env, OTEL_EXPORTER_OTLP_ENDPOINT: otlpSink.endpoint }, serverCpu),
  );
  const against =
    values.against === undefined
      ? undefined
      : stopsLater(await startProcess("service, --against", join(resolve(values.against), "dist/src/main.js"), env, serverCpu));
  const baselineHttp = stopsLater(await startProcess("node:http baseline", "bench/baseline-http.ts", env, serverCpu));
  const baselineGrpc = stopsLater(await startProcess("grpc-js baseline", "bench/baseline-grpc.ts", env, serverCpu));
  const baselineGrpcTls = stopsLater(
    await startProcess("grpc-js baseline, TLS", "bench/baseline-grpc.ts", { ...env, ...tlsEnv }, serverCpu),
  );
  // The SQLite store holds the same revocations as Redis.
  const sqlite = new Database(sqliteEnv.SQLITE_PATH);
  const insert = sqlite.prepare("INSERT INTO entries (key, expires_at_ms) VALUES (?, ?)");
  for (const token of revoked) insert.run(fingerprintOf(token), Date.now() + 3_600_000);
  sqlite.close();

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const rest: HttpRequestSpec[] = tokens.map((t) => ({ method: "GET", path: "/info", headers: bearer(t) }));
  const connect = (contentType: string, body: string): HttpRequestSpec[] =>
    tokens.map((t) => ({
      method: "POST",
      path: "/tokens.v1.TokenService/Info",
      headers: { ...bearer(t), "content-type": contentType },
      body,
    }));
  const connectJson = connect("application/json", "{}");
  // A store write per request: RevokeJti of a jti no request used before ({n}), by an operator.
  const revokeJti: HttpRequestSpec[] = [
    {
      method: "POST",
      path: "/jtis/bench-{n}/revocation",
      headers: { "x-admin-key": ADMIN_KEY, "content-type": "application/json" },
      body: "{}",
    },
  ];
  const connectBinary = connect("application/proto", "");
  const http =
    (port: number, spec: HttpRequestSpec[]): Load =>
    (s) =>
      httpLoad(port, spec, { seconds: s, connections: HTTP_CONNECTIONS });
  const grpcTokens = [valid[0]!, valid[1]!, valid[2]!, valid[3]!, revoked[0]!]; // one stream set in five revoked
  const grpc =
    (target: LoadTarget, method?: GrpcMethod): Load =>
    (s) =>
      grpcLoad(target, grpcTokens, { seconds: s, connections: 5, streams: 16, ...(method === undefined ? {} : { method }) });
  // Envoy's ext_authz Check as Envoy sends it: the request's headers, the bearer token among them.
  const extAuthzCheck: GrpcMethod = {
    path: "/envoy.service.auth.v3.Authorization/Check",
    message: (token) =>
      toBinary(
        CheckRequestSchema,
        create(CheckRequestSchema, {
          attributes: {
            request: {
              http: {
                method: "GET",
                path: "/orders/7",
                host: "api.example",
                scheme: "http",
                headers: { authorization: `Bearer ${token}`, accept: "*/*" },
              },
            },
          },
        }),
      ),
  };
  const forwardAuth: HttpRequestSpec[] = tokens.map((t) => ({ method: "GET", path: "/auth", headers: bearer(t) }));

  /** Every closed-loop row: name, server, load. Interleaved across runs so slow spells of the machine hit all. */
  const rows: Array<[string, BenchProcess, Load]> = [
    ["REST GET /info, node:http baseline", baselineHttp, http(baselineHttp.port, rest)],
    ["REST GET /info", service, http(service.port, rest)],
    ["REST GET /info, SQLite", serviceSqlite, http(serviceSqlite.port, rest)],
    ["REST GET /info, REVOCATION_CACHE=mirror", serviceMirror, http(serviceMirror.port, rest)],
    ["REST GET /info, REVOCATION_CACHE=mirror, JWT_CACHE_SIZE=0", serviceMirrorUncached, http(serviceMirrorUncached.port, rest)],
    ["Connect JSON Info", service, http(service.port, connectJson)],
    ["Connect binary Info", service, http(service.port, connectBinary)],
    ["gRPC Info, grpc-js baseline", baselineGrpc, grpc({ port: baselineGrpc.port })],
    ["gRPC Info", service, grpc({ port: service.port })],
    ["gRPC Info over TLS, grpc-js baseline", baselineGrpcTls, grpc({ port: baselineGrpcTls.port, tls: true })],
    ["gRPC Info over TLS", serviceTls, grpc({ port: serviceTls.port, tls: true })],
    ["ext_authz Check (gRPC, h2c)", service, grpc({ port: service.port }, extAuthzCheck)],
    ["forward-auth GET /auth", service, http(service.port, forwardAuth)],
    ["REST GET /info, tracing on (OTLP)", serviceTraced, http(serviceTraced.port, rest)],
    ["gRPC Info, tracing on (OTLP)", serviceTraced, grpc({ port: serviceTraced.port })],
    ...(against === undefined
      ? []
      : ([
          ["REST GET /info, --against", against, http(against.port, rest)],
          ["gRPC Info, --against", against, grpc({ port: against.port })],
        ] as Array<[string, BenchProcess, Load]>)),
    ["REST GET /info, Sentinel", serviceSentinel, http(serviceSentinel.port, rest)],
    ["REST GET /info, Cluster (3 masters)", serviceCluster, http(serviceCluster.port, rest)],
    ["REST GET /info, Cluster, REDIS_WAIT_REPLICAS=1", serviceClusterWait, http(serviceClusterWait.port, rest)],
    ["RevokeJti (a store write)", service, http(service.port, revokeJti)],
    ["RevokeJti, Sentinel", serviceSentinel, http(serviceSentinel.port, revokeJti)],
    ["RevokeJti, Sentinel, REDIS_WAIT_REPLICAS=1", serviceSentinelWait, http(serviceSentinelWait.port, revokeJti)],
    ["RevokeJti, Cluster (3 masters)", serviceCluster, http(serviceCluster.port, revokeJti)],
    ["RevokeJti, Cluster, REDIS_WAIT_REPLICAS=1", serviceClusterWait, http(serviceClusterWait.port, revokeJti)],
  ];

  if (values.only !== undefined) {
    const only = new RegExp(values.only);
    rows.splice(0, rows.length, ...rows.filter(([name]) => only.test(name)));
  }

  // Warm-up (JIT, connection pools, Redis): not measured. h2load takes whole seconds.
  const warm = smoke ? 1 : 3;
  for (const [, , load] of rows) await load(warm);

  const samples = new Map<string, Sample[]>();
  for (let i = 0; i < runs; i++) {
    for (const [name, server, load] of rows) samples.set(name, [...(samples.get(name) ?? []), await measure(name, server, load)]);
  }
  const table = [...samples.values()].map(summarize);
  const row = (name: string) => table.find((r) => r.name === name)!;
  const measured = (...names: string[]) => names.every((name) => table.some((r) => r.name === name));
  const ratioOf = (name: string, baseline: string) => row(name).requestsPerSecond / row(baseline).requestsPerSecond;
  const judge = (name: string, baseline: string, target: number) => {
    if (!measured(name, baseline)) return; // --only left one of them out
    Object.assign(row(name), { baseline, target, ratio: row(name).requestsPerSecond / row(baseline).requestsPerSecond });
  };
  judge("REST GET /info", "REST GET /info, node:http baseline", 0.85);
  judge("REST GET /info, SQLite", "REST GET /info", 1.0);
  judge("REST GET /info, REVOCATION_CACHE=mirror", "REST GET /info, node:http baseline", 1.2);
  judge("Connect JSON Info", "REST GET /info", 0.8);
  judge("Connect binary Info", "REST GET /info", 0.8);
  judge("gRPC Info", "gRPC Info, grpc-js baseline", 1.0);
  judge("gRPC Info over TLS", "gRPC Info over TLS, grpc-js baseline", 1.0);
  judge("ext_authz Check (gRPC, h2c)", "gRPC Info", 0.9);
  judge("forward-auth GET /auth", "REST GET /info", 0.9);
  judge("REST GET /info, Sentinel", "REST GET /info", 0.8);
  judge("REST GET /info, Cluster (3 masters)", "REST GET /info", 0.8);
  judge("REST GET /info, Cluster, REDIS_WAIT_REPLICAS=1", "REST GET /info", 0.8);
  // What tracing costs, and what --against's build does against this one: ratios, no target.
  for (const [name, baseline] of [
    ["REST GET /info, REVOCATION_CACHE=mirror, JWT_CACHE_SIZE=0", "REST GET /info, node:http baseline"],
    ["REST GET /info, tracing on (OTLP)", "REST GET /info"],
    ["gRPC Info, tracing on (OTLP)", "gRPC Info"],
    ["REST GET /info, --against", "REST GET /info"],
    ["gRPC Info, --against", "gRPC Info"],
  ] as const) {
    if (measured(name, baseline)) Object.assign(row(name), { baseline, ratio: ratioOf(name, baseline) });
  }
  if (values.only !== undefined) {
    printTable(table);
    if (values.out !== undefined) writeFileSync(values.out, JSON.stringify({ runs, secondsPerRun: seconds, rows: table }, null, 2));
    return;
  }
  Object.assign(row("RevokeJti, Sentinel"), {
    baseline: "RevokeJti (a store write)",
    ratio: ratioOf("RevokeJti, Sentinel", "RevokeJti (a store write)"),
  });
  for (const name of [
    "RevokeJti, Sentinel, REDIS_WAIT_REPLICAS=1",
    "RevokeJti, Cluster (3 masters)",
    "RevokeJti, Cluster, REDIS_WAIT_REPLICAS=1",
  ]) {
    const baseline = name.includes("WAIT")
      ? name.replace(", REDIS_WAIT_REPLICAS=1", name.includes("Cluster") ? " (3 masters)" : "")
      : "RevokeJti (a store write)";
    Object.assign(row(name), { baseline, ratio: ratioOf(name, baseline) });
  }

  // Latency at half the service's measured maximum rate, and the baseline's at the same rate:
  // the pair tells the server's tail apart from the machine's and the generator's. Paced by h2load.
  const pacedTokens = grpcTokens;
  const halfRest = Math.round(row("REST GET /info").requestsPerSecond / 2);
  for (const [label, target] of [
    ["node:http baseline", baselineHttp],
    ["service", service],
  ] as const) {
    const paced: Load = (s) =>
      pacedLoad({ port: target.port }, pacedTokens, { seconds: s, ratePerSecond: halfRest, connections: 4, h1: rest[0]! });
    await paced(warm);
    table.push(summarize([await measure(`REST GET /info at ${halfRest} req/s (half max, h2load --rps), ${label}`, target, paced)]));
  }
  const halfGrpc = Math.round(row("gRPC Info").requestsPerSecond / 2);
  for (const [label, target] of [
    ["grpc-js baseline", baselineGrpc],
    ["service", service],
  ] as const) {
    const paced: Load = (s) => pacedLoad({ port: target.port }, pacedTokens, { seconds: s, ratePerSecond: halfGrpc, connections: 1 });
    await paced(warm);
    table.push(summarize([await measure(`gRPC Info at ${halfGrpc} req/s (half max, h2load --rps), ${label}`, target, paced)]));
  }

  // One million revocations: Info throughput, and bytes per entry.
  const memoryBefore = await usedMemory(client);
  await loadRevocations(client, revocationCount);
  const memoryAfter = await usedMemory(client);
  const sampleKey = (await client.randomkey())!;
  const scaled: Sample[] = [];
  for (let i = 0; i < runs; i++)
    scaled.push(await measure(`REST GET /info with ${revocationCount} revocations`, service, http(service.port, rest)));
  table.push({
    ...summarize(scaled),
    baseline: "REST GET /info",
    ratio: median(scaled.map((s) => s.requestsPerSecond)) / row("REST GET /info").requestsPerSecond,
  });
  const redisBytesPerEntry = (memoryAfter - memoryBefore) / revocationCount;
  const redisMemoryUsage = Number(await client.call("MEMORY", "USAGE", sampleKey));
  const sqliteBytesPerEntry = (await sqliteFileBytes(revocationCount)) / revocationCount;
  client.disconnect();
  const clusterBytesPerEntry =
    (await clusterBytes(
      cluster.nodes.map((n) => n.port),
      revocationCount,
    )) / revocationCount;

  // The revocation feed: propagation to a checker in another process and to an instance in mirror mode,
  // the in-process check against Info over the network, and the mirror's memory per entry.
  const issuer = "https://www.discogs.com/";
  const propagation = await measurePropagation({
    writerPort: service.port,
    mirrorPort: serviceMirror.port,
    feedKey: ADMIN_KEY,
    secret,
    issuer,
    count: smoke ? 30 : 1000,
    sign: (i) => jwt.sign({ sub: `propagation-${i}`, jti: `propagation-${i}` }, secret, { issuer, expiresIn: 3600 }),
  });
  const checkerSpeed = await measureCheckerSpeed({
    port: serviceMirror.port,
    feedKey: ADMIN_KEY,
    secret,
    issuer,
    valid: valid[0]!,
    revoked: revoked[0]!,
    seconds: smoke ? 1.5 : seconds * 2,
  });
  const mirrorEntries = smoke ? 20_000 : 1_000_000;
  const mirrorBytes = await mirrorBytesPerEntry(mirrorEntries);

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
      clusterBytesPerEntryOnMasters: Math.round(clusterBytesPerEntry),
    },
    feed: {
      propagation,
      checker: checkerSpeed,
      mirror: { entries: mirrorEntries, heapBytesPerEntry: Math.round(mirrorBytes) },
    },
  };
  console.log(
    `\nrevocations: ${revocationCount}; Redis ${summary.revocations.redisBytesPerEntry} bytes/entry (used_memory delta; ` +
      `MEMORY USAGE of one key: ${redisMemoryUsage}); SQLite ${summary.revocations.sqliteFileBytesPerEntry} bytes/entry (file size); ` +
      `Cluster ${summary.revocations.clusterBytesPerEntryOnMasters} bytes/entry (used_memory delta summed over the 3 masters; replicas hold as much again)`,
  );
  const ms = (x: number) => x.toFixed(1);
  console.log(
    `feed: propagation over ${propagation.revocations} revocations, from the start of the revoke call: ` +
      `checker in another process p50 ${ms(propagation.checkerP50Ms)} ms, p99 ${ms(propagation.checkerP99Ms)} ms; ` +
      `instance in mirror mode p50 ${ms(propagation.mirrorInstanceP50Ms)} ms, p99 ${ms(propagation.mirrorInstanceP99Ms)} ms ` +
      `(the revoke call alone: p50 ${ms(propagation.revokeCallP50Ms)} ms; target p99 < 50 ms)\n` +
      `feed: check() in-process: valid mean ${checkerSpeed.validMeanMicros.toFixed(2)} µs, p99 ${checkerSpeed.validP99Micros.toFixed(2)} µs; ` +
      `revoked mean ${checkerSpeed.revokedMeanMicros.toFixed(2)} µs, p99 ${checkerSpeed.revokedP99Micros.toFixed(2)} µs; ` +
      `${Math.round(checkerSpeed.checksPerSecond)} checks/s vs ${Math.round(checkerSpeed.infoCallsPerSecond)} Info calls/s over the network ` +
      `= ${checkerSpeed.ratio.toFixed(1)}x (target 20x)\n` +
      `feed: mirror memory ${Math.round(mirrorBytes)} heap bytes/entry at ${mirrorEntries} entries (target <= 150)`,
  );
  if (values.out !== undefined) writeFileSync(values.out, JSON.stringify(summary, null, 2));
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
 * Bytes per token entry on a Cluster: `count` entries written with the
 * Cluster layout's keys (prefix, bucket hash tag, fingerprint), through each
 * key's master, as the used_memory growth summed over the masters.
 */
async function clusterBytes(ports: number[], count: number): Promise<number> {
  const nodes = ports.map((port) => new Redis(port, "127.0.0.1"));
  try {
    const masters: Redis[] = [];
    for (const node of nodes) if (((await node.call("ROLE")) as string[])[0] === "master") masters.push(node);
    const before = (await Promise.all(masters.map(usedMemory))).reduce((a, b) => a + b, 0);
    // Which master serves each bucket's tag.
    const slots = (await masters[0]!.call("CLUSTER", "SLOTS")) as Array<[number, number, [string, number]]>;
    const masterOf = async (key: string) => {
      const slot = Number(await masters[0]!.call("CLUSTER", "KEYSLOT", key));
      const port = Number(slots.find(([from, to]) => from <= slot && slot <= to)![2][1]);
      return masters.find((m) => m.options.port === port)!;
    };
    const byBucket = new Map<number, Redis>();
    for (let bucket = 0; bucket < 16; bucket++) byBucket.set(bucket, await masterOf(`tbl:{${bucket}}`));
    for (let done = 0; done < count; done += 10_000) {
      const pipelines = new Map<Redis, ReturnType<Redis["pipeline"]>>();
      for (let i = done; i < Math.min(count, done + 10_000); i++) {
        const fp = createHash("sha256").update(`bench-${i}`).digest("base64url");
        const bucket = bucketOf(fp);
        const master = byBucket.get(bucket)!;
        if (!pipelines.has(master)) pipelines.set(master, master.pipeline());
        pipelines.get(master)!.set(`tbl:{${bucket}}${fp}`, "1", "PX", 3_600_000);
      }
      await Promise.all([...pipelines.values()].map((p) => p.exec()));
    }
    const after = (await Promise.all(masters.map(usedMemory))).reduce((a, b) => a + b, 0);
    return after - before;
  } finally {
    for (const node of nodes) node.disconnect();
  }
}

/**
 * The SQLite store's file with `count` token entries, as its size. The store
 * creates its own schema; the rows go in directly, as the Redis keys do
 * (without audit events, which the store would add per change).
 */
async function sqliteFileBytes(count: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-sqlite-size-"));
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
  console.log(["name", "req/s", "range", "cpu us/req", "p50 ms", "p99 ms", "errors", "unexpected", "cpu %", "rss MiB", "ratio"].join("\t"));
  for (const r of rows) {
    console.log(
      [
        r.name,
        fmt(r.requestsPerSecond),
        `${fmt(r.range[0])}-${fmt(r.range[1])}`,
        fmt(r.cpuMicrosPerRequest, 1),
        fmt(r.p50Ms, 2),
        fmt(r.p99Ms, 2),
        r.errors,
        r.unexpected,
        fmt(r.cpuPercent),
        fmt(r.rssMiB),
        r.ratio === undefined ? "" : `${r.ratio.toFixed(2)} of ${r.baseline}${r.target === undefined ? "" : ` (target ${r.target})`}`,
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
