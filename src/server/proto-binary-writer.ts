import { create, type DescField, type DescMessage, type JsonValue, ScalarType, toBinary } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import { ListValueSchema, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";

/**
 * Serializes a handler's result as protobuf binary, exactly as
 * `toBinary(schema, create(schema, init))` does. Messages made only of
 * strings, bools and google.protobuf.Struct (all the TokenService responses)
 * are written directly from the init object into one Buffer: it skips
 * building a Struct message from the claims first, and writes UTF-8 with
 * `Buffer.write` (protobuf-es's writer spent about 9 us per Info response,
 * mostly in TextEncoder). Anything else goes through protobuf-es;
 * {@link writesBinaryDirectly} says which.
 */
export function createBinaryWriter(schema: DescMessage): (init: Record<string, unknown>) => Uint8Array {
  if (!writesBinaryDirectly(schema)) return (init) => toBinary(schema, create(schema, init));
  const fields = [...schema.fields].sort((a, b) => a.number - b.number).map(plan);
  return (init) => {
    // Pass 1: the size of every length-delimited part, in the order pass 2 writes them.
    const sizes: number[] = [];
    let total = 0;
    for (const field of fields) total += field.size(init[field.local], sizes);
    // Pass 2: write.
    const out = Buffer.allocUnsafe(total);
    const cursor = { at: 0, size: 0 };
    for (const field of fields) field.write(init[field.local], out, cursor, sizes);
    return out;
  };
}

/** True when {@link createBinaryWriter} writes this message without protobuf-es (the fast path): strings, bools and Structs, field numbers below 16 (one-byte tags). */
export function writesBinaryDirectly(schema: DescMessage): boolean {
  return schema.fields.every(
    (f) =>
      f.oneof === undefined &&
      !f.proto.proto3Optional &&
      f.number < 16 &&
      ((f.fieldKind === "scalar" && (f.scalar === ScalarType.STRING || f.scalar === ScalarType.BOOL)) ||
        (f.fieldKind === "message" && f.message.typeName === "google.protobuf.Struct")),
  );
}

interface Cursor {
  /** Write position in the output. */
  at: number;
  /** Next entry of `sizes` to use. */
  size: number;
}

interface FieldPlan {
  local: string;
  size(value: unknown, sizes: number[]): number;
  write(value: unknown, out: Buffer, cursor: Cursor, sizes: number[]): void;
}

const LEN = WireType.LengthDelimited;
const VARINT = WireType.Varint;
const I64 = WireType.Bit64;

/** A field's tag byte (number and wire type), its number read from the descriptor so no number is typed here twice. */
function tag(schema: DescMessage, name: string, wireType: WireType): number {
  const field = schema.fields.find((f) => f.name === name);
  if (field === undefined || field.number >= 16) throw new Error(`${schema.typeName}.${name} has no one-byte tag`);
  return (field.number << 3) | wireType;
}
const STRUCT_FIELDS = tag(StructSchema, "fields", LEN);
/** Map entries are messages { key = 1; value = 2 } (the protobuf encoding of maps). */
const ENTRY_KEY = (1 << 3) | LEN;
const ENTRY_VALUE = (2 << 3) | LEN;
const VALUE_NULL = tag(ValueSchema, "null_value", VARINT);
const VALUE_NUMBER = tag(ValueSchema, "number_value", I64);
const VALUE_STRING = tag(ValueSchema, "string_value", LEN);
const VALUE_BOOL = tag(ValueSchema, "bool_value", VARINT);
const VALUE_STRUCT = tag(ValueSchema, "struct_value", LEN);
const VALUE_LIST = tag(ValueSchema, "list_value", LEN);
const LIST_VALUES = tag(ListValueSchema, "values", LEN);

function plan(field: DescField): FieldPlan {
  const local = field.localName;
  if (field.fieldKind === "scalar" && field.scalar === ScalarType.BOOL) {
    const tag = (field.number << 3) | VARINT;
    return {
      local,
      size: (v) => (v === true ? 2 : 0), // proto3: false is not written
      write: (v, out, c) => {
        if (v !== true) return;
        out[c.at++] = tag;
        out[c.at++] = 1;
      },
    };
  }
  if (field.fieldKind === "scalar") {
    const tag = (field.number << 3) | LEN;
    return {
      local,
      size: (v, sizes) => (typeof v === "string" && v !== "" ? 1 + stringSize(v, sizes) : 0),
      write: (v, out, c, sizes) => {
        if (typeof v !== "string" || v === "") return;
        out[c.at++] = tag;
        writeString(v, out, c, sizes);
      },
    };
  }
  const tag = (field.number << 3) | LEN;
  return {
    local,
    size: (v, sizes) => {
      if (v === undefined || v === null) return 0;
      const slot = sizes.push(0) - 1;
      const inner = structSize(v as Record<string, JsonValue>, sizes);
      sizes[slot] = inner;
      return 1 + varintSize(inner) + inner;
    },
    write: (v, out, c, sizes) => {
      if (v === undefined || v === null) return;
      out[c.at++] = tag;
      writeVarint(sizes[c.size++]!, out, c);
      writeStruct(v as Record<string, JsonValue>, out, c, sizes);
    },
  };
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

function writeVarint(n: number, out: Buffer, c: Cursor): void {
  while (n >= 0x80) {
    out[c.at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  out[c.at++] = n;
}

/** Length prefix plus UTF-8 bytes; records the byte length. */
function stringSize(s: string, sizes: number[]): number {
  const bytes = Buffer.byteLength(s, "utf8");
  sizes.push(bytes);
  return varintSize(bytes) + bytes;
}

function writeString(s: string, out: Buffer, c: Cursor, sizes: number[]): void {
  const bytes = sizes[c.size++]!;
  writeVarint(bytes, out, c);
  out.write(s, c.at, bytes, "utf8");
  c.at += bytes;
}

/** google.protobuf.Struct { map<string, Value> fields = 1; }: each entry { key = 1; value = 2 }. */
function structSize(object: Record<string, JsonValue>, sizes: number[]): number {
  let total = 0;
  for (const key of Object.keys(object)) {
    const entrySlot = sizes.push(0) - 1;
    const keyPart = 1 + stringSize(key, sizes);
    const valueSlot = sizes.push(0) - 1;
    const value = valueSize(object[key]!, sizes);
    sizes[valueSlot] = value;
    const entry = keyPart + 1 + varintSize(value) + value;
    sizes[entrySlot] = entry;
    total += 1 + varintSize(entry) + entry;
  }
  return total;
}

function writeStruct(object: Record<string, JsonValue>, out: Buffer, c: Cursor, sizes: number[]): void {
  for (const key of Object.keys(object)) {
    out[c.at++] = STRUCT_FIELDS;
    writeVarint(sizes[c.size++]!, out, c);
    out[c.at++] = ENTRY_KEY;
    writeString(key, out, c, sizes);
    out[c.at++] = ENTRY_VALUE;
    writeVarint(sizes[c.size++]!, out, c);
    writeValue(object[key]!, out, c, sizes);
  }
}

/** google.protobuf.Value: null_value 1, number_value 2, string_value 3, bool_value 4, struct_value 5, list_value 6. */
function valueSize(value: JsonValue, sizes: number[]): number {
  if (value === null || typeof value === "boolean") return 2;
  if (typeof value === "number") return 9;
  if (typeof value === "string") return 1 + stringSize(value, sizes);
  const slot = sizes.push(0) - 1;
  let inner = 0;
  if (Array.isArray(value)) {
    // ListValue { repeated Value values = 1; }
    for (const item of value) {
      const itemSlot = sizes.push(0) - 1;
      const size = valueSize(item, sizes);
      sizes[itemSlot] = size;
      inner += 1 + varintSize(size) + size;
    }
  } else {
    inner = structSize(value, sizes);
  }
  sizes[slot] = inner;
  return 1 + varintSize(inner) + inner;
}

function writeValue(value: JsonValue, out: Buffer, c: Cursor, sizes: number[]): void {
  if (value === null) {
    out[c.at++] = VALUE_NULL;
    out[c.at++] = 0;
  } else if (typeof value === "boolean") {
    out[c.at++] = VALUE_BOOL;
    out[c.at++] = value ? 1 : 0;
  } else if (typeof value === "number") {
    out[c.at++] = VALUE_NUMBER;
    out.writeDoubleLE(value, c.at);
    c.at += 8;
  } else if (typeof value === "string") {
    out[c.at++] = VALUE_STRING;
    writeString(value, out, c, sizes);
  } else if (Array.isArray(value)) {
    out[c.at++] = VALUE_LIST;
    writeVarint(sizes[c.size++]!, out, c);
    for (const item of value) {
      out[c.at++] = LIST_VALUES;
      writeVarint(sizes[c.size++]!, out, c);
      writeValue(item, out, c, sizes);
    }
  } else {
    out[c.at++] = VALUE_STRUCT;
    writeVarint(sizes[c.size++]!, out, c);
    writeStruct(value, out, c, sizes);
  }
}
