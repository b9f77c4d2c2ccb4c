import { create, toBinary, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../gen/health/v1/health_pb.js";
import { BlacklistResponseSchema, InfoResponseSchema, UnblacklistResponseSchema } from "../../gen/tokens/v1/token_service_pb.js";
import { createBinaryWriter, writesBinaryDirectly } from "../../src/server/proto-binary-writer.js";

describe("createBinaryWriter", () => {
  it.each([
    [
      "InfoResponse, full",
      InfoResponseSchema,
      {
        success: true,
        token: "a.b.c",
        info: "Token is valid",
        decodedToken: {
          sub: "x",
          exp: 1795971541,
          n: null,
          f: 2.5,
          neg: -3,
          l: [1, "a", { d: true }, [], null],
          o: { deep: { er: false } },
          e: {},
          u: "ünï",
        },
      },
    ],
    ["InfoResponse, empty", InfoResponseSchema, {}],
    ["InfoResponse, empty claims", InfoResponseSchema, { success: true, decodedToken: {} }],
    ["BlacklistResponse", BlacklistResponseSchema, { success: true, token: "t", info: "Token blacklisted", newlyBlacklisted: true }],
    ["BlacklistResponse, defaults", BlacklistResponseSchema, { success: false, token: "", newlyBlacklisted: false }],
    ["UnblacklistResponse", UnblacklistResponseSchema, { success: true, token: "t", info: "x", wasBlacklisted: true }],
    ["a schema it does not write directly (enum)", HealthCheckResponseSchema, { status: HealthCheckResponse_ServingStatus.NOT_SERVING }],
  ] as Array<[string, DescMessage, Record<string, unknown>]>)("writes %s byte for byte as toBinary does", (_name, schema, init) => {
    expect(Buffer.from(createBinaryWriter(schema)(init))).toEqual(Buffer.from(toBinary(schema, create(schema, init))));
  });

  it("keeps InfoResponse, the hot path, on the direct writer", () => {
    // A field InfoResponse gains that this writer cannot write (an enum, a number past 15)
    // would route every gRPC and Connect binary Info through protobuf-es; this fails instead.
    expect(writesBinaryDirectly(InfoResponseSchema)).toBe(true);
    expect(writesBinaryDirectly(HealthCheckResponseSchema)).toBe(false);
  });
});

describe("createBinaryWriter on random claims", () => {
  it("matches toBinary for any JSON object", () => {
    const write = createBinaryWriter(InfoResponseSchema);
    fc.assert(
      // Keys other than "__proto__": protobuf-es's Struct drops such a key (assigning it sets a
      // prototype); this writer keeps the claim as data, as JSON.parse made it.
      fc.property(
        fc.dictionary(
          fc.string().filter((k) => k !== "__proto__"),
          fc.jsonValue({ maxDepth: 4 }).filter(noProtoKey),
        ),
        fc.string(),
        fc.boolean(),
        (claims, token, success) => {
          const init = { success, token, info: "Token is valid", decodedToken: claims as Record<string, JsonValue> };
          expect(Buffer.from(write(init))).toEqual(Buffer.from(toBinary(InfoResponseSchema, create(InfoResponseSchema, init))));
        },
      ),
      { numRuns: 500 },
    );
  });
});

function noProtoKey(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return true;
  if (Array.isArray(value)) return value.every(noProtoKey);
  return !Object.hasOwn(value, "__proto__") && Object.values(value).every(noProtoKey);
}
