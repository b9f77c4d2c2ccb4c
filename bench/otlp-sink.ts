import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** An OTLP/HTTP endpoint that accepts every export and keeps nothing: where the traced rows send their spans. */
export interface OtlpSink {
  /** For OTEL_EXPORTER_OTLP_ENDPOINT. */
  endpoint: string;
  stop(): Promise<void>;
}

/** Starts the sink on a free port of 127.0.0.1. */
export async function startOtlpSink(): Promise<OtlpSink> {
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": 0 }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
