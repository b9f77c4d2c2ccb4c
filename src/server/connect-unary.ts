import { type DescMethod, type DescService, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UnaryHandler } from "../service/types.js";
import { connectErrorBody, httpStatusOf, requestTooLarge } from "./errors.js";
import type { Exchange } from "./exchange.js";
import { messageFromJson, parseJsonBody } from "./json-request.js";
import { createBinaryWriter } from "./proto-binary-writer.js";
import { createJsonWriter } from "./proto-json-writer.js";
import { runUnary } from "./unary-call.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";

/** Options for {@link createConnectUnary}. */
export interface ConnectUnaryOptions {
  service: DescService;
  /** Handlers by the RPC's local name (`info`, `blacklist`...). */
  impls: Readonly<Record<string, UnaryHandler>>;
  readMaxBytes: number;
  onInternalError: (err: unknown) => void;
}

interface Target {
  method: DescMethod;
  handler: UnaryHandler;
  json: (init: Record<string, unknown>) => unknown;
  binary: (init: Record<string, unknown>) => Uint8Array;
}

const JSON_TYPE = { "content-type": "application/json" };
const PROTO_TYPE = { "content-type": "application/proto" };

/**
 * The Connect protocol's unary POST (JSON or binary, uncompressed) for the
 * service's unary RPCs, on HTTP/1.1 and HTTP/2 alike: what `curl -d '{}'`
 * and `createConnectTransport` clients send. Connect's own handler costs
 * about three times what a REST route does per call; this path costs what
 * REST costs. Compressed bodies, GET requests and streaming are left to
 * Connect's handlers. Returns false for what it does not serve exactly.
 */
export function createConnectUnary(options: ConnectUnaryOptions): (exchange: Exchange) => boolean {
  const targets = new Map<string, Target>();
  for (const method of options.service.methods) {
    const handler = options.impls[method.localName];
    if (method.methodKind === "unary" && handler !== undefined) {
      targets.set(`/${options.service.typeName}/${method.name}`, {
        method,
        handler,
        json: createJsonWriter(method.output, "json"),
        binary: createBinaryWriter(method.output),
      });
    }
  }
  return (exchange) => {
    if (exchange.method !== "POST") return false;
    const target = targets.get(exchange.target);
    if (target === undefined) return false;
    const { headers } = exchange;
    const codec = codecOf(headers["content-type"]);
    if (codec === undefined) return false;
    const encoding = headers["content-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const version = headers["connect-protocol-version"];
    if (version !== undefined && version !== "1") return false; // Connect's handler refuses it properly
    void serve(exchange, target, codec, options);
    return true;
  };
}

/** "json" or "binary" for a Connect unary content type, or undefined for anything else. */
function codecOf(contentType: string | undefined): "json" | "binary" | undefined {
  if (contentType === undefined) return undefined;
  const type = contentType.toLowerCase();
  if (type === "application/json" || type === "application/json; charset=utf-8" || type === "application/json;charset=utf-8") return "json";
  if (type === "application/proto") return "binary";
  return undefined;
}

async function serve(exchange: Exchange, target: Target, codec: "json" | "binary", options: ConnectUnaryOptions): Promise<void> {
  const { method } = target;
  const outcome = await runUnary(exchange, {
    handler: target.handler,
    protocol: "connect",
    decode: async () => {
      const body = await exchange.readBody(options.readMaxBytes, () => requestTooLarge(options.readMaxBytes));
      if (codec === "json") return messageFromJson(method.input, parseJsonBody(body.toString("utf8")));
      try {
        return fromBinary(method.input, body);
      } catch (err) {
        throw refusal(
          Code.InvalidArgument,
          ErrorReason.REQUEST_MALFORMED,
          `cannot decode ${method.input.typeName}: ${(err as Error).message}`,
        );
      }
    },
    onInternalError: options.onInternalError,
  });
  if (outcome.error !== undefined) {
    exchange.respond(httpStatusOf(outcome.error), JSON_TYPE, JSON.stringify(connectErrorBody(outcome.error)));
    return;
  }
  let body: string | Uint8Array;
  try {
    body = codec === "json" ? JSON.stringify(target.json(outcome.response)) : target.binary(outcome.response);
  } catch (err) {
    options.onInternalError(err);
    const error = new ConnectError("cannot encode the response", Code.Internal);
    exchange.respond(httpStatusOf(error), JSON_TYPE, JSON.stringify(connectErrorBody(error)));
    return;
  }
  exchange.respond(200, codec === "json" ? JSON_TYPE : PROTO_TYPE, body);
}
