import { mkdtempSync, rmSync } from "node:fs";
import * as http from "node:http";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type MainOptions, type MainProcess, startMain } from "../helpers/main-process.js";
import { type Resources, resourcesOf } from "../helpers/process-resources.js";
import { parsePrometheus, sampleValue } from "../helpers/prometheus.js";
import { mint } from "../helpers/tokens.js";

/** The limits every attack test runs the service with: short, so held connections show within seconds. */
export const LIMITS = { HTTP_IDLE_TIMEOUT_MS: "1500", HTTP_HEADERS_TIMEOUT_MS: "1000" } as const;
export const ADMIN_KEY = "resilience-admin-key-0123456789-abcdef";

/** The service as an attacker meets it: `npm start` in its own process, warmed up, with its baseline taken. */
export interface Target extends MainProcess {
  pid: number;
  dir: string;
  /** fds and RSS after the warm-up, before any attack. */
  baseline: Resources;
  /** A valid token nobody revoked. */
  token: string;
  close(): Promise<void>;
}

/** Starts the service on SQLite in a temp dir (unless `env` names a store), warms up HTTP/1.1 and HTTP/2 (cleartext only), and reads its baseline. */
export async function startTarget(env: Record<string, string> = {}, options: MainOptions = {}): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "tb-resilience-"));
  const store: Record<string, string> =
    env.REDIS_URL === undefined && env.SQLITE_PATH === undefined ? { SQLITE_PATH: join(dir, "tokens.db") } : {};
  const main = await startMain({ ADMIN_KEY, LOG_LEVEL: "info", ...LIMITS, ...store, ...env }, options);
  const token = mint();
  if (env.TLS_CERT_FILE === undefined) {
    // The warm-up compiles the paths an attack takes, so the baseline is the service's working size.
    for (let i = 0; i < 300; i++) await getInfo(main.port, token);
    const session = http2.connect(main.baseUrl);
    for (let i = 0; i < 300; i++) await h2Info(session, token);
    await new Promise<void>((resolve) => session.close(resolve));
  }
  const pid = main.child.pid!;
  return {
    ...main,
    pid,
    dir,
    baseline: resourcesOf(pid),
    token,
    async close() {
      if (main.child.exitCode === null) await main.stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One `GET /info` on a connection of its own; resolves with the status and the milliseconds it took. */
export function getInfo(port: number, token: string, agent: http.Agent | false = false): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/info", agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.once("end", () => resolve({ status: res.statusCode!, ms: performance.now() - started }));
    });
    req.once("error", reject);
  });
}

function h2Info(session: http2.ClientHttp2Session, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": "/info", authorization: `Bearer ${token}` });
    stream.once("response", (headers) => resolve(Number(headers[":status"])));
    stream.once("error", reject);
    stream.resume();
    stream.end();
  });
}

/** The value at quantile `q` (0..1) of `values`. */
export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
}

/** One sample of the service's /metrics (0 when absent), read on a connection of its own. */
export function metricValue(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/metrics", agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.once("end", () => resolve(sampleValue(parsePrometheus(text), name, labels)));
    });
    req.once("error", reject);
  });
}
