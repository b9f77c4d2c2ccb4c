/**
 * One scrape, the whole service: with WORKERS=N a scrape of `/metrics` reaches
 * one worker (node:cluster hands each connection to one), so each worker alone
 * would answer with its own counts and successive scrapes would flap between
 * workers' values, which Prometheus reads as counter resets. Instead, the
 * worker that receives the scrape asks the primary, the primary asks every
 * worker for its metrics as data (prom-client's JSON form, each metric with its
 * aggregator), combines them with prom-client's `AggregatorRegistry.aggregate`
 * and sends the text back. The sum, rather than per-worker series with a
 * `worker` label, keeps `/metrics` the same whatever N is (no `sum without
 * (worker)` in every query); it gives up a per-worker breakdown and an exact
 * `rate()` across a worker's replacement (README: Metrics under WORKERS=N).
 *
 * The messages go over node:cluster's IPC channel (worker.send, process.send,
 * 'message'), only when `/metrics` is scraped: nothing on the request path.
 * With WORKERS=1 (or unset) none of this runs.
 */
import cluster, { type Worker } from "node:cluster";
import { AggregatorRegistry } from "prom-client";
import type { CollectedMetrics, Metrics } from "./metrics.js";
import { MetricsUnavailable } from "./server/operational-routes.js";

/** worker -> primary: this worker answers {@link COLLECT} from now on. */
const READY = "token-blacklist/metrics-ready";
/** worker -> primary: a scrape arrived; send me every worker's metrics, combined. */
const SCRAPE = "token-blacklist/metrics-scrape";
/** primary -> worker: send me your metrics. */
const COLLECT = "token-blacklist/metrics-collect";
/** worker -> primary: the worker's metrics (or why not). */
const COLLECTED = "token-blacklist/metrics-collected";
/** primary -> worker: the combined text (or why not). */
const SCRAPED = "token-blacklist/metrics-scraped";

/** How long the primary waits for every worker's metrics. */
export const COLLECT_TIMEOUT_MS = 2000;
/** How long a worker waits for the primary's answer: longer, so a slow worker is named by the primary's error. */
export const SCRAPE_TIMEOUT_MS = 3000;

interface Message {
  type: string;
  id?: number;
  metrics?: CollectedMetrics;
  text?: string;
  error?: string;
}

/**
 * The IPC channel carries JSON, which has no NaN or infinity (an event-loop
 * lag mean with no samples is NaN): such values travel as strings.
 */
const toWire = (metrics: CollectedMetrics): CollectedMetrics =>
  metrics.map((metric) => ({
    ...metric,
    values: (metric.values as Array<{ value: number | string }>).map((sample) =>
      typeof sample.value === "number" && !Number.isFinite(sample.value) ? { ...sample, value: String(sample.value) } : sample,
    ),
  })) as CollectedMetrics;
const fromWire = (metrics: CollectedMetrics): CollectedMetrics =>
  metrics.map((metric) => ({
    ...metric,
    values: (metric.values as Array<{ value: number | string }>).map((sample) =>
      typeof sample.value === "string" ? { ...sample, value: Number(sample.value) } : sample,
    ),
  })) as CollectedMetrics;

/**
 * A message of ours, well formed: the channel also carries node:cluster's own
 * messages and whatever else the process sends, and a malformed one must be
 * ignored, not throw in the primary's or a worker's message handler.
 */
function isMessage(value: unknown): value is Message {
  if (typeof value !== "object" || value === null) return false;
  const { type, id, metrics, text, error } = value as Record<string, unknown>;
  return (
    typeof type === "string" &&
    (id === undefined || Number.isSafeInteger(id)) &&
    (metrics === undefined || Array.isArray(metrics)) &&
    (text === undefined || typeof text === "string") &&
    (error === undefined || typeof error === "string")
  );
}

/** A worker's end of the IPC channel: `process` in a cluster worker. */
export interface PrimaryChannel {
  send(message: Message, callback: (error: Error | null) => void): unknown;
  on(event: "message", listener: (message: unknown) => void): unknown;
}

const processChannel: PrimaryChannel = {
  send: (message, callback) => {
    if (process.send === undefined) return callback(new Error("no IPC channel to the primary"));
    process.send(message, undefined, {}, callback);
  },
  on: (event, listener) => process.on(event, listener),
};

/**
 * In a worker: answers the primary's requests for this worker's metrics, and
 * returns what `/metrics` serves: the primary's sum over every worker. Rejects
 * with {@link MetricsUnavailable} (503) when the primary does not answer
 * within `timeoutMs` or reports a worker that did not.
 */
