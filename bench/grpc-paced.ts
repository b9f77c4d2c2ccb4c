import * as http2 from "node:http2";
import * as net from "node:net";
import type { LoadResult } from "./load.js";

/** An empty InfoRequest, length-prefixed as gRPC frames a message. */
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

/**
 * gRPC Info at a fixed rate, open loop (calls go out on schedule whether or
 * not earlier ones have answered, so percentiles are not flattered by
 * coordinated omission), over a few h2c sessions with Node's own HTTP/2
 * client. h2load has no request-rate option, and a pool of grpc-js clients
 * in one process could not keep 10k calls/s going on this machine: the
 * generator, not the server, set the latency.
 */
export async function pacedGrpcLoad(
  port: number,
  tokens: string[],
  options: { seconds: number; ratePerSecond: number; sessions: number },
): Promise<LoadResult> {
  const sessions = Array.from({ length: options.sessions }, () =>
    http2.connect(`http://127.0.0.1:${port}`, {
      createConnection: () => net.connect({ port, host: "127.0.0.1", noDelay: true }),
    }),
  );
  await Promise.all(sessions.map((s) => new Promise((resolve) => s.once("connect", resolve))));
  const headers = tokens.map((token) => ({
    ":method": "POST",
    ":path": "/tokens.v1.TokenService/Info",
    "content-type": "application/grpc",
    te: "trailers",
    authorization: `Bearer ${token}`,
  }));
  const revokedIndex = tokens.length - 1; // the caller puts its revoked token last
  const latencies: number[] = [];
  let errors = 0;
  let unexpected = 0;
  let sent = 0;
  let answered = 0;
  const total = Math.round(options.ratePerSecond * options.seconds);
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const call = (n: number) => {
      const index = n % headers.length;
      const begin = performance.now();
      let status: string | undefined;
      const stream = sessions[n % sessions.length]!.request(headers[index]!);
      const take = (h: http2.IncomingHttpHeaders) => (status ??= h["grpc-status"] as string | undefined);
      stream.on("response", take);
      stream.on("trailers", take);
      stream.resume();
      const finish = () => {
        latencies.push(performance.now() - begin);
        if (status === undefined) errors++;
        else if (status !== (index === revokedIndex ? "16" : "0")) unexpected++;
        if (++answered === total) resolve();
      };
      stream.once("close", finish);
      stream.end(EMPTY_MESSAGE);
    };
    const tick = () => {
      const due = Math.min(total, Math.round(((performance.now() - started) / 1000) * options.ratePerSecond));
      for (; sent < due; sent++) call(sent);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsed = (performance.now() - started) / 1000;
  for (const session of sessions) session.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  return { requestsPerSecond: latencies.length / elapsed, p50Ms: at(0.5), p99Ms: at(0.99), errors, unexpected };
}
