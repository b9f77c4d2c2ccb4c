import { ConnectError } from "@connectrpc/connect";
import { toJson, type JsonObject } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { AuditEventSchema } from "../../gen/tokens/v1/token_service_pb.js";
import { tokenServiceClient, type TokenClientOptions } from "./token-client.js";

/** The commands that act on a jti or a subject. */
export const OPERATOR_COMMANDS = ["revoke-jti", "restore-jti", "revoke-subject", "restore-subject"] as const;
export type OperatorCommand = (typeof OPERATOR_COMMANDS)[number];

/** One jti's or subject's result, as the CLI prints it. */
export interface OperatorResult {
  name: string;
  ok: boolean;
  /** "ok" or the error code. */
  code: string;
  info: string;
  changed?: boolean | undefined;
}

/** What every operator call sends besides the name. */
export interface OperatorOptions extends TokenClientOptions {
  issuer?: string | undefined;
  reason?: string | undefined;
  /** revoke-subject: the cutoff (default: now). */
  before?: Date | undefined;
}

/** Operator calls through the generated client; the admin key goes in `x-admin-key`. */
export function createOperatorClient(options: OperatorOptions) {
  const client = tokenServiceClient(options);
  const call = {
    headers: options.adminKey === undefined ? {} : { "x-admin-key": options.adminKey },
    timeoutMs: options.timeoutMs ?? 10_000,
  };
  const issuer = options.issuer ?? "";
  const reason = options.reason ?? "";
  const send = (command: OperatorCommand, name: string) => {
    switch (command) {
      case "revoke-jti":
        return client.revokeJti({ jti: name, issuer, reason }, call);
      case "restore-jti":
        return client.restoreJti({ jti: name, issuer, reason }, call);
      case "revoke-subject":
        return client.revokeSubject(
          { subject: name, issuer, reason, issuedBefore: options.before === undefined ? undefined : timestampFromDate(options.before) },
          call,
        );
      case "restore-subject":
        return client.restoreSubject({ subject: name, issuer, reason }, call);
    }
  };
  return {
    async run(command: OperatorCommand, name: string): Promise<OperatorResult> {
      try {
        const res = await send(command, name);
        return { name, ok: true, code: "ok", info: res.info, changed: res.changed };
      } catch (err) {
        const error = ConnectError.from(err);
        return { name, ok: false, code: codeToString(error.code), info: error.rawMessage };
      }
    },
    /** The newest `limit` audit events, as protobuf JSON. */
    async history(limit: number): Promise<JsonObject[]> {
      const events: JsonObject[] = [];
      let pageToken = "";
      do {
        const page = await client.history({ pageSize: Math.min(limit - events.length, 1000), pageToken }, call);
        for (const event of page.events) events.push(toJson(AuditEventSchema, event) as JsonObject);
        pageToken = page.nextPageToken;
      } while (pageToken !== "" && events.length < limit);
      return events;
    },
  };
}
