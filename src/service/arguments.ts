import { Code } from "@connectrpc/connect";
import { ErrorReason, refusal } from "./error-reasons.js";

/** Longest jti, subject or issuer an operator may name. */
export const MAX_NAME_CHARS = 4096;
/** Longest audit reason. */
export const MAX_REASON_CHARS = 1024;

/** A text field of at most `maxChars`; `required` refuses "". A bad one is INVALID_ARGUMENT naming the field. */
export function textArgument(value: string, field: string, options: { required: boolean; maxChars: number }): string {
  if (options.required && value === "")
    throw refusal(Code.InvalidArgument, ErrorReason.ARGUMENT_INVALID, `${field} is required`, { field });
  if (value.length > options.maxChars) {
    throw refusal(Code.InvalidArgument, ErrorReason.ARGUMENT_INVALID, `${field} is longer than ${options.maxChars} characters`, { field });
  }
  return value;
}

/** A jti, subject or issuer, required. */
export const nameArgument = (value: string, field: string) => textArgument(value, field, { required: true, maxChars: MAX_NAME_CHARS });

/** The optional audit `reason` of a change request. */
export const reasonArgument = (value: string) => textArgument(value, "reason", { required: false, maxChars: MAX_REASON_CHARS });
