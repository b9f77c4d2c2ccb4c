import { execFile } from "node:child_process";
import * as net from "node:net";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSinglePortServer } from "../src/server/single-port.js";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

const run = promisify(execFile);

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

/** Sends raw bytes in the given pieces and collects everything until the server closes or `until` matches. */
function rawExchange(port: number, pieces: Array<string | Buffer>, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    let received = "";
    socket.setTimeout(5000, () => socket.destroy(new Error(`timed out; got ${JSON.stringify(received)}`)));
    socket.on("data", (d: Buffer) => {
      received += d.toString("latin1");
      if (until.test(received)) {
        socket.destroy();
        resolve(received);
      }
    });
    socket.on("close", () => resolve(received));
    socket.on("error", reject);
    socket.on("connect", async () => {
      for (const piece of pieces) {
        socket.write(piece);
        await new Promise((r) => setTimeout(r, 5)); // separate TCP segments
      }
    });
  });
}

describe("one port, HTTP/1.1 and h2c", () => {
  it("serves curl over HTTP/1.1 and over HTTP/2 with prior knowledge on the same port", async () => {
    const token = mint();
    const url = `${service.baseUrl}/info`;
    const args = ["-s", "-o", "/dev/null", "-w", "%{http_version} %{http_code}", "-H", `Authorization: Bearer ${token}`, url];
    const h1 = await run("curl", ["--http1.1", ...args]);
    const h2 = await run("curl", ["--http2-prior-knowledge", ...args]);
    expect(h1.stdout).toBe("1.1 200");
    expect(h2.stdout).toBe("2 200");
  });

  it("routes an HTTP/1.1 request that arrives a few bytes at a time", async () => {
    const request = `GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${mint()}\r\nConnection: close\r\n\r\n`;
    const pieces = [request.slice(0, 1), request.slice(1, 3), request.slice(3, 30), request.slice(30)];
    const response = await rawExchange(service.port, pieces, /"info":"Token is valid"/);
    expect(response).toMatch(/^HTTP\/1.1 200 OK/);
  });

  it("routes an HTTP/2 connection whose preface arrives one byte at a time", async () => {
    const preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS frame
    const response = await rawExchange(service.port, [...preface.split(""), settings], /[\s\S]{9}/);
    // The server answers with its own SETTINGS frame (type 4), not an HTTP/1 status line.
    expect(Buffer.from(response, "latin1")[3]).toBe(4);
    expect(response).not.toMatch(/^HTTP\/1/);
  });

  it("answers bytes that are neither protocol with a JSON 400 and keeps serving", async () => {
    const response = await rawExchange(service.port, ["\x16\x03\x01garbage\r\n\r\n"], /\}$/);
    expect(response).toMatch(/^HTTP\/1.1 400/);
    expect(response).toMatch(/\{"success":false,"info":"Malformed HTTP request","code":"invalid_argument","reason":"REQUEST_MALFORMED"\}$/);
    expect((await fetch(`${service.baseUrl}/info`, { headers: { authorization: `Bearer ${mint()}` } })).status).toBe(200);
  });

  it("never answers a pipelined request with the refusal of the malformed one behind it", async () => {
    // Both in one segment: the first is answered (its answer waits for the end of the turn), the second cannot be parsed.
    const response = await rawExchange(
      service.port,
      ["GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost x\r\n\r\n"],
      /REQUEST_MALFORMED"\}$/,
    );
    expect(response).toMatch(/^HTTP\/1.1 200 OK[\s\S]*"status":"ok"\}HTTP\/1.1 400 Bad Request[\s\S]*Malformed HTTP request/);
  });

  it("drops a connection that sends nothing within the head timeout", async () => {
    const server = createSinglePortServer({
      dispatch: (exchange) => exchange.respond(200, {}),
      limits: { idleTimeoutMs: 65_000, headersTimeoutMs: 100, maxConcurrentStreams: 100, maxResetsPer10s: 200 },
    });
    const { port } = await server.listen(0, "127.0.0.1");
    try {
      const started = Date.now();
      const socket = net.connect(port, "127.0.0.1");
      await new Promise((resolve) => socket.on("close", resolve));
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await server.close(500);
    }
  });

  it("lets in-flight requests on both protocols finish when closed", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let arrived = 0;
    const server = createSinglePortServer({
      dispatch: async (exchange) => {
        arrived++;
        await gate;
        exchange.respond(200, {}, "done");
      },
    });
    const { port } = await server.listen(0, "127.0.0.1");
    const base = `http://127.0.0.1:${port}/`;
    const h1 = run("curl", ["-s", "--http1.1", base]);
    const h2 = run("curl", ["-s", "--http2-prior-knowledge", base]);
    const deadline = Date.now() + 5000;
    while (arrived < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(arrived).toBe(2);
    const closed = server.close(5000);
    release();
    await closed;
    expect((await h1).stdout).toBe("done");
    expect((await h2).stdout).toBe("done");
    await expect(fetch(base)).rejects.toThrow();
  });

  it("closes idle keep-alive connections at once instead of waiting out the deadline", async () => {
    const server = createSinglePortServer({ dispatch: (exchange) => exchange.respond(200, {}, "ok") });
    const { port } = await server.listen(0, "127.0.0.1");
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe("ok"); // leaves a keep-alive socket
    const started = Date.now();
    await server.close(10_000);
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
