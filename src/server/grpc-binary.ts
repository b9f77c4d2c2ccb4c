import { create, toBinary, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";

/**
 * Serializes a handler's result as protobuf binary, exactly as
 * `toBinary(schema, create(schema, init))` does. Messages made only of
 * strings, bools and google.protobuf.Struct (all the TokenService responses)
 * are written directly from the init object, which skips building a Struct
 * message from the claims first; anything else goes through protobuf-es.
 */
export function createBinaryWriter(schema: DescMessage): (init: Record<string, unknown>) => Uint8Array {
  const direct = schema.fields.every(
    (f) =>
      f.oneof === undefined &&
      !f.proto.proto3Optional &&
      ((f.fieldKind === "scalar" && (f.scalar === 9 || f.scalar === 8)) ||
        (f.fieldKind === "message" && f.message.typeName === "google.protobuf.Struct")),
  );
  if (!direct) return (init) => toBinary(schema, create(schema, init));
  const fields = [...schema.fields].sort((a, b) => a.number - b.number);
  return (init) => {
    const writer = new BinaryWriter();
    for (const field of fields) writeField(writer, field, init[field.localName]);
    return writer.finish();
  };
}

function writeField(writer: BinaryWriter, field: DescField, value: unknown): void {
  if (value === undefined || value === null) return;
  if (field.fieldKind === "scalar") {
    // proto3 implicit presence: defaults are not written.
    if (field.scalar === 9 && value !== "") writer.tag(field.number, WireType.LengthDelimited).string(value as string);
    if (field.scalar === 8 && value === true) writer.tag(field.number, WireType.Varint).bool(true);
    return;
  }
  writer.tag(field.number, WireType.LengthDelimited).fork();
  writeStruct(writer, value as Record<string, JsonValue>);
  writer.join();
}

/** google.protobuf.Struct { map<string, Value> fields = 1; } */
function writeStruct(writer: BinaryWriter, object: Record<string, JsonValue>): void {
  for (const key of Object.keys(object)) {
    writer.tag(1, WireType.LengthDelimited).fork();
    writer.tag(1, WireType.LengthDelimited).string(key);
    writer.tag(2, WireType.LengthDelimited).fork();
    writeValue(writer, object[key]!);
    writer.join().join();
  }
}

/** google.protobuf.Value: null_value 1, number_value 2, string_value 3, bool_value 4, struct_value 5, list_value 6. */
function writeValue(writer: BinaryWriter, value: JsonValue): void {
  if (value === null) {
    writer.tag(1, WireType.Varint).int32(0);
  } else if (typeof value === "number") {
    writer.tag(2, WireType.Bit64).double(value);
  } else if (typeof value === "string") {
    writer.tag(3, WireType.LengthDelimited).string(value);
  } else if (typeof value === "boolean") {
    writer.tag(4, WireType.Varint).bool(value);
  } else if (Array.isArray(value)) {
    writer.tag(6, WireType.LengthDelimited).fork(); // ListValue { repeated Value values = 1; }
    for (const item of value) {
      writer.tag(1, WireType.LengthDelimited).fork();
      writeValue(writer, item);
      writer.join();
    }
    writer.join();
  } else {
    writer.tag(5, WireType.LengthDelimited).fork();
    writeStruct(writer, value);
    writer.join();
  }
}
