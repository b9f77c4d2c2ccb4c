import { readdirSync, readFileSync } from "node:fs";
import { eventually } from "./eventually.js";

/** What a process holds, read from /proc. */
export interface Resources {
  fds: number;
  rssBytes: number;
}

/** The open file descriptors and resident memory of process `pid` (Linux). */
export function resourcesOf(pid: number): Resources {
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const rssKb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (rssKb === null) throw new Error(`no VmRSS for ${pid}`);
  return { fds, rssBytes: Number(rssKb[1]) * 1024 };
}

/**
 * Polls until `pid` holds at most 10 % more fds than `baseline`, up to
 * `deadlineMs`, then resolves with what it holds. Resident memory is read,
 * not waited for: V8 and the allocator keep the size a burst gave them.
 */
export async function settlesNear(pid: number, baseline: Resources, deadlineMs = 10_000): Promise<Resources> {
  await eventually(async () => resourcesOf(pid).fds <= Math.ceil(baseline.fds * 1.1), deadlineMs, 100);
  return resourcesOf(pid);
}

/** `resources` as a line for a test's output. */
export function formatResources(resources: Resources): string {
  return `${resources.fds} fds, RSS ${(resources.rssBytes / 2 ** 20).toFixed(1)} MiB`;
}
