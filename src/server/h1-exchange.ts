import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import { type Exchange, RequestCancelled } from "./exchange.js";
import { requestIdOf } from "./request-id.js";

const EMPTY = Buffer.alloc(0);

/**
 * Whole answers waiting for the end of this event-loop turn. Written as they
 * are made, answers decided without waiting on anything (the mirror's, a
 * refusal) each go out alone, and each wakes a client that went back to sleep:
 * on a virtual machine that wake-up (an interprocessor interrupt) cost more
 * than the whole rest of a request in mirror mode. Ended together after the
 * turn's reads, they leave as a burst, as answers after a store round trip do.
 * The delay is the rest of one turn.
 */
const endingThisTurn: ServerResponse[] = [];
const bodiesThisTurn: Array<Uint8Array | string | undefined> = [];

function endAtEndOfTurn(res: ServerResponse, body: Uint8Array | string | undefined): void {
  if (endingThisTurn.push(res) === 1) setImmediate(endTurn);
  bodiesThisTurn.push(body);
}

function endTurn(): void {
  try {
    // Answers made while these are written join this loop.
    for (let i = 0; i < endingThisTurn.length; i++) {
      const res = endingThisTurn[i]!;
      try {
        if (!res.destroyed) res.end(bodiesThisTurn[i]);
      } catch (err) {
        res.destroy(err as Error); // this connection's answer failed; the others still go
      }
    }
  } finally {
    endingThisTurn.length = 0;
    bodiesThisTurn.length = 0;
  }
}

/**
 * An HTTP/1.1 request on Node's http.Server as an {@link Exchange}. A
 * response sent before the request body was read to its end carries
 * `Connection: close`: HTTP/1.1 cannot stop one request, so the connection
 * goes. A class, not a closure bag: one is made per request, on the hot path.
 */
export class H1Exchange implements Exchange {
  readonly httpVersion = "1.1";
  private controller: AbortController | undefined;
  private id: string | undefined;
  /** Set once the whole answer is decided ({@link respond}) or ended: a client leaving after that did not cancel anything. */
  private decided = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    readonly encrypted: boolean,
  ) {}

  get method(): string {
    return this.req.method ?? "GET";
  }
  get target(): string {
    return this.req.url ?? "/";
  }
  get authority(): string {
    return this.req.headers.host ?? "";
  }
  get headers() {
    return this.req.headers;
  }

  /** Without Content-Length or Transfer-Encoding an HTTP/1.1 request has no body (RFC 9112 section 6.3): complete with its head. */
  get bodiless(): boolean {
    const { headers } = this.req;
    return headers["content-length"] === undefined && headers["transfer-encoding"] === undefined;
  }

  readBody(maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
    if (this.bodiless) return Promise.resolve(EMPTY);
    // After a microtask: by then Node has parsed whatever of the message arrived with its head.
    return Promise.resolve().then(() => this.bufferedBody(maxBytes, tooLarge) ?? readWholeBody(this.req, maxBytes, tooLarge));
  }

  /**
   * A small body usually arrives with the head, and is in the stream's buffer
   * a microtask later: when the buffer holds all Content-Length bytes, the
   * request is complete and the body is taken with `read()`, without the
   * listeners and promise a streamed read needs (about 40,000 instructions a
   * request here). Undefined when the body is not all there yet.
   */
  private bufferedBody(maxBytes: number, tooLarge: () => Error): Promise<Buffer> | undefined {
    const { req } = this;
    const length = Number(req.headers["content-length"]);
    if (!(length <= req.readableLength)) return undefined; // chunked, or not all here yet
    if (length > maxBytes) return undefined; // the streamed read refuses it and drains the rest
    const chunks: Buffer[] = [];
    for (let chunk = req.read() as Buffer | null; chunk !== null; chunk = req.read() as Buffer | null) chunks.push(chunk);
    const body = chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    return body.length > maxBytes ? Promise.reject(tooLarge()) : Promise.resolve(body);
  }

  bodyChunks(): AsyncIterable<Uint8Array> {
    return chunksOf(this.req);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      // The client left if the connection closed before we ended the response.
      const abort = () => {
        if (!this.decided) controller.abort(new RequestCancelled("the client went away"));
      };
      if (this.res.closed || this.req.socket.destroyed) abort();
      else this.res.once("close", abort);
    }
    return this.controller.signal;
  }

  get responded(): boolean {
    return this.res.headersSent;
  }

  get requestId(): string {
    this.id ??= requestIdOf(this.req.headers["x-request-id"]);
    return this.id;
  }

  setResponseHeader(name: string, value: string): void {
    if (!this.res.headersSent) this.res.setHeader(name, value);
  }

  respond(status: number, headers: OutgoingHttpHeaders, body?: Uint8Array | string): void {
    const { res } = this;
    if (res.headersSent || res.destroyed) return;
    // A length, not chunked encoding: one write for head and body.
    const length = body === undefined ? 0 : typeof body === "string" ? Buffer.byteLength(body) : body.byteLength;
    res.writeHead(status, { ...this.closeIfUnread(headers), "x-request-id": this.requestId, "content-length": length });
    this.decided = true;
    endAtEndOfTurn(res, body);
  }

  start(status: number, headers: OutgoingHttpHeaders): void {
    this.res.writeHead(status, { ...this.closeIfUnread(headers), "x-request-id": this.requestId });
  }

  write(chunk: Uint8Array): Promise<void> {
    const { res } = this;
    return new Promise((resolve, reject) => {
      if (res.destroyed) return reject(new RequestCancelled("the client went away"));
      if (res.write(chunk)) resolve();
      else res.once("drain", resolve);
    });
  }

  end(): void {
    this.decided = true;
    if (!this.res.destroyed) this.res.end();
  }

  reset(): void {
    this.req.socket.destroy();
  }

  private closeIfUnread(headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
    const { req } = this;
    // A request without Content-Length or Transfer-Encoding has no body (RFC 9112 6.3), though Node
    // sets `complete` only after the handler that answers it at once (a probe) has returned.
    const bodiless = req.headers["transfer-encoding"] === undefined && (req.headers["content-length"] ?? "0") === "0";
    return req.complete || bodiless ? headers : { ...headers, connection: "close" };
  }
}

/**
 * Collects a request body up to `maxBytes`; past it, discards the rest and
 * rejects with `tooLarge()`. `reset()` tells an end that is really a
 * cancellation: Node ends an HTTP/2 stream's readable side when the client
 * resets it, with `aborted` already set (test/deadlines-and-cancellation
 * holds this with hand-written frames).
 */
export function readWholeBody(req: Readable, maxBytes: number, tooLarge: () => Error, reset: () => boolean = () => false): Promise<Buffer> {
  // An empty body can have ended before anyone listened (an HTTP/2 stream whose END_STREAM came
  // in an empty DATA frame, read by a handler that starts a turn later): 'end' will not come again.
  if (req.readableEnded) {
    return reset() ? Promise.reject(new RequestCancelled("the client reset the request before sending all of it")) : Promise.resolve(EMPTY);
  }
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
    const onEnd = () =>
      reset()
        ? settle(new RequestCancelled("the client reset the request before sending all of it"))
        : settle(undefined, chunks.length === 0 ? EMPTY : chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
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
