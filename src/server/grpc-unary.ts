import { type DescMethod, type DescService, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UnaryHandler } from "../service/types.js";
import { grpcStatusHeaders, requestTooLarge } from "./errors.js";
import type { Exchange } from "./exchange.js";
import { createBinaryWriter } from "./proto-binary-writer.js";
import { runUnary } from "./unary-call.js";

/** Options for {@link createGrpcUnary}. */
export interface GrpcUnaryOptions {
  service: DescService;
  /** Handlers by the RPC's local name (`info`, `blacklist`...). */
  impls: Readonly<Record<string, UnaryHandler>>;
  readMaxBytes: number;
  onInternalError: (err: unknown) => void;
}

/** A method this path serves, with its handler and response encoder. */
interface Target {
  method: DescMethod;
  handler: UnaryHandler;
  encode: (init: Record<string, unknown>) => Uint8Array;
}

const GRPC_HEADERS = { "content-type": "application/grpc" };
const OK_TRAILERS = { "grpc-status": "0" };

/**
 * Plain gRPC (HTTP/2, binary protobuf, uncompressed) for the service's unary
 * RPCs, on h2c and TLS alike. Connect's gRPC handler spends most of a call on
 * per-request async-iterable plumbing (about 4k calls/s here, against about
 * 19k for grpc-js), so these calls are answered here; everything else gRPC
 * (compressed messages, streaming, health, reflection) is left to Connect.
 * Returns false for what it does not serve exactly.
 */
export function createGrpcUnary(options: GrpcUnaryOptions): (exchange: Exchange) => boolean {
  const targets = new Map<string, Target>();
  for (const method of options.service.methods) {
    const handler = options.impls[method.localName];
    if (method.methodKind === "unary" && handler !== undefined) {
      targets.set(`/${options.service.typeName}/${method.name}`, { method, handler, encode: createBinaryWriter(method.output) });
    }
  }
  return (exchange) => {
    if (exchange.httpVersion !== "2" || exchange.method !== "POST") return false;
    const target = targets.get(exchange.target);
    if (target === undefined) return false;
    const { headers } = exchange;
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    void serve(exchange, target, options);
    return true;
  };
}

async function serve(exchange: Exchange, { method, handler, encode }: Target, options: GrpcUnaryOptions): Promise<void> {
  const outcome = await runUnary(exchange, {
    handler,
    protocol: "grpc",
    decode: async () => {
      const envelope = await readEnvelope(exchange, options.readMaxBytes);
      try {
        return fromBinary(method.input, envelope);
      } catch (err) {
        throw new ConnectError(`cannot decode ${method.input.typeName}: ${(err as Error).message}`, Code.InvalidArgument);
      }
    },
    onInternalError: options.onInternalError,
  });
  if (outcome.error !== undefined) {
    // Trailers-only: one HEADERS frame with the status, ending the stream.
    exchange.respond(200, { ...GRPC_HEADERS, ...grpcStatusHeaders(outcome.error) });
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = encode(outcome.response);
  } catch (err) {
    options.onInternalError(err);
    exchange.respond(200, { ...GRPC_HEADERS, ...grpcStatusHeaders(new ConnectError("cannot encode the response", Code.Internal)) });
    return;
  }
  const frame = Buffer.allocUnsafe(5 + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  exchange.respond(200, GRPC_HEADERS, frame, OK_TRAILERS);
}

/** Reads the one length-prefixed message of a unary gRPC request. */
async function readEnvelope(exchange: Exchange, maxBytes: number): Promise<Uint8Array> {
  const body = await exchange.readBody(maxBytes + 5, () => requestTooLarge(maxBytes));
  if (body.length < 5) throw new ConnectError("missing request message", Code.InvalidArgument);
  if (body[0] !== 0) throw new ConnectError("compressed message without grpc-encoding", Code.Internal);
  if (body.length !== 5 + body.readUInt32BE(1)) throw new ConnectError("a unary request holds exactly one message", Code.InvalidArgument);
  return body.subarray(5);
}
