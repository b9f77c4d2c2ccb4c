/** A RESP2 reply of the kinds a read connection gets: see {@link parseReply}. */
export type RespReply =
  | { kind: "array"; values: Array<string | null> }
  | { kind: "bulk"; value: string | null }
  | { kind: "simple"; text: string }
  | { kind: "error"; message: string }
  /** Not a reply this parser reads (an integer, a nested array, RESP3): the stream cannot be trusted past it. */
  | { kind: "malformed" };

const CR = 0x0d;
const LF = 0x0a;
const MINUS = 0x2d;
const PLUS = 0x2b;
const STAR = 0x2a;
const DOLLAR = 0x24;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Parses the RESP2 reply that starts at `at` in `data`: an array of bulk
 * strings (MGET), a bulk string (INFO), a simple string (+OK) or an error.
 * Returns the reply and where the next one starts, or undefined while it has
 * not all arrived (whatever byte it was cut at). Values are taken by their
 * length, so they may hold any bytes, CR and LF included.
 */
export function parseReply(data: Buffer, at: number): { reply: RespReply; end: number } | undefined {
  const end = lineEnd(data, at);
  if (end === -1) return undefined;
  const type = data[at];
  const next = end + 2;
  if (type === MINUS) return { reply: { kind: "error", message: data.toString("utf8", at + 1, end) }, end: next };
  if (type === PLUS) return { reply: { kind: "simple", text: data.toString("utf8", at + 1, end) }, end: next };
  if (type === DOLLAR) {
    const bulk = bulkAt(data, at, end);
    if (bulk === "malformed") return { reply: { kind: "malformed" }, end: next };
    return bulk === undefined ? undefined : { reply: { kind: "bulk", value: bulk.value }, end: bulk.end };
  }
  const count = type === STAR ? integerAt(data, at + 1, end) : undefined;
  if (count === undefined || count < 0) return { reply: { kind: "malformed" }, end: next };
  const values: Array<string | null> = [];
  let from = next;
  for (let i = 0; i < count; i++) {
    const headerEnd = lineEnd(data, from);
    if (headerEnd === -1) return undefined;
    if (data[from] !== DOLLAR) return { reply: { kind: "malformed" }, end: headerEnd + 2 };
    const bulk = bulkAt(data, from, headerEnd);
    if (bulk === "malformed") return { reply: { kind: "malformed" }, end: headerEnd + 2 };
    if (bulk === undefined) return undefined;
    values.push(bulk.value);
    from = bulk.end;
  }
  return { reply: { kind: "array", values }, end: from };
}

/** The bulk string whose `$len` header runs from `at` to `headerEnd`: null for `$-1`; undefined while incomplete. */
function bulkAt(data: Buffer, at: number, headerEnd: number): { value: string | null; end: number } | "malformed" | undefined {
  const length = integerAt(data, at + 1, headerEnd);
  const start = headerEnd + 2;
  if (length === -1) return { value: null, end: start };
  if (length === undefined || length < -1) return "malformed";
  if (start + length + 2 > data.length) return undefined;
  return { value: data.toString("utf8", start, start + length), end: start + length + 2 };
}

/** Where the line starting at `at` ends (its CR), or -1 while its CRLF has not all arrived. */
function lineEnd(data: Buffer, at: number): number {
  const end = data.indexOf(CR, at);
  return end === -1 || end + 1 >= data.length ? -1 : data[end + 1] === LF ? end : -1;
}

/** The decimal integer (maybe negative) in `data` from `from` to `to`; undefined if it is not one. */
function integerAt(data: Buffer, from: number, to: number): number | undefined {
  const negative = data[from] === MINUS;
  const first = negative ? from + 1 : from;
  if (first >= to || to - first > 15) return undefined;
  let value = 0;
  for (let i = first; i < to; i++) {
    const digit = data[i]!;
    if (digit < ZERO || digit > NINE) return undefined;
    value = value * 10 + (digit - ZERO);
  }
  return negative ? -value : value;
}
