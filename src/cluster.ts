import cluster, { type Worker } from "node:cluster";
import { serveWorkerMetrics } from "./cluster-metrics.js";
import type { Logger } from "./logger.js";

/**
 * WORKERS=N: the primary forks N processes that share the port (node:cluster
 * hands connections out round-robin) and the store (Redis, or the SQLite file
 * in WAL mode). A worker that dies unexpectedly is replaced; SIGTERM/SIGINT is
 * passed on to every worker, which drains and stops as a single process
 * does, and the primary exits once all have, with 0 if all stopped cleanly.
 * A scrape of /metrics, whichever worker takes it, is answered with the sum
 * over all workers, gathered by the primary (src/cluster-metrics.ts).
 */
export function runPrimary(workers: number, logger: Logger): void {
  let stopping = false;
  let failed = false;
  const fork = () => {
    const worker = cluster.fork();
    let listening = false;
    worker.once("listening", () => (listening = true));
    worker.once("exit", (code, signal) => {
      if (!listening && !stopping) {
        // It never started (bad configuration, port in use): more forks would fail the same way.
        logger.fatal({ worker: worker.process.pid, code }, "a worker failed to start; stopping");
        failed = true;
        stop("SIGTERM");
        if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(1);
        return;
      }
      onExit(worker, code, signal);
    });
  };
  const onExit = (worker: Worker, code: number | null, signal: string | null) => {
    if (stopping) {
      if (code !== 0) failed = true;
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        logger.info("all workers stopped");
        logger.flush();
        process.exit(failed ? 1 : 0);
      }
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, "worker died; starting another");
    setTimeout(fork, 1000).unref();
  };
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "stopping workers");
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  serveWorkerMetrics();
  logger.info({ workers }, "starting workers");
  for (let i = 0; i < workers; i++) fork();
}
