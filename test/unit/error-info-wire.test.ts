import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";
import { encodeErrorInfo, encodeStatus } from "../../src/server/error-info-wire.js";
import type { ReasonInfo } from "../../src/service/error-reasons.js";

const infos: ReasonInfo[] = [
  {
    reason: "TOKEN_REVOKED",
    domain: "tokens.v1",
    metadata: { scope: "REVOCATION_SCOPE_SUBJECT", issued_before: "2026-11-30T10:00:00.000Z" },
  },
  { reason: "TOKEN_MISSING", domain: "tokens.v1", metadata: {} },
  { reason: "", domain: "", metadata: { é: "ü\u0000" } },
];

describe("ErrorInfo and Status written by hand", () => {
  it.each(infos)("encodes ErrorInfo $reason exactly as toBinary does", (info) => {
    expect(Buffer.from(encodeErrorInfo(info))).toEqual(Buffer.from(toBinary(ErrorInfoSchema, create(ErrorInfoSchema, info))));
  });

  it.each(infos)("encodes a Status holding ErrorInfo $reason exactly as toBinary does", (info) => {
    for (const [code, message] of [
      [16, "Subject revoked at 2026-11-30T10:00:00.000Z"],
      [0, ""],
      [3, "a message with ünïcode"],
    ] as const) {
      const expected = create(StatusSchema, { code, message, details: [anyPack(ErrorInfoSchema, create(ErrorInfoSchema, info))] });
      expect(Buffer.from(encodeStatus(code, message, info))).toEqual(Buffer.from(toBinary(StatusSchema, expected)));
    }
  });
});
