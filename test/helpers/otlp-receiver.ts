import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { BinaryReader, type WireType } from "@bufbuild/protobuf/wire";

/** A span as the receiver decoded it: ids in hex, attributes as plain values. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  traceState: string;
  name: string;
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  /** The resource's attributes (service.name...). */
  resource: Record<string, string | number | boolean>;
}

/** An OTLP/HTTP collector for tests: `POST /v1/traces` with protobuf bodies, decoded by hand. */
export interface OtlpReceiver {
  /** What OTEL_EXPORTER_OTLP_ENDPOINT is set to. */
  endpoint: string;
  spans: ReceivedSpan[];
  /** Every request body as it arrived (after gzip, if any): to search for what must never be exported. */
  bodies: Buffer[];
  close(): Promise<void>;
}

/** Starts the receiver on a free port. */
export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const bodies: Buffer[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method !== "POST" || req.url !== "/v1/traces") {
        res.writeHead(404).end();
        return;
      }
      let body = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
      bodies.push(body);
      try {
        spans.push(...decodeExportRequest(body));
      } catch (err) {
        res.writeHead(400, { "content-type": "text/plain" }).end(String(err));
        return;
      }
      // An empty ExportTraceServiceResponse: everything accepted.
      res.writeHead(200, { "content-type": "application/x-protobuf", "content-length": 0 }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    bodies,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Calls `read(field, wireType)` for each field of the message in `bytes`; unread fields are skipped. */
function fields(bytes: Uint8Array, read: (field: number, wireType: WireType, reader: BinaryReader) => boolean): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [field, wireType] = reader.tag();
    if (!read(field, wireType, reader)) reader.skip(wireType);
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

/** ExportTraceServiceRequest: resource_spans(1) -> resource(1), scope_spans(2) -> spans(2). */
function decodeExportRequest(body: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  fields(body, (field, _type, reader) => {
    if (field !== 1) return false;
    const resource: ReceivedSpan["resource"] = {};
    const scopeSpans: Uint8Array[] = [];
    fields(reader.bytes(), (f, _t, r) => {
      // Resource: attributes(1).
      if (f === 1) fields(r.bytes(), (rf, _rt, rr) => rf === 1 && Object.assign(resource, keyValue(rr.bytes())) !== undefined);
      else if (f === 2) scopeSpans.push(r.bytes());
      else return false;
      return true;
    });
    for (const scope of scopeSpans) {
      fields(scope, (f, _t, r) => {
        if (f !== 2) return false;
        out.push({ ...decodeSpan(r.bytes()), resource });
        return true;
      });
    }
    return true;
  });
  return out;
}

/** Span: trace_id(1), span_id(2), trace_state(3), parent_span_id(4), name(5), kind(6), attributes(9), status(15). */
function decodeSpan(bytes: Uint8Array): Omit<ReceivedSpan, "resource"> {
  const span: Omit<ReceivedSpan, "resource"> = {
    traceId: "",
    spanId: "",
    parentSpanId: "",
    traceState: "",
    name: "",
    kind: 0,
    attributes: {},
    status: { code: 0, message: "" },
  };
  fields(bytes, (field, _type, reader) => {
    if (field === 1) span.traceId = hex(reader.bytes());
    else if (field === 2) span.spanId = hex(reader.bytes());
    else if (field === 3) span.traceState = reader.string();
    else if (field === 4) span.parentSpanId = hex(reader.bytes());
    else if (field === 5) span.name = reader.string();
    else if (field === 6) span.kind = reader.int32();
    else if (field === 9) Object.assign(span.attributes, keyValue(reader.bytes()));
    else if (field === 15) {
      // Status: message(2), code(3).
      fields(reader.bytes(), (f, _t, r) => {
        if (f === 2) span.status.message = r.string();
        else if (f === 3) span.status.code = r.int32();
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return span;
}

/** KeyValue: key(1), value(2) AnyValue: string_value(1), bool_value(2), int_value(3), double_value(4). */
function keyValue(bytes: Uint8Array): Record<string, string | number | boolean> {
  let key = "";
  let value: string | number | boolean = "";
  fields(bytes, (field, _type, reader) => {
    if (field === 1) key = reader.string();
    else if (field === 2) {
      fields(reader.bytes(), (f, _t, r) => {
        if (f === 1) value = r.string();
        else if (f === 2) value = r.bool();
        else if (f === 3) value = Number(r.int64());
        else if (f === 4) value = r.double();
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return { [key]: value };
}
