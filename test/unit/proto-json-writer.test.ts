import { create, toJson, type DescMessage } from "@bufbuild/protobuf";
import { describe, expect, it } from "vitest";
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { BlacklistResponseSchema, InfoResponseSchema, UnblacklistResponseSchema } from "../../gen/tokens/v1/token_service_pb.js";
import { createJsonWriter, writesJsonDirectly } from "../../src/server/proto-json-writer.js";

/** The reference: what protobuf-es makes of the same init. */
const reference = (schema: DescMessage, init: Record<string, unknown>, useProtoFieldName = true) =>
  toJson(schema, create(schema, init), { useProtoFieldName, alwaysEmitImplicit: true });

describe("createJsonWriter", () => {
  it.each([
    [
      "InfoResponse, full",
      InfoResponseSchema,
      {
        success: true,
        token: "a.b.c",
        info: "Token is valid",
        decodedToken: { sub: "x", exp: 1, n: null, l: [1, "a", { d: true }], o: { deep: { er: 2.5 } } },
      },
    ],
    ["InfoResponse, empty", InfoResponseSchema, {}],
    ["BlacklistResponse", BlacklistResponseSchema, { success: true, token: "t", info: "Token blacklisted", newlyBlacklisted: true }],
    ["BlacklistResponse, defaults", BlacklistResponseSchema, { success: true }],
    [
      "UnblacklistResponse",
      UnblacklistResponseSchema,
      { success: true, token: "t", info: "Token was not blacklisted", wasBlacklisted: false },
    ],
    ["a schema it does not write directly (enum)", HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.SERVING }],
  ] as Array<[string, DescMessage, Record<string, unknown>]>)(
    "writes %s exactly as toJson does, with proto and with JSON names",
    (_name, schema, init) => {
      expect(JSON.stringify(createJsonWriter(schema, "proto")(init))).toBe(JSON.stringify(reference(schema, init)));
      expect(JSON.stringify(createJsonWriter(schema, "json")(init))).toBe(JSON.stringify(reference(schema, init, false)));
    },
  );

  it("keeps InfoResponse, the hot path, on the direct writer", () => {
    // Adding an enum, a 64-bit number or a oneof to InfoResponse would silently route every Info
    // through protobuf-es; this fails instead, so the cost is a decision.
    expect(writesJsonDirectly(InfoResponseSchema)).toBe(true);
    expect(writesJsonDirectly(HealthCheckResponseSchema)).toBe(false);
  });
});
