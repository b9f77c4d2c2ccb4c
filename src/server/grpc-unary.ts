import { type DescMethod, type DescService, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UnaryHandler } from "../service/types.js";
import { grpcStatusHeaders, requestTooLarge } from "./errors.js";
import type { Exchange } from "./exchange.js";
import { createBinaryWriter } from "./proto-binary-writer.js";
import { runUnary } from "./unary-call.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";

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
/** gRPC-Web's trailers: a length-prefixed frame with flag 0x80 at the end of the body. */
const GRPC_WEB_OK_TRAILER = Buffer.from([0x80, 0, 0, 0, 15, ...Buffer.from("grpc-status:0\r\n")]);

/**
 * Plain gRPC (HTTP/2, binary protobuf, uncompressed) and binary gRPC-Web
 * (HTTP/1.1 or HTTP/2) for the service's unary RPCs, on h2c and TLS alike.
 * Connect's gRPC handler spends most of a call on per-request async-iterable
 * plumbing (about 4k calls/s here, against about 19k for grpc-js), so these
 * calls are answered here, with the same codes, messages and ErrorInfo as
 * every other path; everything else (compressed messages, streaming, health,
 * reflection) is left to Connect, which does not speak gRPC-Web text (415). Returns false for what
 * it does not serve exactly.
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
    if (exchange.method !== "POST") return false;
    const target = targets.get(exchange.target);
    if (target === undefined) return false;
    const { headers } = exchange;
    const contentType = headers["content-type"];
    const web = contentType === "application/grpc-web" || contentType === "application/grpc-web+proto";
    if (!web && (exchange.httpVersion !== "2" || (contentType !== "application/grpc" && contentType !== "application/grpc+proto"))) {
      return false;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    void serve(exchange, target, options, web ? contentType : undefined);
    return true;
  };
}

/** Serves one call; `webContentType` is the request's content type for gRPC-Web, undefined for gRPC. */
async function serve(
  exchange: Exchange,
  { method, handler, encode }: Target,
  options: GrpcUnaryOptions,
  webContentType: string | undefined,
): Promise<void> {
  const responseHeaders = webContentType === undefined ? GRPC_HEADERS : { "content-type": webContentType };
  const outcome = await runUnary(exchange, {
    handler,
    protocol: webContentType === undefined ? "grpc" : "grpc-web",
    decode: async () => {
      const envelope = await readEnvelope(exchange, options.readMaxBytes);
      try {
        return fromBinary(method.input, envelope);
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
    // Trailers-only (gRPC and gRPC-Web alike): the status in the response headers, no body.
    exchange.respond(200, { ...responseHeaders, ...grpcStatusHeaders(outcome.error) });
    return;
  }
  let bytes: Uint8Array;
  try {
    bytes = encode(outcome.response);
  } catch (err) {
    options.onInternalError(err);
    exchange.respond(200, { ...responseHeaders, ...grpcStatusHeaders(new ConnectError("cannot encode the response", Code.Internal)) });
    return;
  }
  const trailer = webContentType === undefined ? 0 : GRPC_WEB_OK_TRAILER.length;
  const frame = Buffer.allocUnsafe(5 + bytes.length + trailer);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  if (webContentType === undefined) {
    exchange.respond(200, GRPC_HEADERS, frame, OK_TRAILERS);
  } else {
    frame.set(GRPC_WEB_OK_TRAILER, 5 + bytes.length);
    exchange.respond(200, responseHeaders, frame);
  }
}

/** Reads the one length-prefixed message of a unary gRPC request. */
async function readEnvelope(exchange: Exchange, maxBytes: number): Promise<Uint8Array> {
  const body = await exchange.readBody(maxBytes + 5, () => requestTooLarge(maxBytes));
  const malformed = (code: Code, message: string) => refusal(code, ErrorReason.REQUEST_MALFORMED, message);
  if (body.length < 5) throw malformed(Code.InvalidArgument, "missing request message");
  if (body[0] !== 0) throw malformed(Code.Internal, "compressed message without grpc-encoding");
  if (body.length !== 5 + body.readUInt32BE(1)) throw malformed(Code.InvalidArgument, "a unary request holds exactly one message");
  return body.subarray(5);
}
