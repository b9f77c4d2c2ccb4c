import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Health, HealthCheckResponse_ServingStatus as Status } from "../gen/health/v1/health_pb.js";
import { PERSISTENT, startRedis, type TestRedis } from "./helpers/redis-server.js";
import { startService, type TestService } from "./helpers/service.js";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";
import { eventually } from "./helpers/eventually.js";

let redis: TestRedis;
let service: TestService;

beforeAll(async () => {
  redis = await startRedis(PERSISTENT); // restarted after an outage, it must come back with its data
  service = await startService({ REDIS_URL: redis.url, STORE_TIMEOUT_MS: "300" });
});
afterAll(async () => {
  await service.close();
  await redis.stop();
});

/** grpc.health.v1 through @grpc/grpc-js, loading the proto that grpc-health-check ships, as other stacks do. */
function grpcHealth(port: number) {
  const definition = protoLoader.loadSync("health/v1/health.proto", {
    includeDirs: [fileURLToPath(new URL("../node_modules/grpc-health-check/proto", import.meta.url))],
    enums: String,
    defaults: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  const client = new pkg.grpc.health.v1.Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const check = (service: string) =>
    new Promise<{ status?: string; code?: number }>((resolve) =>
      (client.Check as unknown as (r: object, cb: (e: grpc.ServiceError | null, r: { status: string }) => void) => void).call(
        client,
        { service },
        (err, res) => resolve(err ? { code: err.code } : { status: res.status }),
      ),
    );
  return { check, close: () => client.close() };
}

const probe = async (path: string) => {
  const res = await fetch(`${service.baseUrl}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

describe("health", () => {
  it("answers Check overall and per service over gRPC, and NOT_FOUND for an unknown service", async () => {
    const health = grpcHealth(service.port);
    try {
      expect(await health.check("")).toEqual({ status: "SERVING" });
      expect(await health.check("tokens.v1.TokenService")).toEqual({ status: "SERVING" });
      expect(await health.check("no.such.Service")).toEqual({ code: grpc.status.NOT_FOUND });
    } finally {
      health.close();
    }
  });

  it("serves /healthz and /readyz over HTTP", async () => {
    expect(await probe("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
    expect(await probe("/readyz")).toEqual({ status: 200, body: { status: "ready" } });
  });

  it("turns NOT_SERVING and 503 while Redis is down, stays live, and recovers by itself; Watch follows", async () => {
    const health = grpcHealth(service.port);
    const watcher = createClient(Health, createGrpcTransport({ baseUrl: service.baseUrl }));
    const abort = new AbortController();
    const seen: Status[] = [];
    const watching = (async () => {
      try {
        for await (const update of watcher.watch({ service: "tokens.v1.TokenService" }, { signal: abort.signal })) {
          seen.push(update.status);
        }
      } catch {
        // aborted at the end of the test
      }
    })();
    try {
      expect(await eventually(async () => seen.includes(Status.SERVING))).toBe(true);
      await redis.kill();
      expect(await eventually(async () => (await probe("/readyz")).status === 503)).toBe(true);
      expect((await probe("/readyz")).body).toMatchObject({ status: "unavailable" });
      expect(await probe("/healthz")).toEqual({ status: 200, body: { status: "ok" } });
      expect(await health.check("")).toEqual({ status: "NOT_SERVING" });
      expect(await eventually(async () => seen.includes(Status.NOT_SERVING))).toBe(true);

      await redis.restart();
      expect(await eventually(async () => (await probe("/readyz")).status === 200)).toBe(true);
      expect(await health.check("tokens.v1.TokenService")).toEqual({ status: "SERVING" });
      expect(await eventually(async () => seen.at(-1) === Status.SERVING)).toBe(true);
      expect(seen).toEqual([Status.SERVING, Status.NOT_SERVING, Status.SERVING]);
    } finally {
      abort.abort();
      await watching;
      health.close();
    }
  });
});
