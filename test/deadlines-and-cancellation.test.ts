import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "./helpers/eventually.js";
import { ErrorCode, FrameType, Flags, frame, headers as h2headers, rawH2, rstStream, type RawH2Connection } from "./helpers/raw-h2.js";
import { parsePrometheus, sampleValue } from "./helpers/prometheus.js";
import { startRedis, type TestRedis } from "./helpers/redis-server.js";
import { http1Request, type Endpoint } from "./helpers/rpc-callers.js";
import { startService, type TestService } from "./helpers/service.js";
import { makeTestCert, type TestCert } from "./helpers/tls-cert.js";
import { mint } from "./helpers/tokens.js";

/**
 * Deadlines and cancellation on every protocol, over h2c and TLS, with raw
 * clients so the server's behaviour is what is measured (a Connect or
 * grpc-js client would also enforce a deadline itself). Redis is paused with
 * CLIENT PAUSE, so handlers are held in a real store round trip.
 */
const grpcFrame = (payload: Buffer = Buffer.alloc(0), flag = 0) => {
  const head = Buffer.alloc(5);
  head[0] = flag;
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
};

interface RawAnswer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP/2 request; resolves with the whole answer. */
function h2Request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer | string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, { endStream: body === undefined });
    const answer: RawAnswer = { status: 0, headers: {}, trailers: {}, body: Buffer.alloc(0) };
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      answer.headers = h;
      answer.status = Number(h[":status"]);
    });
    stream.on("trailers", (t) => (answer.trailers = t));
    stream.on("data", (d: Buffer) => chunks.push(d));
    stream.on("end", () => resolve({ ...answer, body: Buffer.concat(chunks) }));
    stream.on("error", reject);
    if (body !== undefined) stream.end(body);
  });
}

/** The gRPC status of an answer: trailers, a trailers-only answer's headers, or a gRPC-Web trailer frame. */
function grpcStatus(answer: { headers: Record<string, unknown>; trailers?: Record<string, unknown>; body: Buffer }): string | undefined {
  const fromHeaders = answer.trailers?.["grpc-status"] ?? answer.headers["grpc-status"];
  if (fromHeaders !== undefined) return String(fromHeaders);
  for (let at = 0; at + 5 <= answer.body.length; ) {
    const length = answer.body.readUInt32BE(at + 1);
    if ((answer.body[at]! & 0x80) !== 0) return /grpc-status:\s*(\d+)/.exec(answer.body.subarray(at + 5, at + 5 + length).toString())?.[1];
    at += 5 + length;
  }
  return undefined;
}

const DEADLINE_EXCEEDED = "4";

let cert: TestCert;
beforeAll(() => {
  cert = makeTestCert();
});
afterAll(() => cert.remove());

