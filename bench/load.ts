import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** What one load run measured. */
export interface LoadResult {
  /** Answered requests (200, and the 401 a revoked token gets) per second. */
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Answers that were neither 200 nor the 401 a revoked token gets. */
  unexpected: number;
}

/** One HTTP/1.1 request to cycle through. */
export interface HttpRequestSpec {
  method: "GET" | "POST";
  /** `{n}` in it becomes a number no other request of the run has (a fresh key for every write). */
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Where load goes, and whether to trust a CA for TLS. */
export interface LoadTarget {
  port: number;
  /** h2load over TLS: the service's self-signed certificate is not checked (h2load does not verify). */
  tls?: boolean;
}

const luaString = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/**
 * Closed-loop HTTP/1.1 load with wrk (C; one thread on its own core): each
 * keep-alive connection sends the next request as soon as the last answer
 * came, cycling through `requests`. A Lua script counts answers by status,
 * so a 500 cannot pass for a revoked token's 401.
 */
export async function httpLoad(
  port: number,
  requests: HttpRequestSpec[],
  options: { seconds: number; connections: number },
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-wrk-"));
  try {
    const script = join(dir, "cycle.lua");
    // A request is a string made once, or, with {n} in its path, a function that makes a fresh one.
    const formatted = requests.map((r) => {
      const rest = `{${Object.entries(r.headers)
        .map(([k, v]) => `[${luaString(k)}] = ${luaString(v)}`)
        .join(", ")}}, ${r.body === undefined ? "nil" : luaString(r.body)}`;
      if (!r.path.includes("{n}")) return `wrk.format(${luaString(r.method)}, ${luaString(r.path)}, ${rest})`;
      const [before, after] = r.path.split("{n}") as [string, string];
      return `function() n = n + 1; return wrk.format(${luaString(r.method)}, ${luaString(before)} .. seed .. "-" .. n .. ${luaString(after)}, ${rest}) end`;
    });
    writeFileSync(
      script,
      `
local requests = {}
local i = 0
local n = 0
-- Unique across threads and runs: the thread's address and the time.
local seed = tostring(os.time()) .. "-" .. tostring(math.random(1000000000))
-- Globals, not locals: done() reads each thread's counts with thread:get().
ok, denied, other = 0, 0, 0
function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 100000)
  seed = tostring(os.time()) .. "-" .. tostring(math.random(1000000000))
  ${formatted.map((f, n) => `requests[${n + 1}] = ${f}`).join("\n  ")}
end
function request()
  i = i % #requests + 1
  local r = requests[i]
  if type(r) == "function" then return r() end
  return r
end
function response(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 401 then denied = denied + 1 else other = other + 1 end
end
local threads = {}
function setup(thread) table.insert(threads, thread) end
function done(summary, latency, _)
  local o, d, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); d = d + t:get("denied"); x = x + t:get("other") end
  io.write(string.format("RESULT %d %d %d %d %d %d %d\\n", o, d, x, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50), latency:percentile(99)))
end
`,
    );
    const { stdout } = await run(
      "wrk",
      ["-t1", `-c${options.connections}`, `-d${options.seconds}s`, "-s", script, `http://127.0.0.1:${port}/`],
      {
        maxBuffer: 1 << 20,
      },
    );
    const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(stdout);
    if (m === null) throw new Error(`wrk printed no result: ${stdout}`);
    const [ok, denied, other, errors, durationUs, p50Us, p99Us] = m.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return { requestsPerSecond: (ok + denied) / (durationUs / 1e6), p50Ms: p50Us / 1000, p99Ms: p99Us / 1000, errors, unexpected: other };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** h2load's arguments for one token's share of a load. */
function h2loadArgs(
  target: LoadTarget,
  token: string,
  options: {
    seconds: number;
    connections: number;
    streams: number;
    h1?: HttpRequestSpec;
    rps?: number;
    logFile?: string;
    bodyFile?: string;
    /** The gRPC method's path; TokenService/Info by default. */
    grpcPath?: string;
  },
): string[] {
  const args = ["-D", String(options.seconds), "-c", String(options.connections), "-m", String(options.streams), "-t", "1"];
  if (options.rps !== undefined) args.push(`--rps=${options.rps.toFixed(3)}`);
  if (options.logFile !== undefined) args.push(`--log-file=${options.logFile}`);
  const scheme = target.tls ? "https" : "http";
  if (options.h1 !== undefined) {
    args.push("--h1");
    for (const [k, v] of Object.entries(options.h1.headers)) if (k !== "authorization") args.push("-H", `${k}: ${v}`);
    args.push("-H", `authorization: Bearer ${token}`);
    if (options.bodyFile !== undefined) args.push("-d", options.bodyFile);
    return [...args, `${scheme}://127.0.0.1:${target.port}${options.h1.path}`];
  }
  args.push("-H", `authorization: Bearer ${token}`, "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", options.bodyFile!);
  return [...args, `${scheme}://127.0.0.1:${target.port}${options.grpcPath ?? "/tokens.v1.TokenService/Info"}`];
}

/** A gRPC unary method to load other than Info: its path, and the request message each token sends (binary protobuf). */
export interface GrpcMethod {
  path: string;
  message(token: string): Uint8Array;
}

/**
 * Closed-loop gRPC Info (or `method`) with h2load (nghttp2-client), over h2c or TLS:
 * `connections` connections with `streams` concurrent streams each, one
 * h2load per token, run side by side so the mix holds valid and revoked
 * tokens. h2load reports no percentiles: p50 holds the mean time per request.
 */
export async function grpcLoad(
  target: LoadTarget,
  tokens: string[],
  options: { seconds: number; connections: number; streams: number; method?: GrpcMethod },
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-h2load-"));
  try {
    const each = Math.max(1, Math.floor(options.connections / tokens.length));
    const outputs = await Promise.all(
      tokens.map((token, i) => {
        // Length-prefixed: an empty InfoRequest, or the method's message for this token.
        const message = options.method?.message(token) ?? new Uint8Array();
        const prefix = Buffer.alloc(5);
        prefix.writeUInt32BE(message.length, 1);
        const bodyFile = join(dir, `request-${i}.grpc`);
        writeFileSync(bodyFile, Buffer.concat([prefix, message]));
        const args = h2loadArgs(target, token, { ...options, connections: each, bodyFile, grpcPath: options.method?.path });
        return run("h2load", args, { maxBuffer: 1 << 20 });
      }),
    );
    let rps = 0;
    let errors = 0;
    let meanMs = 0;
    for (const { stdout } of outputs) {
      rps += Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout)?.[1] ?? 0);
      errors += Number(/(\d+) errored/.exec(stdout)?.[1] ?? 0) + Number(/(\d+) failed/.exec(stdout)?.[1] ?? 0);
      const mean = /time for request:\s+\S+\s+\S+\s+(\S+)/.exec(stdout)?.[1] ?? "0";
      meanMs = Math.max(meanMs, toMs(mean));
    }
    return { requestsPerSecond: rps, p50Ms: meanMs, p99Ms: Number.NaN, errors, unexpected: 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value);
  if (match === null) return Number.NaN;
  const n = Number(match[1]);
  return match[2] === "us" ? n / 1000 : match[2] === "s" ? n * 1000 : n;
}

/**
 * Paced (open-loop) load with h2load's `--rps`: gRPC Info, or an HTTP/1.1
 * request (`h1`). A C generator, so the latency tail is the server's and not
 * a Node generator's GC. One h2load per token, `ratePerSecond` in all;
 * per-request times come from h2load's `--log-file`, for real percentiles.
 */
export async function pacedLoad(
  target: LoadTarget,
  tokens: string[],
  options: { seconds: number; ratePerSecond: number; connections: number; h1?: HttpRequestSpec },
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-paced-"));
  try {
    const bodyFile = join(dir, "body");
    writeFileSync(bodyFile, options.h1 === undefined ? Buffer.from([0, 0, 0, 0, 0]) : (options.h1.body ?? ""));
    const perClient = options.ratePerSecond / (tokens.length * options.connections);
    const logs = tokens.map((_, i) => join(dir, `requests-${i}.tsv`));
    await Promise.all(
      tokens.map((token, i) =>
        run(
          "h2load",
          h2loadArgs(target, token, {
            seconds: options.seconds,
            connections: options.connections,
            streams: options.h1 === undefined ? 16 : 1,
            rps: perClient,
            logFile: logs[i],
            h1: options.h1,
            bodyFile: options.h1 === undefined || options.h1.body !== undefined ? bodyFile : undefined,
          }),
          { maxBuffer: 1 << 20 },
        ),
      ),
    );
    const micros: number[] = [];
    let unexpected = 0;
    for (const log of logs) {
      for (const line of readFileSync(log, "utf8").split("\n")) {
        const [, status, duration] = line.split("\t");
        if (duration === undefined) continue;
        // gRPC answers 200 (the status is in the trailers); HTTP answers 200, or 401 for a revoked token.
        if (status !== "200" && !(options.h1 !== undefined && status === "401")) unexpected++;
        micros.push(Number(duration));
      }
    }
    micros.sort((a, b) => a - b);
    const at = (q: number) =>
      micros.length === 0 ? Number.NaN : micros[Math.min(micros.length - 1, Math.floor(q * micros.length))]! / 1000;
    return { requestsPerSecond: micros.length / options.seconds, p50Ms: at(0.5), p99Ms: at(0.99), errors: 0, unexpected };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
