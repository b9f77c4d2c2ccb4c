import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { request, Agent } from "node:http";
import { createInterface } from "node:readline";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { TokenService } from "../gen/tokens/v1/token_service_pb.js";
import { createTokenChecker } from "../src/client/index.js";
import { RevocationSet } from "../src/feed/revocation-set.js";

const now = () => performance.timeOrigin + performance.now();
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

/** What the propagation benchmark measured, in milliseconds from the start of each revoke call. */
export interface Propagation {
  revocations: number;
  checkerP50Ms: number;
  checkerP99Ms: number;
  mirrorInstanceP50Ms: number;
  mirrorInstanceP99Ms: number;
  /** The revoke call itself (REST POST /blacklist to the writing instance), for scale. */
  revokeCallP50Ms: number;
}

/**
 * Revokes `count` tokens one at a time through `writerPort` (REST POST
 * /blacklist) and times, from the start of each call, until a checker in
 * another process (fed by `mirrorPort`'s WatchRevocations) refuses the token,
 * and until `mirrorPort` (REVOCATION_CACHE=mirror) answers its GET /info 401.
 */
export async function measurePropagation(options: {
  writerPort: number;
  mirrorPort: number;
  feedKey: string;
  secret: string;
  issuer: string;
  count: number;
  sign: (i: number) => string;
}): Promise<Propagation> {
  const probe = spawn(process.execPath, ["--import", "tsx", "bench/checker-probe.ts", `http://127.0.0.1:${options.mirrorPort}`], {
    env: { ...process.env, FEED_KEY: options.feedKey, JWT_SECRET: options.secret, JWT_ISSUER: options.issuer },
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: probe.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const line = await lines.next();
    if (line.done) throw new Error("the checker probe exited");
    return line.value;
  };
  if ((await nextLine()) !== "ready") throw new Error("the checker probe did not start");
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  const call = (port: number, method: string, path: string, token: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, method, path, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode!));
      });
      req.once("error", reject);
      req.end();
    });
  const checkerMs: number[] = [];
  const mirrorMs: number[] = [];
  const revokeMs: number[] = [];
  try {
    for (let i = 0; i < options.count; i++) {
      const token = options.sign(i);
      probe.stdin!.write(`${token}\n`);
      const watching = await nextLine();
      if (watching !== "watching") throw new Error(`checker probe: ${watching}`);
      if ((await call(options.mirrorPort, "GET", "/info", token)) !== 200) throw new Error("mirror instance refused a valid token");
      const started = now();
      const revoked = call(options.writerPort, "POST", "/blacklist", token).then((status) => {
        if (status !== 200) throw new Error(`revoke answered ${status}`);
        revokeMs.push(now() - started);
      });
      const mirrored = (async () => {
        while ((await call(options.mirrorPort, "GET", "/info", token)) === 200);
        mirrorMs.push(now() - started);
      })();
      const refusedLine = await nextLine();
      checkerMs.push(Number(refusedLine.split(" ")[1]) - started);
      await Promise.all([revoked, mirrored]);
    }
  } finally {
    probe.stdin!.end();
    probe.kill();
    agent.destroy();
  }
  return {
    revocations: options.count,
    checkerP50Ms: quantile(checkerMs, 0.5),
    checkerP99Ms: quantile(checkerMs, 0.99),
    mirrorInstanceP50Ms: quantile(mirrorMs, 0.5),
    mirrorInstanceP99Ms: quantile(mirrorMs, 0.99),
    revokeCallP50Ms: quantile(revokeMs, 0.5),
  };
}

/** In-process `check` against calling Info over the network, from the same process. */
export interface CheckerSpeed {
  validMeanMicros: number;
  validP99Micros: number;
  revokedMeanMicros: number;
  revokedP99Micros: number;
  checksPerSecond: number;
  /** Info over Connect (HTTP/2, 32 calls in flight) from this process, to the same instance. */
  infoCallsPerSecond: number;
  ratio: number;
}

export async function measureCheckerSpeed(options: {
  port: number;
  feedKey: string;
  secret: string;
  issuer: string;
  valid: string;
  revoked: string;
  seconds: number;
}): Promise<CheckerSpeed> {
  const baseUrl = `http://127.0.0.1:${options.port}`;
  const checker = await createTokenChecker({ baseUrl, feedKey: options.feedKey, jwt: { secret: options.secret, issuer: options.issuer } });
  await checker.ready();
  const time = async (token: string, expectValid: boolean) => {
    const micros: number[] = [];
    for (let i = 0; i < 2000; i++) await checker.check(token); // warm-up
    const until = performance.now() + (options.seconds * 1000) / 3;
    while (performance.now() < until) {
      const started = performance.now();
      const verdict = await checker.check(token);
      micros.push((performance.now() - started) * 1000);
      if (verdict.valid !== expectValid) throw new Error(`checker: unexpected verdict ${JSON.stringify(verdict)}`);
    }
    return micros;
  };
  const validMicros = await time(options.valid, true);
  const revokedMicros = await time(options.revoked, false);
  // Calls per second, timed in a loop without a clock read per call.
  const loopCalls = 50_000;
  const loopStarted = performance.now();
  for (let i = 0; i < loopCalls; i++) await checker.check(options.valid);
  const checksPerSecond = loopCalls / ((performance.now() - loopStarted) / 1000);
  await checker.close();

  const client = createClient(TokenService, createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: true }));
  const headers = { authorization: `Bearer ${options.valid}` };
  let calls = 0;
  const run = async (until: number) => {
    while (performance.now() < until) {
      await client.info({}, { headers });
      calls++;
    }
  };
  await Promise.all(Array.from({ length: 32 }, () => run(performance.now() + 1000))); // warm-up
  calls = 0;
  const infoStarted = performance.now();
  await Promise.all(Array.from({ length: 32 }, () => run(infoStarted + (options.seconds * 1000) / 3)));
  const infoCallsPerSecond = calls / ((performance.now() - infoStarted) / 1000);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    validMeanMicros: mean(validMicros),
    validP99Micros: quantile(validMicros, 0.99),
    revokedMeanMicros: mean(revokedMicros),
    revokedP99Micros: quantile(revokedMicros, 0.99),
    checksPerSecond,
    infoCallsPerSecond,
    ratio: checksPerSecond / infoCallsPerSecond,
  };
}

/**
 * Heap bytes per entry of the mirror's set at `count` token entries (43-char
 * fingerprints with an expiry, as the feed delivers them), measured in a
 * child with --expose-gc.
 */
export async function mirrorBytesPerEntry(count: number): Promise<number> {
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", "bench/feed.ts", "--mirror-memory", String(count)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d.toString()));
    child.once("exit", (code) => (code === 0 ? resolve(out) : reject(new Error(`mirror memory child exited ${code}`))));
  });
  return Number(output.trim());
}

if (process.argv[2] === "--mirror-memory") {
  const count = Number(process.argv[3]);
  const gc = (globalThis as { gc?: () => void }).gc!;
  const set = new RevocationSet();
  const expiry = Date.now() + 3_600_000;
  gc();
  const before = process.memoryUsage().heapUsed;
  // Keys as the feed's decoder makes them: fresh flat strings, held by the set alone.
  for (let i = 0; i < count; i++) {
    const key = createHash("sha256").update(`entry-${i}`).digest("base64url");
    set.apply(key, { issuedBeforeMs: undefined, expiresAtMs: expiry + (i % 3600) * 1000 });
  }
  gc();
  const after = process.memoryUsage().heapUsed;
  if (set.size !== count) throw new Error("entries lost");
  console.log(String((after - before) / count));
}
