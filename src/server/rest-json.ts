import { create, toJson, type DescField, type DescMessage, type JsonObject, type JsonValue } from "@bufbuild/protobuf";

/**
 * Serializes a handler's result as REST JSON: proto field names, implicit
 * fields always present, exactly as `toJson(create(schema, init),
 * { useProtoFieldName: true, alwaysEmitImplicit: true })` does. Messages made
 * only of strings, bools, 32-bit numbers and google.protobuf.Struct (all the
 * TokenService responses) are written directly from the init object, which
 * skips building a Struct message only to turn it back into the same JSON;
 * anything else goes through protobuf-es.
 */
export function createRestJson(schema: DescMessage): (init: Record<string, unknown>) => JsonValue {
  const direct = schema.fields.every(isDirect);
  if (!direct) return (init) => toJson(schema, create(schema, init), { useProtoFieldName: true, alwaysEmitImplicit: true });
  const fields = schema.fields.map((field) => ({
    local: field.localName,
    name: field.name,
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

/** Scalars that JSON shows as themselves, and Struct, whose JSON is the object. */
function isDirect(field: DescField): boolean {
  if (field.oneof !== undefined) return false;
  if (field.fieldKind === "scalar") return defaultOf(field) !== undefined;
  return field.fieldKind === "message" && field.message.typeName === "google.protobuf.Struct";
}

function defaultOf(field: DescField): JsonValue | undefined {
  if (field.fieldKind !== "scalar" || field.proto.proto3Optional) return undefined;
  switch (field.scalar) {
    case 9: // string
      return "";
    case 8: // bool
      return false;
    case 5: // int32
    case 13: // uint32
    case 17: // sint32
    case 7: // fixed32
    case 15: // sfixed32
      return 0;
    default:
      return undefined; // 64-bit integers are strings, floats may be "NaN", bytes are base64: leave to toJson
  }
}
