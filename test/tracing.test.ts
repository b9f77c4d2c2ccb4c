import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, type CallHeaders, connectJsonClient, grpcJsClient, grpcWebClient } from "./helpers/clients.js";
import { eventually } from "./helpers/eventually.js";
import { type MainProcess, runMainToExit, startMain } from "./helpers/main-process.js";
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from "./helpers/otlp-receiver.js";
import { ADMIN_KEY } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

/** Preloads a hook that prints `otel-import <specifier>` for every OpenTelemetry module the process resolves. */
const REPORT_OTEL_IMPORTS = `--import=${new URL("./helpers/report-otel-imports.mjs", import.meta.url).href}`;

/** The OpenTelemetry modules a process resolved, from the hook's lines. */
const otelImports = (output: string) => new Set([...output.matchAll(/^otel-import (\S+)$/gm)].map((m) => m[1]!));

const SERVER = 2;
const CLIENT_OR_INTERNAL = [1, 3];

let receiver: OtlpReceiver;
let service: MainProcess;
let dir: string;
/** Every token sent to the traced service: none may appear in what it exported. */
const tokensSent: string[] = [];

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  dir = mkdtempSync(join(tmpdir(), "tb-tracing-"));
  service = await startMain({
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: "20",
    OTEL_SERVICE_NAME: "token-blacklist-under-test",
    SQLITE_PATH: join(dir, "tokens.db"),
    ADMIN_KEY,
    NODE_OPTIONS: REPORT_OTEL_IMPORTS,
  });
});

