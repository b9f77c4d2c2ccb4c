import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import type { ReasonInfo } from "../service/error-reasons.js";

const ERROR_INFO_TYPE_URL = `type.googleapis.com/${ErrorInfoSchema.typeName}`;

/**
 * `google.rpc.ErrorInfo` in protobuf binary, written field by field: every
 * refused call sends one, and building a message through reflection to
 * encode it cost several microseconds a call. Field numbers are
 * error_details.proto's (reason 1, domain 2, metadata 3 as map entries);
 * test/unit/error-info-wire.test.ts holds it to `toBinary`.
 */
export function encodeErrorInfo(info: ReasonInfo): Uint8Array {
  const writer = new BinaryWriter();
  writeErrorInfo(writer, info);
  return writer.finish();
}

/** `google.rpc.Status` (code 1, message 2, details 3: one Any holding the ErrorInfo), for `grpc-status-details-bin`. */
export function encodeStatus(code: number, message: string, info: ReasonInfo): Uint8Array {
  const writer = new BinaryWriter();
  if (code !== 0) writer.tag(1, WireType.Varint).int32(code);
  if (message !== "") writer.tag(2, WireType.LengthDelimited).string(message);
  writer.tag(3, WireType.LengthDelimited).fork();
  writer.tag(1, WireType.LengthDelimited).string(ERROR_INFO_TYPE_URL);
  writer.tag(2, WireType.LengthDelimited).fork();
  writeErrorInfo(writer, info);
  writer.join().join();
  return writer.finish();
}

function writeErrorInfo(writer: BinaryWriter, info: ReasonInfo): void {
  if (info.reason !== "") writer.tag(1, WireType.LengthDelimited).string(info.reason);
  if (info.domain !== "") writer.tag(2, WireType.LengthDelimited).string(info.domain);
  for (const key of Object.keys(info.metadata)) {
    writer.tag(3, WireType.LengthDelimited).fork().tag(1, WireType.LengthDelimited).string(key);
    writer.tag(2, WireType.LengthDelimited).string(info.metadata[key]!).join();
  }
}
