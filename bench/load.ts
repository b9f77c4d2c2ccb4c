import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import autocannon from "autocannon";

const run = promisify(execFile);

/** What one load run measured. */
export interface LoadResult {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** Answers that were neither 200 nor the expected 401 for revoked tokens. */
  unexpected: number;
}

/** An HTTP/1.1 request to cycle through: keep-alive connections, each token in turn. */
export interface HttpRequestSpec {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
}

/** Drives HTTP/1.1 keep-alive load with autocannon; `overallRate` caps the request rate. */
export async function httpLoad(
  port: number,
  requests: HttpRequestSpec[],
  options: { seconds: number; connections: number; overallRate?: number },
): Promise<LoadResult> {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: options.connections,
    duration: options.seconds,
    overallRate: options.overallRate,
    requests: requests.map((r) => ({ method: r.method, path: r.path, headers: r.headers, body: r.body })),
  });
  const ok = result["2xx"];
  const unauthenticated = result["4xx"]; // revoked tokens answer 401
  return {
    requestsPerSecond: (ok + unauthenticated) / options.seconds,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    errors: result.errors + result.timeouts,
    unexpected: result.non2xx - unauthenticated,
  };
}

/**
 * Drives gRPC Info over h2c with h2load (nghttp2-client): `connections`
 * connections with `streams` concurrent streams each, one h2load per token
 * header, run side by side so the mix holds valid and revoked tokens.
 */
export async function grpcLoad(
  port: number,
  tokens: string[],
  options: { seconds: number; connections: number; streams: number },
): Promise<LoadResult> {
  const body = join(tmpdir(), "tb-bench-info.grpc");
  writeFileSync(body, Buffer.from([0, 0, 0, 0, 0])); // an empty InfoRequest, length-prefixed
  const each = Math.max(1, Math.floor(options.connections / tokens.length));
  const outputs = await Promise.all(
    tokens.map((token) =>
      run(
        "h2load",
        [
          "-D",
          String(options.seconds),
          "-c",
          String(each),
          "-m",
          String(options.streams),
          "-t",
          "1",
          "-H",
          `authorization: Bearer ${token}`,
          "-H",
          "content-type: application/grpc",
          "-H",
          "te: trailers",
          "-d",
          body,
          `http://127.0.0.1:${port}/tokens.v1.TokenService/Info`,
        ],
        { maxBuffer: 1 << 20 },
      ),
    ),
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
  // h2load reports no percentiles; p50 holds the mean time per request here.
  return { requestsPerSecond: rps, p50Ms: meanMs, p99Ms: Number.NaN, errors, unexpected: 0 };
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s)$/.exec(value);
  if (match === null) return Number.NaN;
  const n = Number(match[1]);
  return match[2] === "us" ? n / 1000 : match[2] === "s" ? n * 1000 : n;
}

/**
 * Paced (open-loop) gRPC Info with h2load's `--rps`: a C generator, so the
 * latency tail is the server's and not a Node generator's GC. One h2load per
 * token, `connections` each, `ratePerSecond` in all; per-request times come
 * from h2load's `--log-file`, for real percentiles.
 */
export async function pacedGrpcH2load(
  port: number,
  tokens: string[],
  options: { seconds: number; ratePerSecond: number; connections: number },
): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), "tb-bench-h2load-"));
  try {
    const body = join(dir, "info.grpc");
    writeFileSync(body, Buffer.from([0, 0, 0, 0, 0])); // an empty InfoRequest, length-prefixed
    const perClient = options.ratePerSecond / (tokens.length * options.connections);
    const logs = tokens.map((_, i) => join(dir, `requests-${i}.tsv`));
    await Promise.all(
      tokens.map((token, i) =>
        run(
          "h2load",
          [
            "-D",
            String(options.seconds),
            "-c",
            String(options.connections),
            "-m",
            "16",
            "-t",
            "1",
            `--rps=${perClient.toFixed(3)}`,
            `--log-file=${logs[i]}`,
            "-H",
            `authorization: Bearer ${token}`,
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "-d",
            body,
            `http://127.0.0.1:${port}/tokens.v1.TokenService/Info`,
          ],
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
        if (status !== "200") unexpected++; // gRPC answers 200; the status is in the trailers
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
