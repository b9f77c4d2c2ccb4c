import { fork } from "node:child_process";
import * as http from "node:http";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatResources, settlesNear } from "../helpers/process-resources.js";
import { getInfo, metricValue, quantile, startTarget, type Target } from "./target.js";

// Issue 12, case 2: rapid reset with reconnects from one process must not starve other clients.

const ATTACK_MS = 6000;
const ATTACK_CONNECTIONS = 16;

let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target?.close());

/** Runs the attacker process to its end; resolves with what it counted. */
function rapidReset(port: number): Promise<{ pairs: number; connections: number }> {
  const child = fork(
    fileURLToPath(new URL("./attackers/rapid-reset.ts", import.meta.url)),
    [String(port), String(ATTACK_CONNECTIONS), String(ATTACK_MS)],
    {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "pipe", "inherit", "ipc"],
    },
  );
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  return new Promise((resolve, reject) =>
    child.once("exit", (code) => (code === 0 ? resolve(JSON.parse(output)) : reject(new Error(`attacker exited with ${code}: ${output}`)))),
  );
}

describe("rapid reset with reconnects", () => {
  it("keeps an independent client's GET /info p99 under 100 ms, cuts each attacking connection off, and gives its fds back", async () => {
    const attack = rapidReset(target.port);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const latencies: number[] = [];
    let done = false;
    void attack.finally(() => (done = true));
    // The victim: one keep-alive client asking every 10 ms for as long as the attack runs.
    while (!done) {
      const { status, ms } = await getInfo(target.port, target.token, agent);
      expect(status).toBe(200);
      latencies.push(ms);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    agent.destroy();
    const counts = await attack;
    const cutOff = await metricValue(target.port, "token_blacklist_connections_closed_total", { reason: "reset_flood" });
    const [p50, p99, max] = [quantile(latencies, 0.5), quantile(latencies, 0.99), Math.max(...latencies)];
    console.log(
      `rapid reset: ${counts.pairs} HEADERS+RST pairs on ${counts.connections} connections in ${ATTACK_MS} ms, ${cutOff} cut off for resetting too much; ` +
        `victim GET /info over ${latencies.length} requests: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );
    expect(latencies.length).toBeGreaterThan(50);
    expect(p99).toBeLessThan(100);
    // Every connection the attacker opened was cut off by the reset budget, not left to run.
    expect(cutOff).toBeGreaterThanOrEqual(counts.connections - ATTACK_CONNECTIONS);
    const after = await settlesNear(target.pid, target.baseline);
    console.log(`before the attack ${formatResources(target.baseline)}; after it ${formatResources(after)}`);
    expect(after.fds).toBeLessThanOrEqual(Math.ceil(target.baseline.fds * 1.1));
  }, 40_000);
});
