import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseReply, type RespReply } from "../../src/store/resp-reply.js";

/**
 * The read connection's parser: whatever byte a stream of replies is cut at,
 * and however many pieces it arrives in, it reads the same replies, values
 * taken by their length (CR, LF, multi-byte characters included); what it
 * cannot read is "malformed", never a wrong answer.
 */
const value = fc.option(fc.string({ unit: fc.constantFrom("a", "1", "\r", "\n", "\r\n", "é", "漢", "😀", "$", "*", "-") }), { nil: null });
const reply: fc.Arbitrary<RespReply> = fc.oneof(
  fc.array(value, { maxLength: 5 }).map((values) => ({ kind: "array" as const, values })),
  value.map((v) => ({ kind: "bulk" as const, value: v })),
  fc.constantFrom("OK", "QUEUED").map((text) => ({ kind: "simple" as const, text })),
  fc.constantFrom("MOVED 3999 127.0.0.1:7001", "NOAUTH Authentication required.").map((message) => ({ kind: "error" as const, message })),
);

const bulk = (v: string | null) => (v === null ? "$-1\r\n" : `$${Buffer.byteLength(v)}\r\n${v}\r\n`);
function encode(r: RespReply): string {
  switch (r.kind) {
    case "array":
      return `*${r.values.length}\r\n${r.values.map(bulk).join("")}`;
    case "bulk":
      return bulk(r.value);
    case "simple":
      return `+${r.text}\r\n`;
    case "error":
      return `-${r.message}\r\n`;
    case "malformed":
      throw new Error("not encoded");
  }
}

/** Feeds `pieces` as a socket would deliver them, keeping what is not yet a whole reply, as the connection does. */
function readAll(pieces: Buffer[]): RespReply[] {
  const replies: RespReply[] = [];
  let unparsed: Buffer | undefined;
  for (const piece of pieces) {
    const data = unparsed === undefined ? piece : Buffer.concat([unparsed, piece]);
    let at = 0;
    for (let parsed = parseReply(data, at); parsed !== undefined; parsed = parseReply(data, at)) {
      replies.push(parsed.reply);
      at = parsed.end;
    }
    unparsed = at === data.length ? undefined : data.subarray(at);
  }
  expect(unparsed).toBeUndefined();
  return replies;
}

describe("parseReply", () => {
  it("reads the same replies whatever bytes the stream is cut at", () => {
    fc.assert(
      fc.property(fc.array(reply, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (replies, cuts) => {
        const stream = Buffer.from(replies.map(encode).join(""));
        const at = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const pieces = [0, ...at].map((from, i) => stream.subarray(from, [...at, stream.length][i]));
        expect(readAll(pieces)).toEqual(replies);
      }),
      { numRuns: 500 },
    );
  });

  it("reads a stream that arrives one byte at a time", () => {
    const replies: RespReply[] = [
      { kind: "array", values: ["1", null, "line\r\nbreak", "zoë"] },
      { kind: "error", message: "MOVED 3999 127.0.0.1:7001" },
      { kind: "bulk", value: "run_id:abc\r\n" },
    ];
    const stream = Buffer.from(replies.map(encode).join(""));
    expect(readAll([...stream].map((byte) => Buffer.from([byte])))).toEqual(replies);
  });

  it.each([
    [":1\r\n", "an integer"],
    ["*1\r\n:1\r\n", "an array of integers"],
    ["*1\r\n*0\r\n", "a nested array"],
    ["*x\r\n", "a count that is not a number"],
    ["$1x\r\na\r\n", "a length that is not a number"],
    ["%1\r\n", "RESP3"],
  ])("calls %j (%s) malformed, not an answer", (text) => {
    expect(parseReply(Buffer.from(text), 0)?.reply).toEqual({ kind: "malformed" });
  });
});
