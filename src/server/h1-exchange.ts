import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import { type Exchange, RequestCancelled } from "./exchange.js";

/**
 * An HTTP/1.1 request on Node's http.Server as an {@link Exchange}. A
 * response sent before the request body was read to its end carries
 * `Connection: close`: HTTP/1.1 cannot stop one request, so the connection goes.
 */
export function h1Exchange(req: IncomingMessage, res: ServerResponse, encrypted: boolean): Exchange {
  let controller: AbortController | undefined;
  let finished = false;
  res.once("finish", () => (finished = true));
  const closeIfUnread = (headers: OutgoingHttpHeaders) => (req.complete ? headers : { ...headers, connection: "close" });
  return {
    httpVersion: "1.1",
    method: req.method ?? "GET",
    target: req.url ?? "/",
    authority: req.headers.host ?? "",
    encrypted,
    headers: req.headers,
    readBody: (maxBytes, tooLarge) => readWholeBody(req, maxBytes, tooLarge),
    bodyChunks: () => chunksOf(req),
    get signal() {
      if (controller === undefined) {
        controller = new AbortController();
        const abort = () => {
          if (!finished) controller!.abort(new RequestCancelled("the client went away"));
        };
        if (res.closed || req.socket.destroyed) abort();
        else res.once("close", abort);
      }
      return controller.signal;
    },
    get responded() {
      return res.headersSent;
    },
    setResponseHeader(name, value) {
      if (!res.headersSent) res.setHeader(name, value);
    },
    respond(status, headers, body) {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, closeIfUnread(headers));
      res.end(body);
    },
    start(status, headers) {
      res.writeHead(status, closeIfUnread(headers));
    },
    write: (chunk) =>
      new Promise((resolve, reject) => {
        if (res.destroyed) return reject(new RequestCancelled("the client went away"));
        if (res.write(chunk)) resolve();
        else res.once("drain", resolve);
      }),
    end() {
      if (!res.destroyed) res.end();
    },
    reset() {
      req.socket.destroy();
    },
  };
}

/** Collects a request body up to `maxBytes`; past it, discards the rest and rejects with `tooLarge()`. */
export function readWholeBody(
  req: NodeJS.ReadableStream & {
    complete?: boolean;
    readableEnded?: boolean;
    once(event: string, listener: (...args: never[]) => void): unknown;
  },
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (error: Error | undefined, body?: Buffer) => {
      if (settled) return;
      settled = true;
      req.removeListener("end", onEnd);
      req.removeListener("close", onClose);
      if (error === undefined) resolve(body!);
      else reject(error);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) chunks.push(chunk);
      else if (!settled) {
        chunks.length = 0;
        settle(tooLarge()); // keep reading (and dropping) so the stream can finish
      }
    };
    const onEnd = () => settle(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    const onClose = () => settle(new RequestCancelled("the client cancelled the request before sending all of it"));
    req.on("data", onData);
    req.once("end", onEnd);
    req.once("close", onClose);
    req.on("error", () => settle(new RequestCancelled("the request failed before it was complete")));
  });
}

/** A request body as async chunks; a body cut short ends in {@link RequestCancelled}. */
export async function* chunksOf(req: AsyncIterable<unknown>): AsyncIterable<Uint8Array> {
  try {
    for await (const chunk of req) yield chunk as Uint8Array;
  } catch {
    throw new RequestCancelled("the client cancelled the request before sending all of it");
  }
}
