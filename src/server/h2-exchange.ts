import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream, sensitiveHeaders } from "node:http2";
import { type Exchange, RequestCancelled } from "./exchange.js";
import { chunksOf, readWholeBody } from "./h1-exchange.js";
import { requestIdOf } from "./request-id.js";

/**
 * Response headers HPACK must never index: a request id is new on every
 * response, and indexing it would only evict useful entries from both
 * peers' dynamic tables (with 36-character ids that cost about 1.4 µs of
 * server CPU a gRPC call here).
 */
const NEVER_INDEXED = ["x-request-id"];

const EMPTY = Buffer.alloc(0);

/**
 * A raw HTTP/2 stream as an {@link Exchange}: documented ServerHttp2Stream
 * calls only (respond, end, sendTrailers on wantTrailers, close), no
 * compatibility request/response pair. Once a response is complete, a
 * request the client is still sending is stopped with RST_STREAM(NO_ERROR),
 * which ends that stream and no other (RFC 9113 section 8.1).
 */
export class H2Exchange implements Exchange {
  readonly httpVersion = "2";
  private controller: AbortController | undefined;
  private trailersExpected = false;
  /** Set when we end the response. (A reset stream reports writableFinished too, so that cannot tell.) */
  private ended = false;
  private extra: OutgoingHttpHeaders | undefined;
  private id: string | undefined;

  constructor(
    private readonly stream: ServerHttp2Stream,
    readonly headers: IncomingHttpHeaders,
    readonly encrypted: boolean,
  ) {}

  get method(): string {
    return (this.headers[":method"] as string | undefined) ?? "GET";
  }
  get target(): string {
    return (this.headers[":path"] as string | undefined) ?? "/";
  }
  get authority(): string {
    return (this.headers[":authority"] as string | undefined) ?? this.headers.host ?? "";
  }

  /** END_STREAM on the HEADERS frame: the request is complete, with no body. */
  get bodiless(): boolean {
    return this.stream.endAfterHeaders;
  }

  readBody(maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
    if (this.bodiless) return Promise.resolve(EMPTY);
    return readWholeBody(
      this.stream,
      maxBytes,
      tooLarge,
      () => this.stream.aborted || (this.stream.rstCode ?? 0) !== constants.NGHTTP2_NO_ERROR,
    );
  }

  bodyChunks(): AsyncIterable<Uint8Array> {
    return chunksOf(this.stream);
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      // The client left if the stream closed before we ended the response, or was reset with an error code.
      const abort = () => {
        if (!this.ended || (this.stream.rstCode ?? 0) !== constants.NGHTTP2_NO_ERROR)
          controller.abort(new RequestCancelled("the client went away"));
      };
      if (this.stream.destroyed) abort();
      else this.stream.once("close", abort);
    }
    return this.controller.signal;
  }

  get responded(): boolean {
    return this.stream.headersSent;
  }

  get requestId(): string {
    this.id ??= requestIdOf(this.headers["x-request-id"]);
    return this.id;
  }

  setResponseHeader(name: string, value: string): void {
    this.extra ??= {};
    this.extra[name.toLowerCase()] = value;
  }

  respond(status: number, headers: OutgoingHttpHeaders, content?: Uint8Array | string, trailers?: OutgoingHttpHeaders): void {
    const { stream } = this;
    if (stream.destroyed || stream.headersSent) return;
    // A HEAD response is the GET response's head alone (RFC 9110 section 9.3.2): Node ends a HEAD stream at respond(),
    // and a body written after that fails the stream with ERR_STREAM_WRITE_AFTER_END. (HTTP/1.1: Node drops the body.)
    const body = this.method === "HEAD" ? undefined : content;
    const endStream = body === undefined && trailers === undefined;
    this.ended = true;
    stream.respond(this.headersWith(status, headers), { endStream, waitForTrailers: trailers !== undefined });
    if (endStream) {
      this.stopReadingRequest();
      return;
    }
    if (trailers !== undefined) this.sendTrailersThenStop(trailers);
    else if (this.requestOpen()) stream.once("finish", () => this.stopReadingRequest());
    stream.end(body);
  }

  start(status: number, headers: OutgoingHttpHeaders, withTrailers: boolean): void {
    const { stream } = this;
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(this.headersWith(status, headers), { waitForTrailers: withTrailers });
    this.trailersExpected = withTrailers;
  }

  write(chunk: Uint8Array): Promise<void> {
    const { stream } = this;
    return new Promise((resolve, reject) => {
      if (stream.destroyed) return reject(new RequestCancelled("the client went away"));
      if (stream.write(chunk)) resolve();
      else stream.once("drain", resolve);
    });
  }

  end(trailers?: OutgoingHttpHeaders): void {
    const { stream } = this;
    if (stream.destroyed) return;
    // A stream started with trailers waits for them: send them, empty if need be.
    if (this.trailersExpected) this.sendTrailersThenStop(trailers ?? {});
    else stream.once("finish", () => this.stopReadingRequest());
    this.ended = true;
    stream.end();
  }

  reset(): void {
    // INTERNAL_ERROR, not CANCEL: h2-sessions.ts counts CANCEL as the client's reset.
    this.stream.close(constants.NGHTTP2_INTERNAL_ERROR);
  }

  private headersWith(status: number, headers: OutgoingHttpHeaders): OutgoingHttpHeaders {
    const id = this.requestId;
    return this.extra === undefined
      ? { ...headers, "x-request-id": id, ":status": status, [sensitiveHeaders]: NEVER_INDEXED }
      : { ...this.extra, ...headers, "x-request-id": id, ":status": status, [sensitiveHeaders]: NEVER_INDEXED };
  }

  /** True while the client may still be sending the request. */
  private requestOpen(): boolean {
    return !this.stream.readableEnded && !this.stream.endAfterHeaders && !this.stream.destroyed;
  }

  /** Checked once the response is done, not when it starts: a streamed answer reads the request as it goes. */
  private stopReadingRequest(): void {
    if (this.requestOpen()) this.stream.close(constants.NGHTTP2_NO_ERROR);
  }

  private sendTrailersThenStop(trailers: OutgoingHttpHeaders): void {
    this.stream.once("wantTrailers", () => {
      this.stream.sendTrailers(trailers);
      if (this.requestOpen()) setImmediate(() => this.stopReadingRequest()); // Node writes the trailers on a later tick
    });
  }
}
