import * as net from "node:net";
import * as tls from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../helpers/eventually.js";
import { resourcesOf, settlesNear } from "../helpers/process-resources.js";
import { makeTestCert } from "../helpers/tls-cert.js";
import { getInfo, LIMITS, metricValue, startTarget, type Target } from "./target.js";

// Issue 12, case 4: HTTP/1.1 connections that send a byte, a partial head, or a body that stops, on a 512-fd budget.

const FD_LIMIT = 512;
const headersTimeoutMs = Number(LIMITS.HTTP_HEADERS_TIMEOUT_MS);
const idleTimeoutMs = Number(LIMITS.HTTP_IDLE_TIMEOUT_MS);
/** The head sweep runs once a second, and two processes share two cores. */
const SLACK_MS = 2500;

let target: Target;
beforeAll(async () => {
  target = await startTarget({}, { wrapper: ["prlimit", `--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--"] });
});
afterAll(() => target?.close());

/** Opens a connection, writes `bytes`, and resolves with how long the server kept it open. */
function holdOpen(connect: () => net.Socket, bytes: string): Promise<number> {
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = connect();
    socket.once(socket instanceof tls.TLSSocket ? "secureConnect" : "connect", () => {
      if (bytes !== "") socket.write(bytes);
    });
    socket.on("error", () => {});
    socket.resume();
    socket.once("close", () => resolve(Date.now() - started));
  });
}

const cleartext =
  (port = target.port) =>
  () =>
    net.connect(port, "127.0.0.1");

describe("slow HTTP/1.1 clients (fd limit 512)", () => {
  it("closes 600 connections that sent one byte or half a head within the head timeout, and the port answers afterwards", async () => {
    const oneByte = Array.from({ length: 300 }, () => holdOpen(cleartext(), "G"));
    const halfHead = Array.from({ length: 300 }, () => holdOpen(cleartext(), "GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bea"));
    const held = await Promise.all([...oneByte, ...halfHead]);
    const timedOut = await metricValue(target.port, "token_blacklist_connections_closed_total", { reason: "headers_timeout" });
    // Past the fd limit, libuv accepts and closes at once what it cannot keep (its EMFILE guard): the rest timed out.
    console.log(
      `600 slow heads: held at most ${Math.max(...held)} ms (head timeout ${headersTimeoutMs} ms); ${timedOut} closed by the head timeout`,
    );
    expect(timedOut).toBeGreaterThan(FD_LIMIT / 2);
    expect(Math.max(...held)).toBeLessThan(headersTimeoutMs + SLACK_MS);
    const after = await settlesNear(target.pid, target.baseline);
    expect(after.fds).toBeLessThanOrEqual(Math.ceil(target.baseline.fds * 1.1));
    expect((await getInfo(target.port, target.token)).status).toBe(200);
  }, 30_000);

  it("on a TLS port, closes a connection that never finishes its handshake, and one that finishes it and sends half a head", async () => {
    const certificate = makeTestCert();
    const tlsTarget = await startTarget({ TLS_CERT_FILE: certificate.certFile, TLS_KEY_FILE: certificate.keyFile });
    try {
      const overTls = () =>
        tls.connect({ port: tlsTarget.port, host: "127.0.0.1", ca: certificate.ca, servername: "localhost", ALPNProtocols: ["http/1.1"] });
      const [noHandshake, halfHead] = await Promise.all([
        holdOpen(cleartext(tlsTarget.port), "\x16\x03\x01"), // the start of a TLS record, then nothing
        holdOpen(overTls, "GET /info HTTP/1.1\r\nHo"),
      ]);
      expect(noHandshake).toBeLessThan(headersTimeoutMs + SLACK_MS);
      expect(halfHead).toBeLessThan(headersTimeoutMs + SLACK_MS);
    } finally {
      await tlsTarget.close();
      certificate.remove();
    }
  });

  it("closes a connection whose request body stops arriving after the idle timeout, without acting on the request", async () => {
    const before = resourcesOf(target.pid).fds;
    const body = JSON.stringify({ token: target.token });
    const heldMs = await holdOpen(
      cleartext(),
      `POST /blacklist HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    );
    expect(heldMs).toBeGreaterThanOrEqual(idleTimeoutMs - 100);
    expect(heldMs).toBeLessThan(idleTimeoutMs + SLACK_MS);
    expect((await getInfo(target.port, target.token)).status).toBe(200); // not revoked
    // The check's own connection closes on the server a moment after the client has read its answer.
    expect(await eventually(async () => resourcesOf(target.pid).fds <= before, 5_000, 20)).toBe(true);
  });

  it("closes an idle keep-alive connection after the idle timeout, and counts it", async () => {
    const heldMs = await holdOpen(cleartext(), `GET /info HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${target.token}\r\n\r\n`);
    expect(heldMs).toBeGreaterThanOrEqual(idleTimeoutMs - 100);
    expect(heldMs).toBeLessThan(idleTimeoutMs + SLACK_MS);
    expect(await metricValue(target.port, "token_blacklist_connections_closed_total", { reason: "idle_timeout" })).toBeGreaterThanOrEqual(
      2,
    );
  });
});