export function workerMetrics(
  local: Pick<Metrics, "collect" | "contentType">,
  channel: PrimaryChannel = processChannel,
  timeoutMs = SCRAPE_TIMEOUT_MS,
): { render(): Promise<string>; readonly contentType: string } {
  const pending = new Map<number, { resolve: (text: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  let next = 0;
  const ignore = () => {};
  channel.on("message", (message) => {
    if (!isMessage(message) || message.id === undefined) return;
    if (message.type === COLLECT) {
      const id = message.id;
      local.collect().then(
        (metrics) => channel.send({ type: COLLECTED, id, metrics: toWire(metrics) }, ignore),
        (err: unknown) => channel.send({ type: COLLECTED, id, error: String(err) }, ignore),
      );
    } else if (message.type === SCRAPED) {
      const request = pending.get(message.id);
      if (request === undefined) return; // answered after the timeout
      pending.delete(message.id);
      clearTimeout(request.timer);
      if (message.text !== undefined) request.resolve(message.text);
      else request.reject(new MetricsUnavailable(message.error ?? "the primary sent no metrics"));
    }
  });
  channel.send({ type: READY }, ignore);
  return {
    contentType: local.contentType,
    render: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new MetricsUnavailable(`the primary process did not answer within ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve, reject, timer });
        channel.send({ type: SCRAPE, id }, (err) => {
          if (err === null || !pending.delete(id)) return;
          clearTimeout(timer);
          reject(new MetricsUnavailable(`cannot reach the primary process: ${err.message}`));
        });
      }),
  };
}

/** Published with the sum: how many workers' metrics it holds. */
const workersGauge = (count: number) => ({
  name: "token_blacklist_workers",
  help: "Worker processes whose metrics this scrape sums (WORKERS=N).",
  type: "gauge",
  aggregator: "sum",
  values: [{ value: count, labels: {} }],
});

/** One scrape's collection: the workers asked, and their answers so far. */
interface Collection {
  answer(worker: Worker, message: Message): void;
  /** The worker exited or its channel closed: its metrics are gone, sum the others. */
  gone(worker: Worker): void;
}

/**
 * In the primary: answers the workers' {@link SCRAPE} requests with the sum of
 * every ready worker's metrics. A worker that has not answered within
 * `timeoutMs` fails the scrape (a partial sum would look like a counter reset);
 * a worker that exits meanwhile is left out, and its counts with it.
 */
export function serveWorkerMetrics(timeoutMs = COLLECT_TIMEOUT_MS): void {
  const ready = new Set<Worker>();
  const collections = new Map<number, Collection>();
  let next = 0;
  const reply = (worker: Worker, message: Message) => {
    if (worker.isConnected()) worker.send(message, undefined, {}, () => {});
  };
  const collect = () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const workers = [...ready].filter((worker) => worker.isConnected()).sort((a, b) => a.id - b.id);
      const answers = new Map<Worker, CollectedMetrics>();
      const waiting = new Set(workers);
      const finish = () => {
        collections.delete(id);
        clearTimeout(timer);
      };
      const settle = () => {
        if (waiting.size > 0) return;
        finish();
        // In worker order, so an aggregator `first` takes the oldest worker's value.
        const arrays: object[][] = workers.flatMap((worker) => {
          const metrics = answers.get(worker);
          return metrics === undefined ? [] : [metrics];
        });
        arrays.push([workersGauge(arrays.length)]);
        try {
          AggregatorRegistry.aggregate(arrays).metrics().then(resolve, reject);
        } catch (err) {
          reject(err);
        }
      };
      const timer = setTimeout(() => {
        finish();
        const late = [...waiting].map((worker) => `${worker.id} (pid ${worker.process.pid})`).join(", ");
        reject(new Error(`worker ${late} did not send its metrics within ${timeoutMs} ms`));
      }, timeoutMs);
      collections.set(id, {
        answer(worker, message) {
          if (!waiting.delete(worker)) return;
          if (message.metrics === undefined) {
            finish();
            reject(new Error(`worker ${worker.id} (pid ${worker.process.pid}) could not collect its metrics: ${message.error}`));
            return;
          }
          try {
            answers.set(worker, fromWire(message.metrics));
          } catch (err) {
            finish();
            reject(new Error(`worker ${worker.id} (pid ${worker.process.pid}) sent metrics that cannot be read: ${String(err)}`));
            return;
          }
          settle();
        },
        gone(worker) {
          if (waiting.delete(worker)) settle();
        },
      });
      for (const worker of workers) {
        worker.send({ type: COLLECT, id }, undefined, {}, (err) => {
          if (err !== null) collections.get(id)?.gone(worker);
        });
      }
      settle(); // no worker ready: an empty sum
    });

  cluster.on("message", (worker, message: unknown) => {
    if (!isMessage(message)) return;
    if (message.type === READY) {
      ready.add(worker);
    } else if (message.type === COLLECTED && message.id !== undefined) {
      collections.get(message.id)?.answer(worker, message);
    } else if (message.type === SCRAPE && message.id !== undefined) {
      const id = message.id;
      collect().then(
        (text) => reply(worker, { type: SCRAPED, id, text }),
        (err: unknown) => reply(worker, { type: SCRAPED, id, error: err instanceof Error ? err.message : String(err) }),
      );
    }
  });
  const forget = (worker: Worker) => {
    ready.delete(worker);
    for (const collection of collections.values()) collection.gone(worker);
  };
  cluster.on("disconnect", forget);
  cluster.on("exit", forget);
}
