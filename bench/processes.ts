import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect } from "node:net";
import { freePort } from "../test/helpers/redis-server.js";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));

/** A server the benchmark started, with what it needs to measure it. */
export interface BenchProcess {
  name: string;
  pid: number;
  port: number;
  /** CPU seconds (user + system) used so far, from /proc. */
  cpuSeconds(): number;
  /** Resident set size in bytes, from /proc. */
  rssBytes(): number;
  stop(): Promise<void>;
}

/**
 * Starts `node <script>` on a free port (through tsx for a `.ts` script: the
 * baselines; the service runs compiled, as in production), on core `cpu` when
 * given, and waits until the port accepts connections (polled, with a deadline).
 */
export async function startProcess(name: string, script: string, env: Record<string, string>, cpu?: number): Promise<BenchProcess> {
  const port = await freePort();
  const node = script.endsWith(".ts") ? [process.execPath, "--import", "tsx", script] : [process.execPath, script];
  // taskset execs node in place, so the child's pid is node's.
  const command = cpu === undefined ? node : ["taskset", "-c", String(cpu), ...node];
  const child: ChildProcess = spawn(command[0]!, command.slice(1), {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", PORT: String(port), HOST: "127.0.0.1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString().slice(-2000)));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString().slice(-2000)));
  const deadline = Date.now() + 30_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${name} did not start: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const pid = child.pid!;
  return {
    name,
    pid,
    port,
    cpuSeconds: () => {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in USER_HZ (100)
    },
    rssBytes: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
