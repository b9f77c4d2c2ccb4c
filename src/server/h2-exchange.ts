import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { type Exchange, RequestCancelled } from "./exchange.js";
import { chunksOf, readWholeBody } from "./h1-exchange.js";

/**
 * A raw HTTP/2 stream as an {@link Exchange}: documented ServerHttp2Stream
 * calls only (respond, end, sendTrailers on wantTrailers, close), no
 * compatibility request/response pair. A response sent before the request
 * ended is followed by RST_STREAM(NO_ERROR), which tells the client to stop
 * sending without touching other streams (RFC 9113 section 8.1).
 */
export function h2Exchange(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, encrypted: boolean): Exchange {
  let controller: AbortController | undefined;
  let finished = false;
  let trailersExpected = false;
  let extra: OutgoingHttpHeaders | undefined;
  // Once the response is complete, a request still being sent is stopped with RST_STREAM(NO_ERROR).
  // Checked then, not when the response starts: a streamed answer reads the request as it goes.
  const stopReadingRequest = () => {
    if (!stream.readableEnded && !stream.destroyed) stream.close(constants.NGHTTP2_NO_ERROR);
  };
  const sendTrailersThenStop = (trailers: OutgoingHttpHeaders) =>
    stream.once("wantTrailers", () => {
      stream.sendTrailers(trailers);
      setImmediate(stopReadingRequest); // Node writes the trailers on a later tick
    });
  return {
    httpVersion: "2",
    method: (headers[":method"] as string | undefined) ?? "GET",
    target: (headers[":path"] as string | undefined) ?? "/",
    authority: (headers[":authority"] as string | undefined) ?? headers.host ?? "",
    encrypted,
    headers,
    readBody: (maxBytes, tooLarge) => readWholeBody(stream, maxBytes, tooLarge),
    bodyChunks: () => chunksOf(stream),
    get signal() {
      if (controller === undefined) {
        controller = new AbortController();
        const abort = () => {
          if (!finished) controller!.abort(new RequestCancelled("the client went away"));
        };
        if (stream.destroyed) abort();
        else stream.once("close", abort);
      }
      return controller.signal;
    },
    get responded() {
      return stream.headersSent;
    },
    setResponseHeader(name, value) {
      extra ??= {};
      extra[name.toLowerCase()] = value;
    },
    respond(status, responseHeaders, body, trailers) {
      if (stream.destroyed || stream.headersSent) return;
      const endStream = body === undefined && trailers === undefined;
      stream.respond({ ...extra, ...responseHeaders, ":status": status }, { endStream, waitForTrailers: trailers !== undefined });
      finished = endStream;
      if (endStream) return stopReadingRequest();
      stream.once("finish", () => (finished = true));
      if (trailers !== undefined) sendTrailersThenStop(trailers);
      else stream.once("finish", stopReadingRequest);
      stream.end(body);
    },
    start(status, responseHeaders, withTrailers) {
      if (stream.destroyed || stream.headersSent) return;
      stream.respond({ ...extra, ...responseHeaders, ":status": status }, { waitForTrailers: withTrailers });
      trailersExpected = withTrailers;
      stream.once("finish", () => (finished = true));
    },
    write: (chunk) =>
      new Promise((resolve, reject) => {
        if (stream.destroyed) return reject(new RequestCancelled("the client went away"));
        if (stream.write(chunk)) resolve();
        else stream.once("drain", resolve);
      }),
    end(trailers?: OutgoingHttpHeaders) {
      if (stream.destroyed) return;
      // A stream started with trailers waits for them: send them, empty if need be.
      if (trailersExpected) sendTrailersThenStop(trailers ?? {});
      else stream.once("finish", stopReadingRequest);
      stream.end();
    },
    reset() {
      stream.close(constants.NGHTTP2_CANCEL);
    },
  };
}
