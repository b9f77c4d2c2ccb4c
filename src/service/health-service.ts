import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { type Health, HealthCheckResponse_ServingStatus as Status } from "../../gen/health/v1/health_pb.js";

/** Options for {@link createHealthService}. */
export interface HealthOptions {
  /** The services whose health is reported; "" is the server as a whole. */
  services: readonly string[];
  /** True while requests can be served (the revocation store answers). */
  ready: () => Promise<boolean>;
  /** How often Watch re-checks. */
  watchIntervalMs?: number;
}

/**
 * `grpc.health.v1.Health`: Check, Watch and List. Every listed service is
 * SERVING exactly while the store answers, since none can work without it.
 */
export function createHealthService(options: HealthOptions): ServiceImpl<typeof Health> {
  const known = new Set(["", ...options.services]);
  const status = async () => ((await options.ready()) ? Status.SERVING : Status.NOT_SERVING);
  return {
    async check(request) {
      if (!known.has(request.service)) {
        throw new ConnectError(`unknown service ${request.service}`, Code.NotFound);
      }
      return { status: await status() };
    },
    async *watch(request, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const current = known.has(request.service) ? await status() : Status.SERVICE_UNKNOWN;
        if (current !== last) {
          last = current;
          yield { status: current };
        }
        await sleep(options.watchIntervalMs ?? 1000, ctx.signal);
      }
    },
    async list() {
      const current = await status();
      return { statuses: Object.fromEntries([...known].map((name) => [name, { status: current }])) };
    },
  };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}
