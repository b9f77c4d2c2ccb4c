import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, connectJsonClient, grpcJsClient, grpcWebClient, restHttp1Client } from "./helpers/clients.js";
import { parsePrometheus, sampleValue } from "./helpers/prometheus.js";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

let service: TestService;
const logLines: string[] = [];

beforeAll(async () => {
  service = await startService({ LOG_LEVEL: "info", CORS_ORIGINS: "https://app.example.com" }, { logLines });
});
afterAll(() => service.close());

const scrape = async () => parsePrometheus(await (await fetch(`${service.baseUrl}/metrics`)).text());

describe("metrics", () => {
  it("counts requests by RPC, protocol and code, with latency and store histograms and revocation counters", async () => {
    const before = await scrape();
    const token = mint();
    const rest = restHttp1Client(service.baseUrl);
    const grpc = grpcJsClient(service.port);
    try {
      await rest.info(bearer(token));
      await connectJsonClient(service.baseUrl).info(bearer(token));
      await grpcWebClient(service.baseUrl).info(bearer(token));
      await grpc.info(bearer(token));
      await grpc.blacklist(bearer(token));
      await rest.info(bearer(token)); // revoked: unauthenticated
      await rest.unblacklist(bearer(token, { "x-admin-key": ADMIN_KEY }));
    } finally {
      grpc.close();
    }
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string>) => sampleValue(after, name, labels) - sampleValue(before, name, labels);

    const requests = "token_blacklist_requests_total";
    expect(delta(requests, { rpc: "Info", protocol: "rest", code: "ok" })).toBe(1);
    expect(delta(requests, { rpc: "Info", protocol: "connect", code: "ok" })).toBe(1);
    expect(delta(requests, { rpc: "Info", protocol: "grpc-web", code: "ok" })).toBe(1);
    expect(delta(requests, { rpc: "Info", protocol: "grpc", code: "ok" })).toBe(1);
    expect(delta(requests, { rpc: "Blacklist", protocol: "grpc", code: "ok" })).toBe(1);
    expect(delta(requests, { rpc: "Info", protocol: "rest", code: "unauthenticated" })).toBe(1);
    expect(delta(requests, { rpc: "Unblacklist", protocol: "rest", code: "ok" })).toBe(1);
    expect(delta("token_blacklist_request_duration_seconds_count", { rpc: "Info" })).toBe(5);
    expect(delta("token_blacklist_request_duration_seconds_bucket", { rpc: "Info", protocol: "rest", le: "+Inf" })).toBe(2);
    // Five Info checks, and Blacklist's and Unblacklist's looks at the other scopes.
    expect(delta("token_blacklist_store_duration_seconds_count", { operation: "check", outcome: "ok" })).toBe(7);
    expect(delta("token_blacklist_revocations_total", { change: "revoked", scope: "token" })).toBe(1);
    expect(delta("token_blacklist_revocations_total", { change: "restored", scope: "token" })).toBe(1);
    expect(sampleValue(after, "process_resident_memory_bytes")).toBeGreaterThan(0);
  });
});

describe("logs", () => {
  it("writes one JSON line per call with RPC, protocol, code, duration and fingerprint, and never the token or the admin key", async () => {
    const token = mint({ sub: "logged" });
    logLines.length = 0;
    const rest = restHttp1Client(service.baseUrl);
    await rest.info(bearer(token));
    await rest.unblacklist(bearer(token, { "x-admin-key": ADMIN_KEY }));
    await rest.info({ authorization: `Bearer ${token}x` });

    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const requests = entries.filter((e) => e.msg === "request");
    expect(requests).toHaveLength(3);
    expect(requests[0]).toMatchObject({ rpc: "Info", protocol: "rest", code: "ok", level: 30 });
    expect(requests[0]!.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(typeof requests[0]!.ms).toBe("number");
    expect(requests[1]).toMatchObject({ rpc: "Unblacklist", code: "ok", fingerprint: requests[0]!.fingerprint });
    expect(requests[2]).toMatchObject({ rpc: "Info", code: "unauthenticated", info: "Token signature is invalid" });
    expect(requests[2]!.fingerprint).toBeUndefined(); // not verified, so not identified

    const all = logLines.join("\n");
    const [, payload, signature] = token.split(".") as [string, string, string];
    for (const secret of [payload, signature, ADMIN_KEY]) expect(all).not.toContain(secret);
  });
});

describe("CORS", () => {
  const rpc = `/tokens.v1.TokenService/Info`;

  it("answers a preflight from an allowed origin with the methods and headers browsers need", async () => {
    const res = await fetch(service.baseUrl + rpc, {
      method: "OPTIONS",
      headers: {
        origin: "https://app.example.com",
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type,connect-protocol-version",
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Authorization/);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/Connect-Protocol-Version/);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/X-Grpc-Web/);
  });

  it("labels the real response for the allowed origin, exposing gRPC-Web's status headers", async () => {
    const res = await fetch(service.baseUrl + rpc, {
      method: "POST",
      headers: { origin: "https://app.example.com", "content-type": "application/json", ...bearer(mint()) },
      body: "{}",
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(res.headers.get("access-control-expose-headers")).toMatch(/Grpc-Status/);
  });

  it("gives other origins nothing, so the browser blocks them", async () => {
    const res = await fetch(service.baseUrl + rpc, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});
