import * as net from "node:net";
import * as tls from "node:tls";

/**
 * Hand-written HTTP/2 frames (RFC 9113), for clients that must do what no
 * well-behaved library does: stop after HEADERS, reset at will, flood. Header
 * blocks use HPACK literals without indexing or Huffman coding (RFC 7541
 * 6.2.2), which every decoder must accept.
 */
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export const FrameType = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8 } as const;
export const Flags = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
/** RST_STREAM and GOAWAY error codes. */
export const ErrorCode = { NO_ERROR: 0, PROTOCOL_ERROR: 1, CANCEL: 8, ENHANCE_YOUR_CALM: 0xb, REFUSED_STREAM: 7 } as const;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 5.1). */
function hpackInteger(value: number, prefixBits: number, firstByteHigh = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstByteHigh | value]);
  const bytes = [firstByteHigh | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/** A header block of literals without indexing, new names, no Huffman. */
export function headerBlock(headers: Record<string, string>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name.toLowerCase(), "latin1");
    const v = Buffer.from(value, "latin1");
    parts.push(Buffer.from([0x00]), hpackInteger(n.length, 7), n, hpackInteger(v.length, 7), v);
  }
  return Buffer.concat(parts);
}

export const settings = (values: Record<number, number> = {}) => {
  const payload = Buffer.alloc(6 * Object.keys(values).length);
  Object.entries(values).forEach(([id, value], i) => {
    payload.writeUInt16BE(Number(id), i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
};
export const settingsAck = () => frame(FrameType.SETTINGS, Flags.ACK, 0);
export const headers = (streamId: number, fields: Record<string, string>, endStream: boolean) =>
  frame(FrameType.HEADERS, Flags.END_HEADERS | (endStream ? Flags.END_STREAM : 0), streamId, headerBlock(fields));
export const data = (streamId: number, payload: Buffer | string, endStream: boolean) =>
  frame(FrameType.DATA, endStream ? Flags.END_STREAM : 0, streamId, Buffer.from(payload));
export const rstStream = (streamId: number, code: number = ErrorCode.CANCEL) => {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
};

/** The frames a server sent, parsed as they arrive. */
export interface ReceivedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A raw HTTP/2 connection: the preface and a SETTINGS frame are sent; frames in are collected. */
export interface RawH2Connection {
  socket: net.Socket;
  frames: ReceivedFrame[];
  /** Resolves once the server has closed the connection (or it errored). */
  closed: Promise<void>;
  send(...chunks: Buffer[]): void;
  /** Resolves with the first frame received that matches, waiting for it up to `timeoutMs`. */
  waitFor(match: (frame: ReceivedFrame) => boolean, timeoutMs?: number): Promise<ReceivedFrame>;
}

/** Connects (TLS with ALPN h2 when `ca` is given), sends the preface and SETTINGS, ACKs the server's SETTINGS. */
export function rawH2(port: number, options: { ca?: Buffer } = {}): Promise<RawH2Connection> {
  return new Promise((resolve, reject) => {
    const socket =
      options.ca === undefined
        ? net.connect(port, "127.0.0.1")
        : tls.connect({ port, host: "127.0.0.1", ca: options.ca, servername: "localhost", ALPNProtocols: ["h2"] });
    const frames: ReceivedFrame[] = [];
    const waiters: Array<() => void> = [];
    let buffer = Buffer.alloc(0);
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    socket.on("close", () => {
      resolveClosed();
      for (const w of waiters.splice(0)) w();
    });
    socket.on("error", () => socket.destroy());
    socket.on("data", (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        const received = {
          type: buffer[3]!,
          flags: buffer[4]!,
          streamId: buffer.readUInt32BE(5) & 0x7fffffff,
          payload: buffer.subarray(9, 9 + length),
        };
        buffer = buffer.subarray(9 + length);
        frames.push(received);
        if (received.type === FrameType.SETTINGS && (received.flags & Flags.ACK) === 0 && !socket.destroyed) socket.write(settingsAck());
        for (const w of waiters.splice(0)) w();
      }
    });
    const connection: RawH2Connection = {
      socket,
      frames,
      closed,
      send: (...chunks) => {
        if (!socket.destroyed) socket.write(Buffer.concat(chunks));
      },
      waitFor: (match, timeoutMs = 5000) =>
        new Promise((resolveFrame, rejectFrame) => {
          const deadline = Date.now() + timeoutMs;
          const check = () => {
            const found = frames.find(match);
            if (found !== undefined) return resolveFrame(found);
            if (socket.destroyed || Date.now() > deadline) return rejectFrame(new Error("no such frame arrived"));
            waiters.push(check);
            setTimeout(check, Math.max(0, deadline - Date.now())).unref();
          };
          check();
        }),
    };
    socket.once(options.ca === undefined ? "connect" : "secureConnect", () => {
      socket.write(Buffer.concat([PREFACE, settings()]));
      resolve(connection);
    });
    socket.once("error", reject);
  });
}
