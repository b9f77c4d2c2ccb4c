import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A real redis-server owned by one test file, on a free port. */
export interface TestRedis {
  port: number;
  url: string;
  /** Kills the process (SIGKILL): an outage, as the service sees it. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory. */
  restart(): Promise<void>;
  /** Sends the process a signal: SIGSTOP hangs it (connections stay open, nothing is answered), SIGCONT resumes it. */
  signal(signal: NodeJS.Signals): void;
  /** Runs a command with redis-cli semantics over a fresh connection. */
  command(...args: string[]): Promise<unknown>;
  /** False once killed (until restarted). */
  alive(): boolean;
  stop(): Promise<void>;
}

/** Asks the kernel for a free port (listen on 0, read it, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * What an acknowledged revocation needs to survive a crash: the append-only
 * file, fsynced on every write. Tests that restart their Redis and expect
 * the service to carry on use it: restarted without it, Redis comes back
 * empty, which the service refuses to read (the store's data is lost).
 */
export const PERSISTENT = ["--appendonly", "yes", "--appendfsync", "always"];

/**
 * Starts redis-server on a free port in a temp dir; waits until it answers
 * PING. `extraArgs` come after the defaults (no persistence) and override them.
 */
export async function startRedis(extraArgs: string[] = []): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "tb-redis-"));
  let port = 0;
  let child: ChildProcess | undefined;

  const launch = async () => {
    child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...extraArgs],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    const exited = new Promise<never>((_, reject) =>
      child!.once("exit", (code) => reject(new Error(`redis-server exited (${code}): ${output}`))),
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        await Promise.race([exited, rawCommand(port, ["PING"])]);
        return;
      } catch (err) {
        if (child.exitCode !== null || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 25));
      }
    }
  };

  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (err) {
      if (attempt >= 3) throw err;
    }
  }

  const kill = async () => {
    const proc = child;
    if (proc === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    const gone = new Promise((resolve) => proc.once("exit", resolve));
    proc.kill("SIGKILL");
    await gone;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: launch,
    signal: (signal) => void child?.kill(signal),
    alive: () => child !== undefined && child.exitCode === null && child.signalCode === null,
    command: (...args) => rawCommand(port, args),
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Sends one RESP command to 127.0.0.1:`port` over a fresh connection and parses one reply (enough for tests). */
export function rawCommand(port: number, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let buffer = Buffer.alloc(0);
    socket.setTimeout(5000, () => socket.destroy(new Error("redis command timed out")));
    socket.once("error", reject);
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      const parsed = parseReply(buffer, 0);
      if (parsed !== undefined) {
        socket.end();
        if (parsed.value instanceof Error) reject(parsed.value);
        else resolve(parsed.value);
      }
    });
    socket.connect(port, "127.0.0.1", () => {
      socket.write(`*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`);
    });
  });
}

function parseReply(buf: Buffer, at: number): { value: unknown; end: number } | undefined {
  const lineEnd = buf.indexOf("\r\n", at);
  if (lineEnd < 0) return undefined;
  const type = String.fromCharCode(buf[at]!);
  const line = buf.subarray(at + 1, lineEnd).toString();
  const next = lineEnd + 2;
  switch (type) {
    case "+":
      return { value: line, end: next };
    case "-":
      return { value: new Error(line), end: next };
    case ":":
      return { value: Number(line), end: next };
    case "$": {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.subarray(next, next + len).toString("latin1"), end: next + len + 2 };
    }
    case "*": {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: unknown[] = [];
      let pos = next;
      for (let i = 0; i < count; i++) {
        const item = parseReply(buf, pos);
        if (item === undefined) return undefined;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      return { value: new Error(`unexpected reply type ${type}`), end: next };
  }
}
