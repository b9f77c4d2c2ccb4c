import * as http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, grpcJsClient } from "./helpers/clients.js";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

/** Sends one raw gRPC request body and returns the status the server ended with. */
function rawGrpc(body: Buffer, headers: Record<string, string> = {}) {
  return new Promise<{ status: string | undefined; message: string | undefined; data: number }>((resolve, reject) => {
    const session = http2.connect(service.baseUrl);
    const stream = session.request({
      ":method": "POST",
      ":path": "/tokens.v1.TokenService/Info",
      "content-type": "application/grpc",
      te: "trailers",
      ...bearer(mint()),
      ...headers,
    });
    let status: string | undefined;
    let message: string | undefined;
    let data = 0;
    const take = (h: http2.IncomingHttpHeaders) => {
      status ??= h["grpc-status"] as string | undefined;
      message ??= h["grpc-message"] as string | undefined;
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", (d: Buffer) => (data += d.length));
    stream.on("end", () => {
      session.close();
      resolve({ status, message: message === undefined ? undefined : decodeURIComponent(message), data });
    });
    stream.on("error", reject);
    stream.end(body);
  });
}

const envelope = (payload: Buffer, flag = 0) => {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

describe("the unary gRPC fast path", () => {
  it("answers a well-formed call with a message and grpc-status 0", async () => {
    const result = await rawGrpc(envelope(Buffer.alloc(0)));
    expect(result.status).toBe("0");
    expect(result.data).toBeGreaterThan(5);
  });

  it.each([
    ["an empty body", Buffer.alloc(0), "3", /missing request message/],
    ["a truncated prefix", Buffer.from([0, 0, 0]), "3", /missing request message/],
    ["a length longer than the body", Buffer.from([0, 0, 0, 0, 9, 1]), "3", /exactly one message/],
    ["two messages", Buffer.concat([envelope(Buffer.alloc(0)), envelope(Buffer.alloc(0))]), "3", /exactly one message/],
    ["a compressed flag without grpc-encoding", envelope(Buffer.alloc(0), 1), "13", /compressed/],
    ["bytes that are not the message", envelope(Buffer.from([0xff, 0xff, 0xff])), "3", /cannot decode/],
    ["a message over the body limit", envelope(Buffer.alloc(70_000)), "8", /larger than 65536 bytes/],
  ])("refuses %s with a status, not a crash", async (_name, body, status, message) => {
    const result = await rawGrpc(body);
    expect(result.status).toBe(status);
    expect(result.message).toMatch(message);
  });

  it("leaves compressed calls to Connect, which still answers them", async () => {
    const gzip = grpcJsClient(service.port, grpc.credentials.createInsecure(), { "grpc.default_compression_algorithm": 2 });
    try {
      expect((await gzip.info(bearer(mint()))).ok).toBe(true);
      expect(await gzip.info({})).toMatchObject({ ok: false, code: "unauthenticated" });
    } finally {
      gzip.close();
    }
  });

  it("still serves afterwards", async () => {
    const client = grpcJsClient(service.port);
    try {
      expect((await client.info(bearer(mint()))).ok).toBe(true);
    } finally {
      client.close();
    }
  });
});
