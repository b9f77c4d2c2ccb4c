import { mkdtempSync, rmSync } from "node:fs";
import { type IncomingHttpHeaders, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { type MainProcess, runMainToExit, startMain } from "./helpers/main-process.js";
import { parsePrometheus, type Sample, sampleValue } from "./helpers/prometheus.js";
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

/** A request on a connection of its own: status, headers and body. */
function fresh(port: number, method: string, path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: IncomingHttpHeaders; body: string }>((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, agent: false, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

/** One scrape of /metrics, which must succeed. */
async function scrape(port: number): Promise<Sample[]> {
  const res = await fresh(port, "GET", "/metrics");
  expect(res.status, res.body).toBe(200);
  return parsePrometheus(res.body);
}

/** The pino lines written so far (complete lines only: the last may be arriving still). */
const logLines = (service: MainProcess) =>
  service
    .output()
    .split("\n")
    .slice(0, -1)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as { pid: number; msg: string; rpc?: string }];
      } catch {
        return []; // not a log line (stderr)
      }
    });

/** The pids of the workers that have listened, in order. */
const listeningPids = (service: MainProcess) => [
  ...new Set(logLines(service).flatMap((line) => (line.msg === "token-blacklist listening" ? [line.pid] : []))),
];

/** Info calls each worker logged, by pid. */
function infoCallsByPid(service: MainProcess): Map<number, number> {
  const counts = new Map<number, number>();
  for (const line of logLines(service)) {
    if (line.msg === "request" && line.rpc === "Info") counts.set(line.pid, (counts.get(line.pid) ?? 0) + 1);
  }
  return counts;
}
const total = (counts: Map<number, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/** Sends `count` Info calls at once, each on a connection of its own (node:cluster spreads connections, not requests). */
async function sendInfo(service: MainProcess, token: string, count: number): Promise<void> {
  const before = total(infoCallsByPid(service));
  const statuses = await Promise.all(Array.from({ length: count }, () => call(service.port, "GET", "/info", token)));
  expect(new Set(statuses), service.output().slice(-2000)).toEqual(new Set([200]));
  // A call is counted as it is logged: once all are logged, all are counted.
  expect(await eventually(async () => total(infoCallsByPid(service)) === before + count)).toBe(true);
}

const INFO_CALLS = "token_blacklist_requests_total";

/** Five scrapes, each on a fresh connection (so they reach both workers): every one reports exactly `expected` Info calls from `workers` workers. */
async function expectEveryScrape(service: MainProcess, expected: number, workers = 2): Promise<void> {
  for (let i = 0; i < 5; i++) {
    const samples = await scrape(service.port);
    expect(sampleValue(samples, INFO_CALLS, { rpc: "Info" }), `scrape ${i + 1}`).toBe(expected);
    expect(sampleValue(samples, "token_blacklist_request_duration_seconds_count", { rpc: "Info" }), `scrape ${i + 1}`).toBe(expected);
    expect(sampleValue(samples, "token_blacklist_workers"), `scrape ${i + 1}`).toBe(workers);
  }
}

describe("WORKERS=2: one scrape of /metrics reports the whole service", () => {
  it("sums every worker's counters: exactly the calls sent, on every scrape, whichever worker takes it", async () => {
    const service = await startMain({ WORKERS: "2", SQLITE_PATH: join(dir, "sum.db") });
    try {
      expect(await eventually(async () => listeningPids(service).length === 2)).toBe(true);
      const token = mint();
      await sendInfo(service, token, 20);
      // Both workers served some, so neither alone holds all 20: a scrape answered by one worker's counts fails below.
      const byWorker = infoCallsByPid(service);
      expect(byWorker.size, JSON.stringify([...byWorker])).toBe(2);
      expect(Math.max(...byWorker.values())).toBeLessThan(20);
      await expectEveryScrape(service, 20);

      await sendInfo(service, token, 13);
      await expectEveryScrape(service, 33);

      // HEAD: the GET response's status and headers, no body.
      const head = await fresh(service.port, "HEAD", "/metrics");
      expect(head.status).toBe(200);
      expect(head.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8");
      expect(Number(head.headers["content-length"])).toBeGreaterThan(1000);
      expect(head.body).toBe("");
    } finally {
      await service.stop("SIGTERM");
    }
  });

  it("answers 503 naming a worker that does not send its metrics, and sums again once it does", async () => {
    const service = await startMain({ WORKERS: "2", SQLITE_PATH: join(dir, "stopped.db") });
    try {
      expect(await eventually(async () => listeningPids(service).length === 2)).toBe(true);
      await sendInfo(service, mint(), 20);
      const stopped = listeningPids(service)[0]!;
      process.kill(stopped, "SIGSTOP");
      let scrapes: Array<ReturnType<typeof fresh>>;
      try {
        // The stopped worker is handed at most one connection (node:cluster waits for it to take it): the other scrape
        // reaches the running worker, whose primary waits for the stopped one's metrics in vain.
        scrapes = [fresh(service.port, "GET", "/metrics"), fresh(service.port, "GET", "/metrics")];
        const first = await Promise.race(scrapes);
        expect(first.status, first.body).toBe(503);
        expect(first.headers["content-type"]).toBe("application/json");
        const body = JSON.parse(first.body) as { status: string; info: string };
        expect(body.status).toBe("unavailable");
        expect(body.info).toContain(`(pid ${stopped}) did not send its metrics within 2000 ms`);
      } finally {
        process.kill(stopped, "SIGCONT");
      }
      await Promise.all(scrapes);
      await expectEveryScrape(service, 20);
    } finally {
      await service.stop("SIGTERM");
    }
  });

  it("loses a dead worker's counts with it, and counts the replacement's from 0", async () => {
    const service = await startMain({ WORKERS: "2", SQLITE_PATH: join(dir, "replaced.db") });
    try {
      expect(await eventually(async () => listeningPids(service).length === 2)).toBe(true);
      const token = mint();
      await sendInfo(service, token, 20);
      const byWorker = infoCallsByPid(service);
      expect(byWorker.size).toBe(2);
      const [victim, survivor] = listeningPids(service) as [number, number];
      process.kill(victim, "SIGKILL");
      expect(await eventually(async () => listeningPids(service).length === 3)).toBe(true);
      const survivorCalls = byWorker.get(survivor)!;
      // The sum goes down (Prometheus's rate() reads it as a counter reset) to what the survivor counted.
      expect(
        await eventually(async () => {
          const samples = await scrape(service.port);
          return (
            sampleValue(samples, "token_blacklist_workers") === 2 && sampleValue(samples, INFO_CALLS, { rpc: "Info" }) === survivorCalls
          );
        }),
      ).toBe(true);
      await expectEveryScrape(service, survivorCalls);
      await sendInfo(service, token, 10);
      await expectEveryScrape(service, survivorCalls + 10);
    } finally {
      await service.stop("SIGTERM");
    }
  });
});

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
