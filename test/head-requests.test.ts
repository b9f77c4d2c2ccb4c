import { type IncomingHttpHeaders, request } from "node:http";
import { connect } from "node:http2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type TestService } from "./helpers/service.js";

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function http1(method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: service.port, method, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

function http2(method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const session = connect(service.baseUrl);
    session.on("error", reject);
    const stream = session.request({ ":method": method, ":path": path }, { endStream: true });
    let headers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => (headers = h));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("end", () => {
      session.close();
      resolve({ status: Number(headers[":status"]), headers, body: Buffer.concat(chunks) });
    });
  });
}

/**
 * Headers to compare between GET and HEAD: every name, and every value but those that differ between any two
 * responses (the date, a generated request id) and the length of a body that changes between two scrapes.
 */
const comparable = (headers: IncomingHttpHeaders, path: string) => {
  const { date: _date, ":status": _status, "x-request-id": _id, ...rest } = headers;
  if (path === "/metrics") delete rest["content-length"];
  return { names: Object.keys(headers).sort(), values: rest };
};

describe.each([
  ["HTTP/1.1", http1],
  ["HTTP/2", http2],
])("HEAD on the probes and /metrics over %s", (_name, send) => {
  it.each([
    ["/healthz", "application/json"],
    ["/readyz", "application/json"],
    ["/metrics", "text/plain; version=0.0.4; charset=utf-8"],
  ])("HEAD %s: the GET response's status and headers, no body", async (path, contentType) => {
    const get = await send("GET", path);
    const head = await send("HEAD", path);
    expect(get.status).toBe(200);
    expect(get.body.length).toBeGreaterThan(0);
    expect(head.status).toBe(get.status);
    expect(head.headers["content-type"]).toBe(contentType);
    expect(comparable(head.headers, path)).toEqual(comparable(get.headers, path));
    expect(head.body.length).toBe(0);
    if (send === http1) {
      // HTTP/1.1 says how long the GET body would be.
      const length = Number(head.headers["content-length"]);
      if (path === "/metrics") expect(length).toBeGreaterThan(1000);
      else expect(length).toBe(get.body.length);
    }
  });

  it("leaves other methods on them to the routes after (404)", async () => {
    expect((await send("DELETE", "/healthz")).status).toBe(404);
  });
});
