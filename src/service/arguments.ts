import { Code, ConnectError } from "@connectrpc/connect";

/** Longest jti, subject or issuer an operator may name. */
export const MAX_NAME_CHARS = 4096;
/** Longest audit reason. */
export const MAX_REASON_CHARS = 1024;

/** A text field of at most `maxChars`; `required` refuses "". A bad one is INVALID_ARGUMENT naming the field. */
export function textArgument(value: string, field: string, options: { required: boolean; maxChars: number }): string {
  if (options.required && value === "") throw new ConnectError(`${field} is required`, Code.InvalidArgument);
  if (value.length > options.maxChars) {
    throw new ConnectError(`${field} is longer than ${options.maxChars} characters`, Code.InvalidArgument);
  }
  return value;
}

/** A jti, subject or issuer, required. */
export const nameArgument = (value: string, field: string) => textArgument(value, field, { required: true, maxChars: MAX_NAME_CHARS });

/** The optional audit `reason` of a change request. */
export const reasonArgument = (value: string) => textArgument(value, "reason", { required: false, maxChars: MAX_REASON_CHARS });
