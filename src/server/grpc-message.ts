import type { Http2ServerRequest, Http2ServerResponse, OutgoingHttpHeaders } from "node:http2";

/**
 * Re-encodes a `grpc-message` value with the gRPC spec's minimal
 * percent-encoding (only bytes outside 0x20-0x7E, and "%"). Connect encodes
 * with `encodeURIComponent`, which is valid, but @grpc/grpc-js decodes with
 * `decodeURI`, so its users would read "header%3A send" instead of
 * "header: send".
 */
function minimalGrpcMessage(value: string): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return value;
  }
  return encodeGrpcMessage(decoded);
}

/** Percent-encodes a status message for `grpc-message` as the gRPC spec asks. */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** For gRPC requests, rewrites `grpc-message` in the headers (trailers-only) and trailers. */
export function encodeGrpcMessagesMinimally(req: Http2ServerRequest, res: Http2ServerResponse): void {
  const contentType = req.headers["content-type"];
  if (contentType === undefined || !contentType.startsWith("application/grpc") || contentType.startsWith("application/grpc-web")) {
    return;
  }
  const rewrite = (headers: OutgoingHttpHeaders | undefined) => {
    const message = headers?.["grpc-message"];
    if (typeof message === "string") headers!["grpc-message"] = minimalGrpcMessage(message);
  };
  const writeHead = res.writeHead.bind(res) as (status: number, headers?: OutgoingHttpHeaders) => Http2ServerResponse;
  res.writeHead = ((status: number, headers?: OutgoingHttpHeaders) => {
    rewrite(headers);
    return writeHead(status, headers);
  }) as Http2ServerResponse["writeHead"];
  const addTrailers = res.addTrailers.bind(res);
  res.addTrailers = (trailers) => {
    rewrite(trailers as OutgoingHttpHeaders);
    addTrailers(trailers);
  };
}
