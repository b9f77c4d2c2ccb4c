import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, grpcJsClient } from "./helpers/clients.js";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

let dir: string;
let cert: Buffer;
let service: TestService;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "tb-tls-"));
  // A self-signed certificate for localhost, made for this test.
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  cert = readFileSync(join(dir, "cert.pem"));
  service = await startService({ TLS_CERT_FILE: join(dir, "cert.pem"), TLS_KEY_FILE: join(dir, "key.pem") });
});
afterAll(async () => {
  await service.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("TLS on the one port", () => {
  it("serves REST over HTTP/1.1 when the client offers only http/1.1 (ALPN)", async () => {
    const token = mint();
    const { status, protocol, body } = await new Promise<{ status: number; protocol: string; body: string }>((resolve, reject) => {
      const options: https.RequestOptions & { ALPNProtocols: string[] } = {
        host: "127.0.0.1",
        port: service.port,
        path: "/info",
        ca: cert,
        servername: "localhost",
        ALPNProtocols: ["http/1.1"],
        headers: bearer(token),
      };
      const req = https.request(options, (res) => {
        const protocol = (res.socket as TLSSocket).alpnProtocol || "";
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, protocol, body }));
      });
      req.on("error", reject);
      req.end();
    });
    expect(protocol).toBe("http/1.1");
    expect(status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ success: true, token });
  });

  it("serves REST over HTTP/2 when the client offers h2", async () => {
    const session = http2.connect(`https://localhost:${service.port}`, { ca: cert });
    try {
      const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ":path": "/info", ...bearer(mint()) });
        let status = 0;
        let body = "";
        stream.on("response", (h) => (status = Number(h[":status"])));
        stream.on("data", (d: Buffer) => (body += d.toString()));
        stream.on("end", () => resolve({ status, body }));
        stream.on("error", reject);
      });
      expect((session.socket as TLSSocket).alpnProtocol).toBe("h2");
      expect(status).toBe(200);
      expect(JSON.parse(body)).toMatchObject({ success: true });
    } finally {
      session.close();
    }
  });

  it("serves gRPC over TLS to grpc-js", async () => {
    const insecure = grpcJsClient(service.port); // no TLS: must not work
    const client = grpcJsClient(service.port, grpc.credentials.createSsl(cert), { "grpc.ssl_target_name_override": "localhost" });
    try {
      expect((await client.info(bearer(mint()))).ok).toBe(true);
      expect((await insecure.info(bearer(mint()))).ok).toBe(false);
    } finally {
      client.close();
      insecure.close();
    }
  });
});
