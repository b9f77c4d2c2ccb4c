import type { IncomingHttpHeaders, ServerHttp2Stream } from "node:http2";
import { fromBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { CallContext, UnaryHandler } from "../service/call.js";
import { createBinaryWriter } from "./grpc-binary.js";
import { encodeGrpcMessage } from "./grpc-message.js";
import { headerValue } from "./header-value.js";
import { readBody } from "./read-body.js";

/** Options for {@link createGrpcUnaryFastPath}. */
export interface GrpcUnaryOptions {
  service: DescService;
  /** Handlers by the RPC's local name (`info`, `blacklist`...). */
  impls: Readonly<Record<string, UnaryHandler>>;
  readMaxBytes: number;
  onInternalError: (err: unknown) => void;
}

/**
 * Plain gRPC (HTTP/2, binary protobuf, uncompressed) for the service's unary
 * RPCs, without Connect's general machinery: Connect's gRPC handler spends
 * most of a call on per-request AbortSignals and async-iterable plumbing
 * (about 4k calls/s here, against about 19k for grpc-js). Returns false for
 * anything it does not serve exactly (other services, streaming, gRPC-Web,
 * JSON, compression), which then goes to Connect as before. It works on the
 * raw HTTP/2 stream: the compatibility request/response pair Node builds for
 * every call is most of the garbage an h2 call makes.
 */
export function createGrpcUnaryFastPath(options: GrpcUnaryOptions) {
  const methods = new Map<string, Target>();
  for (const method of options.service.methods) {
    const impl = options.impls[method.localName];
    if (method.methodKind === "unary" && impl !== undefined) {
      methods.set(`/${options.service.typeName}/${method.name}`, { method, impl, encode: createBinaryWriter(method.output) });
    }
  }
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders): boolean => {
    if (headers[":method"] !== "POST") return false;
    const target = methods.get(headers[":path"] ?? "");
    if (target === undefined) return false;
    const contentType = headers["content-type"];
    if (contentType !== "application/grpc" && contentType !== "application/grpc+proto") return false;
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    serve(target, stream, headers, options).catch((err: unknown) => {
      options.onInternalError(err);
      if (!stream.headersSent) sendStatus(stream, new ConnectError("internal error", Code.Internal));
      else stream.close();
    });
    return true;
  };
}

/** A method this fast path serves, with its handler and response encoder. */
interface Target {
  method: DescMethod;
  impl: UnaryHandler;
  encode: (init: Record<string, unknown>) => Uint8Array;
}

async function serve(
  { method, impl, encode }: Target,
  stream: ServerHttp2Stream,
  headers: IncomingHttpHeaders,
  options: GrpcUnaryOptions,
): Promise<void> {
  let request: unknown;
  try {
    const envelope = await readEnvelope(stream, options.readMaxBytes);
    request = fromBinary(method.input, envelope);
  } catch (err) {
    const error = err instanceof ConnectError ? err : new ConnectError(`cannot decode request: ${String(err)}`, Code.InvalidArgument);
    sendStatus(stream, error);
    return;
  }
  let response: unknown;
  try {
    const ctx: CallContext = {
      requestHeader: { get: (name) => headerValue(headers[name]) },
      protocolName: "grpc",
    };
    response = await impl(request, ctx);
  } catch (err) {
    if (!(err instanceof ConnectError)) throw err;
    sendStatus(stream, err);
    return;
  }
  const bytes = encode(response as Record<string, unknown>);
  const frame = Buffer.allocUnsafe(5 + bytes.length);
  frame[0] = 0;
  frame.writeUInt32BE(bytes.length, 1);
  frame.set(bytes, 5);
  if (stream.destroyed) return; // the client went away
  stream.respond({ ":status": 200, "content-type": "application/grpc" }, { waitForTrailers: true });
  stream.once("wantTrailers", () => stream.sendTrailers({ "grpc-status": "0" }));
  stream.end(frame);
}

/** Reads the one length-prefixed message of a unary gRPC request. */
async function readEnvelope(stream: ServerHttp2Stream, maxBytes: number): Promise<Uint8Array> {
  const tooLarge = () => new ConnectError(`message larger than ${maxBytes} bytes`, Code.ResourceExhausted);
  const body = await readBody(stream, maxBytes + 5, tooLarge);
  if (body.length < 5) throw new ConnectError("missing request message", Code.InvalidArgument);
  if (body[0] !== 0) throw new ConnectError("compressed message without grpc-encoding", Code.Internal);
  if (body.length !== 5 + body.readUInt32BE(1)) {
    throw new ConnectError("a unary request holds exactly one message", Code.InvalidArgument);
  }
  return body.subarray(5);
}

/** A trailers-only error response: one HEADERS frame with the status, ending the stream. */
function sendStatus(stream: ServerHttp2Stream, err: ConnectError): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    {
      ":status": 200,
      "content-type": "application/grpc",
      "grpc-status": String(err.code),
      "grpc-message": encodeGrpcMessage(err.rawMessage),
    },
    { endStream: true },
  );
}
