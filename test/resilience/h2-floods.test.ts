import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatResources, resourcesOf, settlesNear } from "../helpers/process-resources.js";
import { ErrorCode, FrameType, headers, PREFACE, rawH2, rstStream, settings } from "../helpers/raw-h2.js";
import { getInfo, LIMITS, metricValue, startTarget, type Target } from "./target.js";

// Issue 12, cases 1 and 3: HTTP/2 connections that flood, stop reading, or hold streams.

const FD_LIMIT = 512;
const idleTimeoutMs = Number(LIMITS.HTTP_IDLE_TIMEOUT_MS);
/** GOAWAY grace (1 s) and the scheduling of two processes on a shared machine. */
const SLACK_MS = 2500;

let target: Target;
beforeAll(async () => {
  target = await startTarget({}, { wrapper: ["prlimit", `--nofile=${FD_LIMIT}:${FD_LIMIT}`, "--"] });
});
afterAll(() => target?.close());

/** Preface, SETTINGS and `pairs` HEADERS+RST_STREAM pairs in one write, then FIN; resolves when the server has closed its side. */
function floodAndLeave(port: number, pairs: number): Promise<void> {
  const frames: Buffer[] = [PREFACE, settings()];
  for (let i = 0; i < pairs; i++) {
    const id = 2 * i + 1;
    frames.push(headers(id, { ":method": "GET", ":scheme": "http", ":path": "/info", ":authority": "x" }, true), rstStream(id));
  }
  const burst = Buffer.concat(frames);
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1", () => socket.end(burst));
    socket.on("error", () => {}); // a reset by the server is one of the ways it closes
    socket.resume(); // reads what the server sends, so its GOAWAY can be delivered
    socket.once("close", () => resolve());
  });
}

describe("HTTP/2 floods (fd limit 512)", () => {
  it("releases connections that flood HEADERS+RST_STREAM and leave: 520 of them, fds back within 10 %, and the port still answers", async () => {
    const before = resourcesOf(target.pid);
    // The attack: 1,500 pairs (about 120 KB) per connection, 520 connections, more than the fd limit in all.
    for (let wave = 0; wave < 26; wave++) {
      await Promise.all(Array.from({ length: 20 }, () => floodAndLeave(target.port, 1500)));
    }
    const after = await settlesNear(target.pid, target.baseline);
    console.log(
      `flood and leave: baseline ${formatResources(target.baseline)}; before ${formatResources(before)}; after ${formatResources(after)}`,
    );
    expect(after.fds).toBeLessThanOrEqual(Math.ceil(target.baseline.fds * 1.1));
    expect((await getInfo(target.port, target.token)).status).toBe(200);
  }, 60_000);

  it("closes a connection that sends only the preface and SETTINGS within the idle timeout", async () => {
    const connections = await Promise.all(Array.from({ length: 20 }, () => rawH2(target.port)));
    const opened = Date.now();
    await Promise.all(connections.map((c) => c.closed));
    const heldMs = Date.now() - opened;
    expect(heldMs).toBeLessThan(idleTimeoutMs + SLACK_MS);
    // Each was told why: GOAWAY with NO_ERROR before the close.
    for (const c of connections)
      expect(c.frames.some((f) => f.type === FrameType.GOAWAY && f.payload.readUInt32BE(4) === ErrorCode.NO_ERROR)).toBe(true);
  });

  it("advertises SETTINGS_MAX_CONCURRENT_STREAMS 100 and refuses streams past it: 10 connections asking for 80,000 held streams", async () => {
    const baselineRss = resourcesOf(target.pid).rssBytes;
    const connections = await Promise.all(Array.from({ length: 10 }, () => rawH2(target.port)));
    const serverSettings = await connections[0]!.waitFor((f) => f.type === FrameType.SETTINGS && f.flags === 0);
    const advertised = new Map<number, number>();
    for (let i = 0; i < serverSettings.payload.length; i += 6) {
      advertised.set(serverSettings.payload.readUInt16BE(i), serverSettings.payload.readUInt32BE(i + 2));
    }
    expect(advertised.get(0x3)).toBe(100); // SETTINGS_MAX_CONCURRENT_STREAMS

    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, resourcesOf(target.pid).rssBytes)), 50);
    const started = Date.now();
    for (const c of connections) {
      const held: Buffer[] = [];
      for (let i = 0; i < 8000; i++) {
        held.push(
          headers(
            2 * i + 1,
            { ":method": "POST", ":scheme": "http", ":path": "/blacklist", ":authority": "x", "content-type": "application/json" },
            false,
          ),
        );
      }
      c.send(...held);
    }
    // Each connection is refused past 100 streams (RST_STREAM REFUSED_STREAM, or GOAWAY for a peer that keeps
    // trying), and nothing it holds outlives the idle timeout: its streams wait on bodies that never come.
    await Promise.all(connections.map((c) => c.closed));
    const heldMs = Date.now() - started;
    clearInterval(sampler);
    for (const c of connections) {
      const refused = c.frames.filter(
        (f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === ErrorCode.REFUSED_STREAM,
      ).length;
      const goaway = c.frames.some((f) => f.type === FrameType.GOAWAY);
      expect(refused > 0 || goaway).toBe(true);
    }
    console.log(
      `80,000 held streams asked for: peak RSS ${(peakRss / 2 ** 20).toFixed(1)} MiB (from ${(baselineRss / 2 ** 20).toFixed(1)}), all closed after ${heldMs} ms`,
    );
    expect(heldMs).toBeLessThan(idleTimeoutMs + SLACK_MS);
    expect(peakRss - baselineRss).toBeLessThan(64 * 2 ** 20);
    const after = await settlesNear(target.pid, target.baseline);
    expect(after.fds).toBeLessThanOrEqual(Math.ceil(target.baseline.fds * 1.1));
  }, 30_000);

  it("closes sessions holding 100 streams whose bodies never come once they are idle: 10 connections, 1,000 held streams", async () => {
    const connections = await Promise.all(Array.from({ length: 10 }, () => rawH2(target.port)));
    const started = Date.now();
    for (const c of connections) {
      const held: Buffer[] = [];
      for (let i = 0; i < 100; i++) {
        held.push(
          headers(
            2 * i + 1,
            { ":method": "POST", ":scheme": "http", ":path": "/blacklist", ":authority": "x", "content-type": "application/json" },
            false,
          ),
        );
      }
      c.send(...held);
    }
    await Promise.all(connections.map((c) => c.closed));
    const heldMs = Date.now() - started;
    // Within the limit, nothing is refused: the streams are held until the session goes idle.
    for (const c of connections)
      expect(
        c.frames.filter((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === ErrorCode.REFUSED_STREAM),
      ).toHaveLength(0);
    expect(heldMs).toBeGreaterThanOrEqual(idleTimeoutMs - 100);
    expect(heldMs).toBeLessThan(idleTimeoutMs + SLACK_MS);
    expect(await metricValue(target.port, "token_blacklist_connections_closed_total", { reason: "idle_timeout" })).toBeGreaterThanOrEqual(
      10,
    );
  });
});