afterAll(async () => {
  await service?.stop();
  await receiver?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A caller's span: the trace and span ids its `traceparent` names. */
interface Caller {
  traceId: string;
  spanId: string;
  headers: CallHeaders;
}

function caller(requestId?: string): Caller {
  const traceId = randomBytes(16).toString("hex");
  const spanId = randomBytes(8).toString("hex");
  return {
    traceId,
    spanId,
    headers: {
      traceparent: `00-${traceId}-${spanId}-01`,
      tracestate: "caller=7",
      ...(requestId === undefined ? {} : { "x-request-id": requestId }),
    },
  };
}

/** A token the traced service is sent (and must never export). */
function token(claims: Record<string, unknown> = {}): string {
  const t = mint(claims);
  tokensSent.push(t);
  return t;
}

const fingerprintOf = (t: string) =>
  createHash("sha256")
    .update(t.slice(0, t.lastIndexOf(".")))
    .digest("base64url");

/** The spans of one trace, once its server span and `children` more have arrived (polled, with a deadline). */
async function traceOf(traceId: string, children: number): Promise<{ server: ReceivedSpan; children: ReceivedSpan[] }> {
  const spans = () => receiver.spans.filter((s) => s.traceId === traceId);
  const complete = () => spans().some((s) => s.kind === SERVER) && spans().length >= 1 + children;
  expect(await eventually(async () => complete(), 10_000)).toBe(true);
  const server = spans().find((s) => s.kind === SERVER)!;
  return { server, children: spans().filter((s) => s !== server) };
}

/** The caller's trace continued: one server span, child of the caller's span, parent of the verification and the store round trips. */
function expectContinued(trace: { server: ReceivedSpan; children: ReceivedSpan[] }, from: Caller, childNames: string[]): void {
  const { server, children } = trace;
  expect(server.parentSpanId).toBe(from.spanId);
  expect(server.traceState).toBe("caller=7");
  expect(server.resource["service.name"]).toBe("token-blacklist-under-test");
  expect(children.map((c) => c.name).sort()).toEqual([...childNames].sort());
  for (const child of children) {
    expect(child.parentSpanId).toBe(server.spanId);
    expect(CLIENT_OR_INTERNAL).toContain(child.kind);
  }
}

describe("a call continues the caller's W3C trace context, on every protocol", () => {
  it("REST: a SERVER span named after the RPC, with protocol, code, fingerprint and request id; verification and store spans below it", async () => {
    const t = token();
    const from = caller("trace-rest-1");
    const res = await fetch(`${service.baseUrl}/info`, { headers: bearer(t, from.headers) });
    expect(res.status).toBe(200);
    const trace = await traceOf(from.traceId, 2);
    expectContinued(trace, from, ["token.verify", "store.check"]);
    expect(trace.server.name).toBe("tokens.v1.TokenService/Info");
    expect(trace.server.attributes).toEqual({
      "rpc.system": "connect_rpc",
      "rpc.service": "tokens.v1.TokenService",
      "rpc.method": "Info",
      "token_blacklist.protocol": "rest", // no rpc.grpc.status_code: OpenTelemetry defines it for gRPC only
      "token_blacklist.token.fingerprint": fingerprintOf(t),
      "token_blacklist.request_id": "trace-rest-1",
    });
    expect(trace.server.status.code).toBe(0);
    const store = trace.children.find((c) => c.name === "store.check")!;
    expect(store.attributes).toEqual({ "db.system.name": "sqlite", "db.operation.name": "check" });
  });

  it("Connect (its fast path): the same trace, protocol connect", async () => {
    const t = token();
    const from = caller();
    const outcome = await connectJsonClient(service.baseUrl).info(bearer(t, from.headers));
    expect(outcome.ok).toBe(true);
    const trace = await traceOf(from.traceId, 2);
    expectContinued(trace, from, ["token.verify", "store.check"]);
    expect(trace.server.attributes).toMatchObject({
      "rpc.system": "connect_rpc",
      "rpc.method": "Info",
      "token_blacklist.protocol": "connect",
      "token_blacklist.token.fingerprint": fingerprintOf(t),
    });
    // No x-request-id sent: the server's own is on the span.
    expect(trace.server.attributes["token_blacklist.request_id"]).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it("gRPC (grpc-js, traceparent in the metadata): the same trace, rpc.system grpc", async () => {
    const t = token();
    const from = caller("trace-grpc-1");
    const client = grpcJsClient(service.port);
    try {
      expect((await client.info(bearer(t, from.headers))).ok).toBe(true);
    } finally {
      client.close();
    }
    const trace = await traceOf(from.traceId, 2);
    expectContinued(trace, from, ["token.verify", "store.check"]);
    expect(trace.server.attributes).toMatchObject({
      "rpc.system": "grpc",
      "rpc.service": "tokens.v1.TokenService",
      "rpc.method": "Info",
      "rpc.grpc.status_code": 0,
      "token_blacklist.protocol": "grpc",
      "token_blacklist.token.fingerprint": fingerprintOf(t),
      "token_blacklist.request_id": "trace-grpc-1",
    });
  });

  it("gRPC-Web (Connect's own handlers): the same trace", async () => {
    const t = token();
    const from = caller();
    expect((await grpcWebClient(service.baseUrl).info(bearer(t, from.headers))).ok).toBe(true);
    const trace = await traceOf(from.traceId, 2);
    expectContinued(trace, from, ["token.verify", "store.check"]);
    expect(trace.server.attributes).toMatchObject({ "rpc.system": "grpc", "token_blacklist.protocol": "grpc-web" });
  });

  it("without a traceparent, a call starts a trace of its own", async () => {
    const res = await fetch(`${service.baseUrl}/info`, { headers: bearer(token(), { "x-request-id": "trace-root-1" }) });
    expect(res.status).toBe(200);
    const server = () => receiver.spans.find((s) => s.attributes["token_blacklist.request_id"] === "trace-root-1");
    expect(await eventually(async () => server() !== undefined)).toBe(true);
    const { traceId, spanId, parentSpanId } = server()!;
    expect(parentSpanId).toBe("");
    expect(
      await eventually(async () => receiver.spans.filter((s) => s.traceId === traceId && s.parentSpanId === spanId).length === 2),
    ).toBe(true);
  });
});

describe("outcomes", () => {
  it("a revocation is traced with its store round trips, and the revoked token's next check records UNAUTHENTICATED", async () => {
    const t = token();
    const client = grpcJsClient(service.port);
    const revoking = caller();
    const checking = caller();
    try {
      expect((await client.blacklist(bearer(t, revoking.headers))).ok).toBe(true);
      const refused = await client.info(bearer(t, checking.headers));
      expect(refused).toMatchObject({ ok: false, code: "unauthenticated" });
    } finally {
      client.close();
    }
    const revoke = await traceOf(revoking.traceId, 3);
    expectContinued(revoke, revoking, ["token.verify", "store.check", "store.revoke"]);
    expect(revoke.server.name).toBe("tokens.v1.TokenService/Blacklist");

    const check = await traceOf(checking.traceId, 2);
    expectContinued(check, checking, ["token.verify", "store.check"]);
    expect(check.server.attributes).toMatchObject({
      "rpc.grpc.status_code": 16,
      "rpc.connect_rpc.error_code": "unauthenticated",
      "token_blacklist.token.fingerprint": fingerprintOf(t),
    });
    // A refused token is the caller's problem, not a server error.
    expect(check.server.status.code).toBe(0);
  });

  it("a token that fails verification: the verification span is an error, the call records its code, and no fingerprint", async () => {
    const t = token();
    const from = caller();
    const res = await fetch(`${service.baseUrl}/info`, { headers: bearer(`${t}x`, from.headers) });
    expect(res.status).toBe(401);
    const trace = await traceOf(from.traceId, 1);
    expectContinued(trace, from, ["token.verify"]);
    expect(trace.children[0]!.status).toEqual({ code: 2, message: "Token signature is invalid" });
    expect(trace.server.attributes["rpc.connect_rpc.error_code"]).toBe("unauthenticated");
    expect(trace.server.attributes["rpc.grpc.status_code"]).toBeUndefined(); // REST
    expect(trace.server.attributes["token_blacklist.token.fingerprint"]).toBeUndefined();
  });

  it("a call whose caller did not sample its trace (flags 00) exports nothing, children included", async () => {
    const unsampled = caller();
    unsampled.headers.traceparent = unsampled.headers.traceparent!.replace(/-01$/, "-00");
    const sampled = caller();
    expect((await fetch(`${service.baseUrl}/info`, { headers: bearer(token(), unsampled.headers) })).status).toBe(200);
    expect((await fetch(`${service.baseUrl}/info`, { headers: bearer(token(), sampled.headers) })).status).toBe(200);
    // Spans are exported in the order they end: once the later call's are in, the earlier one's would be too.
    await traceOf(sampled.traceId, 2);
    expect(receiver.spans.filter((s) => s.traceId === unsampled.traceId)).toEqual([]);
  });

  it("exports no token, nor any part of one, in any request it sent", () => {
    expect(tokensSent.length).toBeGreaterThan(5);
    const exported = Buffer.concat(receiver.bodies).toString("latin1");
    for (const t of tokensSent) {
      const [, payload, signature] = t.split(".") as [string, string, string];
      for (const secret of [t, payload, signature]) expect(exported).not.toContain(secret);
    }
  });

  it("loaded the SDK (the control for the tests below)", () => {
    expect(otelImports(service.output())).toContain("@opentelemetry/sdk-trace");
  });
});

describe("shutdown", () => {
  it("exports the last spans on SIGTERM, long before their batch was due", async () => {
    const own = await startOtlpReceiver();
    const main = await startMain({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${own.endpoint}/v1/traces`,
      OTEL_BSP_SCHEDULE_DELAY: "600000",
      SQLITE_PATH: join(dir, "shutdown.db"),
    });
    try {
      const from = caller();
      expect((await fetch(`${main.baseUrl}/info`, { headers: bearer(mint(), from.headers) })).status).toBe(200);
      expect(own.spans).toHaveLength(0);
      expect(await main.stop()).toBe(0);
      // Exported before the process exited: no waiting here.
      expect(
        own.spans
          .filter((s) => s.traceId === from.traceId)
          .map((s) => s.name)
          .sort(),
      ).toEqual(["store.check", "token.verify", "tokens.v1.TokenService/Info"]);
    } finally {
      await own.close();
    }
  });
});

describe("off", () => {
  /** Starts the service with `env(receiver's endpoint)`, calls it, stops it, and checks nothing was loaded or sent. */
  const untraced = async (env: (endpoint: string) => Record<string, string>) => {
    const own = await startOtlpReceiver();
    const main = await startMain({ ...env(own.endpoint), SQLITE_PATH: join(dir, "off.db"), NODE_OPTIONS: REPORT_OTEL_IMPORTS });
    try {
      const from = caller();
      expect((await fetch(`${main.baseUrl}/info`, { headers: bearer(mint(), from.headers) })).status).toBe(200);
      expect(await main.stop()).toBe(0); // a traced service would have flushed by now
      // prom-client requires @opentelemetry/api (the no-op API, for its exemplars) whatever this service does: nothing else.
      expect([...otelImports(main.output())].filter((m) => m !== "@opentelemetry/api")).toEqual([]);
      expect(main.output()).toContain('"tracing":"off"');
      expect(own.bodies).toHaveLength(0);
    } finally {
      await own.close();
    }
  };

  it("without OTEL variables nothing is exported and the SDK is never loaded", async () => {
    await untraced(() => ({}));
  });

  it("OTEL_SDK_DISABLED=true and OTEL_TRACES_EXPORTER=none turn it off, though an endpoint is set", async () => {
    await untraced((endpoint) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SDK_DISABLED: "true" }));
    await untraced((endpoint) => ({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${endpoint}/v1/traces`, OTEL_TRACES_EXPORTER: "none" }));
  });

  it("a bad OTEL value stops start-up, naming the variable", async () => {
    const bad = await runMainToExit({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" });
    expect(bad.code).toBe(2);
    expect(bad.output).toContain("OTEL_EXPORTER_OTLP_ENDPOINT: expected an http(s) URL");
    const sampler = await runMainToExit({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9", OTEL_TRACES_SAMPLER: "sometimes" });
    expect(sampler.code).toBe(2);
    expect(sampler.output).toContain("OTEL_TRACES_SAMPLER: expected one of");
  });
});
