import { Code, ConnectError } from "@connectrpc/connect";
import { codeToHttpStatus, codeToString } from "@connectrpc/connect/protocol-connect";
import { INTERNAL_MESSAGE } from "../service/call.js";

/** A REST error as the original service's clients read it, with its HTTP status. */
export interface RestError {
  status: number;
  body: { success: false; info: string; code: string };
}

/**
 * Maps any error to a REST error. ConnectErrors keep their code and message
 * (the status is Connect's mapping: 401, 403, 400, 503...); anything else is a
 * bug on our side and says only "internal error", never a stack trace.
 */
export function restError(err: unknown): RestError {
  const connectError = err instanceof ConnectError ? err : new ConnectError(INTERNAL_MESSAGE, Code.Internal);
  return {
    status: codeToHttpStatus(connectError.code),
    body: { success: false, info: connectError.rawMessage, code: codeToString(connectError.code) },
  };
}