describe.each(["h2c and HTTP/1.1", "TLS"])("over %s", (transport) => {
  const secure = transport === "TLS";
  let redis: TestRedis;
  let service: TestService;
  let endpoint: Endpoint;
  let session: http2.ClientHttp2Session;
  const url = () => `${secure ? "https" : "http"}://localhost:${service.port}`;

  beforeAll(async () => {
    redis = await startRedis();
    // A store timeout well past the deadlines used here: the deadline, not the store, must end the calls.
    service = await startService({
      REDIS_URL: redis.url,
      STORE_TIMEOUT_MS: "3000",
      ...(secure ? { TLS_CERT_FILE: cert.certFile, TLS_KEY_FILE: cert.keyFile } : {}),
    });
    endpoint = { port: service.port, ca: secure ? cert.ca : undefined };
    session = http2.connect(url(), secure ? { ca: cert.ca } : {});
    session.on("error", () => {});
  });
  afterEach(async () => {
    await redis.command("CLIENT", "UNPAUSE");
  });
  afterAll(async () => {
    session.close();
    await service.close();
    await redis.stop();
  });

  const infoHeaders = (token: string) => ({ authorization: `Bearer ${token}` });
  /** Info with a timeout on every protocol, as each protocol's raw request; resolves with [protocol, outcome, ms]. */
  const infoWithTimeout = async (grpcTimeout: string, timeoutMs: number): Promise<Array<[string, string | undefined, number]>> => {
    const token = mint();
    const path = "/tokens.v1.TokenService/Info";
    const timed = async (name: string, call: () => Promise<string | undefined>): Promise<[string, string | undefined, number]> => {
      const started = Date.now();
      const code = await call();
      return [name, code, Date.now() - started];
    };
    /** "ok", or the Connect code name of a refusal. */
    const httpCode = (status: number, text: string) => (status === 200 ? "ok" : (JSON.parse(text) as { code?: string }).code);
    const grpcCode = (status: string | undefined) =>
      status === "0" ? "ok" : status === DEADLINE_EXCEEDED ? "deadline_exceeded" : `grpc-status ${status}`;
    return Promise.all([
      timed("gRPC", async () => {
        const res = await h2Request(
          session,
          {
            ":method": "POST",
            ":path": path,
            "content-type": "application/grpc",
            te: "trailers",
            "grpc-timeout": grpcTimeout,
            ...infoHeaders(token),
          },
          grpcFrame(),
        );
        return grpcCode(grpcStatus(res));
      }),
      timed("gRPC-Web (HTTP/1.1)", async () => {
        const res = await http1Request(
          endpoint,
          "POST",
          path,
          { "content-type": "application/grpc-web+proto", "grpc-timeout": grpcTimeout, ...infoHeaders(token) },
          grpcFrame(),
        );
        return grpcCode(grpcStatus({ headers: res.headers, body: res.raw }));
      }),
      timed("Connect JSON (HTTP/1.1)", async () => {
        const res = await http1Request(
          endpoint,
          "POST",
          path,
          { "content-type": "application/json", "connect-timeout-ms": String(timeoutMs), ...infoHeaders(token) },
          "{}",
        );
        return httpCode(res.status, res.text);
      }),
      timed("Connect binary (HTTP/2)", async () => {
        const res = await h2Request(
          session,
          {
            ":method": "POST",
            ":path": path,
            "content-type": "application/proto",
            "connect-timeout-ms": String(timeoutMs),
            ...infoHeaders(token),
          },
          Buffer.alloc(0),
        );
        return httpCode(res.status, res.body.toString());
      }),
      timed("Connect GET (Connect's handler)", async () => {
        const res = await http1Request(endpoint, "GET", `${path}?connect=v1&encoding=json&message=%7B%7D`, {
          "connect-timeout-ms": String(timeoutMs),
          ...infoHeaders(token),
        });
        return httpCode(res.status, res.text);
      }),
      timed("REST (HTTP/1.1)", async () => {
        const res = await http1Request(endpoint, "GET", "/info", { "grpc-timeout": grpcTimeout, ...infoHeaders(token) });
        return httpCode(res.status, res.text);
      }),
      timed("REST (HTTP/2)", async () => {
        const res = await h2Request(session, {
          ":method": "GET",
          ":path": "/info",
          "connect-timeout-ms": String(timeoutMs),
          ...infoHeaders(token),
        });
        return httpCode(res.status, res.body.toString());
      }),
    ]);
  };

  it("answers DEADLINE_EXCEEDED to grpc-timeout: 1m on every protocol while the store holds the handler", async () => {
    await redis.command("CLIENT", "PAUSE", "2000", "ALL");
    for (const [protocol, code] of await infoWithTimeout("1m", 1)) expect(code, protocol).toBe("deadline_exceeded");
  });

  it("ends a call held in the store at its deadline (200 ms), long before the store's own timeout", async () => {
    await redis.command("CLIENT", "PAUSE", "2500", "ALL");
    for (const [protocol, code, ms] of await infoWithTimeout("200m", 200)) {
      expect(code, protocol).toBe("deadline_exceeded");
      expect(ms, protocol).toBeGreaterThanOrEqual(190);
      expect(ms, protocol).toBeLessThan(2000); // STORE_TIMEOUT_MS is 3000 and the pause 2500
    }
  });

  it("answers the same calls normally when there is time", async () => {
    for (const [protocol, code] of await infoWithTimeout("5S", 5000)) expect(code, protocol).toBe("ok");
  });

  /** Blacklist calls the clients abandon while the store holds them: none may revoke its token. */
  it("never starts the store write of a call whose client went away, on every protocol", async () => {
    const scrape = async () => parsePrometheus((await http1Request(endpoint, "GET", "/metrics", {})).text);
    const cancelled = async () => sampleValue(await scrape(), "token_blacklist_requests_total", { rpc: "Blacklist", code: "canceled" });
    const inFlight = async () => sampleValue(await scrape(), "token_blacklist_requests_in_flight", { rpc: "Blacklist" });
    const before = await cancelled();
    await redis.command("CLIENT", "PAUSE", "1500", "ALL");
    const tokens = [mint(), mint(), mint(), mint()];
    // HTTP/2: gRPC and REST streams reset by the client after the request was sent in full.
    const grpcStream = session.request({
      ":method": "POST",
      ":path": "/tokens.v1.TokenService/Blacklist",
      "content-type": "application/grpc",
      te: "trailers",
      ...infoHeaders(tokens[0]!),
    });
    grpcStream.on("error", () => {});
    grpcStream.end(grpcFrame());
    const restStream = session.request({ ":method": "POST", ":path": "/blacklist", ...infoHeaders(tokens[1]!) }, { endStream: true });
    restStream.on("error", () => {});
    // HTTP/1.1: REST and Connect requests whose connections the clients close.
    const h1Sockets = [
      rawH1(endpoint, `POST /blacklist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens[2]}\r\nContent-Length: 0\r\n\r\n`),
      rawH1(
        endpoint,
        `POST /tokens.v1.TokenService/Blacklist HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${tokens[3]}\r\nContent-Length: 2\r\n\r\n{}`,
      ),
    ];
    const sockets = await Promise.all(h1Sockets);
    // Once all four handlers wait in the paused store, the clients leave.
    expect(await eventually(async () => (await inFlight()) === 4, 1400)).toBe(true);
    grpcStream.close(http2.constants.NGHTTP2_CANCEL);
    restStream.close(http2.constants.NGHTTP2_CANCEL);
    for (const socket of sockets) socket.destroy();
    await redis.command("CLIENT", "UNPAUSE");
    // The handlers finish their first store call, find their callers gone, and stop before the write.
    expect(await eventually(async () => (await inFlight()) === 0 && (await cancelled()) - before === 4, 5000)).toBe(true);
    for (const token of tokens) {
      const res = await http1Request(endpoint, "GET", "/info", infoHeaders(token));
      expect(res.status, "the abandoned Blacklist must not have revoked the token").toBe(200);
    }
  });

  it("never acts on a request the client cancels before sending all of it", async () => {
    const scrape = async () => parsePrometheus((await http1Request(endpoint, "GET", "/metrics", {})).text);
    const blacklistCalls = async () => sampleValue(await scrape(), "token_blacklist_requests_total", { rpc: "Blacklist" });
    const callsBefore = await blacklistCalls();
    const tokens = [mint(), mint(), mint(), mint()];
    // HTTP/2, hand-written frames: HEADERS without END_STREAM, then RST_STREAM(CANCEL) before any
    // body (Node's own client would send END_STREAM before the reset, completing the request).
    const raw = await rawH2(service.port, secure ? { ca: cert.ca } : {});
    const targets = [
      ["/blacklist", "application/json", tokens[0]!],
      ["/tokens.v1.TokenService/Blacklist", "application/json", tokens[1]!],
      ["/tokens.v1.TokenService/Blacklist", "application/grpc", tokens[2]!],
    ] as const;
    targets.forEach(([path, contentType, token], i) => {
      const fields = {
        ":method": "POST",
        ":path": path,
        ":scheme": secure ? "https" : "http",
        ":authority": "localhost",
        "content-type": contentType,
        authorization: `Bearer ${token}`,
      };
      raw.send(h2headers(1 + 2 * i, fields, false));
    });
    // A PING's answer comes after the server read the HEADERS; then the resets, and a second PING.
    await pingRoundTrip(raw, 1);
    raw.send(...targets.map((_, i) => rstStream(1 + 2 * i, ErrorCode.CANCEL)));
    await pingRoundTrip(raw, 2);
    raw.socket.destroy();
    // HTTP/1.1: a head announcing 40 bytes of body, 10 of them, and the connection closed.
    const partial = await rawH1(
      endpoint,
      `POST /blacklist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${tokens[3]}\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{"reason"`,
    );
    partial.destroy();
    // A request on a new connection is answered after the partial one was read and dropped.
    await http1Request(endpoint, "GET", "/healthz", {});
    // No handler ran (not only no write: the RPC never started)...
    expect(await blacklistCalls()).toBe(callsBefore);
    // ...and nothing was revoked.
    for (const token of tokens) {
      const res = await http1Request(endpoint, "GET", "/info", infoHeaders(token));
      expect(res.status, "a cancelled request must not have revoked the token").toBe(200);
    }
  });
});

/** Opens a connection (TLS when the endpoint has a CA) and writes raw HTTP/1.1 bytes; resolves once written. */
function rawH1(endpoint: Endpoint, bytes: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      endpoint.ca === undefined
        ? net.connect(endpoint.port, "127.0.0.1")
        : tls.connect({ port: endpoint.port, host: "127.0.0.1", ca: endpoint.ca, servername: "localhost", ALPNProtocols: ["http/1.1"] });
    socket.on("error", () => {});
    socket.once(endpoint.ca === undefined ? "connect" : "secureConnect", () => socket.write(bytes, () => resolve(socket)));
    socket.once("error", reject);
  });
}

/** Sends a PING and waits for its ACK: the server has read everything sent before it. */
async function pingRoundTrip(raw: RawH2Connection, n: number): Promise<void> {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(n, 4);
  raw.send(frame(FrameType.PING, 0, 0, payload));
  await raw.waitFor((f) => f.type === FrameType.PING && (f.flags & Flags.ACK) !== 0 && f.payload.equals(payload));
}
