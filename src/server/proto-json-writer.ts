import { create, type DescField, type DescMessage, type JsonObject, type JsonValue, ScalarType, toJson } from "@bufbuild/protobuf";

/** Which field names the JSON uses: proto names (`decoded_token`, the REST routes) or JSON names (`decodedToken`, Connect). */
export type JsonFieldNames = "proto" | "json";

/**
 * Serializes a handler's result as protobuf JSON with implicit fields always
 * present, exactly as `toJson(create(schema, init), { useProtoFieldName,
 * alwaysEmitImplicit: true })` does. Messages made only of strings, bools,
 * 32-bit numbers and google.protobuf.Struct (InfoResponse, the hot one) are
 * written directly from the init object, which skips building a Struct
 * message only to turn it back into the same JSON; anything else goes
 * through protobuf-es. {@link writesJsonDirectly} says which.
 */
export function createJsonWriter(schema: DescMessage, names: JsonFieldNames): (init: Record<string, unknown>) => JsonValue {
  const useProtoFieldName = names === "proto";
  if (!writesJsonDirectly(schema)) return (init) => toJson(schema, create(schema, init), { useProtoFieldName, alwaysEmitImplicit: true });
  const fields = schema.fields.map((field) => ({
    local: field.localName,
    name: useProtoFieldName ? field.name : field.jsonName,
    fallback: field.fieldKind === "scalar" ? defaultOf(field) : undefined,
  }));
  return (init) => {
    const out: JsonObject = {};
    for (const field of fields) {
      const value = init[field.local];
      if (value !== undefined) out[field.name] = value as JsonValue;
      else if (field.fallback !== undefined) out[field.name] = field.fallback;
    }
    return out;
  };
}

/** True when {@link createJsonWriter} writes this message without protobuf-es (the fast path). */
export function writesJsonDirectly(schema: DescMessage): boolean {
  return schema.fields.every(isDirect);
}

/** Scalars that JSON shows as themselves, and Struct, whose JSON is the object. */
function isDirect(field: DescField): boolean {
  if (field.oneof !== undefined) return false;
  if (field.fieldKind === "scalar") return defaultOf(field) !== undefined;
  return field.fieldKind === "message" && field.message.typeName === "google.protobuf.Struct";
}

function defaultOf(field: DescField): JsonValue | undefined {
  if (field.fieldKind !== "scalar" || field.proto.proto3Optional) return undefined;
  switch (field.scalar) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return false;
    case ScalarType.INT32:
    case ScalarType.UINT32:
    case ScalarType.SINT32:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return 0;
    default:
      return undefined; // 64-bit integers are strings, floats may be "NaN", bytes are base64: leave to toJson
  }
}
