import { ConnectError, createClient, type Client } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { fingerprint } from "../jwt/fingerprint.js";

/** The protocols the CLI speaks. */
export type CliProtocol = "grpc" | "connect";

/** The commands that act on a token. */
export type TokenCommand = "info" | "blacklist" | "unblacklist";

/** One token's result: what the CLI prints. Carries the fingerprint, never the token. */
export interface TokenResult {
  fingerprint: string;
  ok: boolean;
  /** "ok" or the error code ("unauthenticated", ...). */
  code: string;
  info: string;
  claims?: Record<string, unknown> | undefined;
  /** For blacklist/unblacklist: whether this call changed anything. */
  changed?: boolean | undefined;
}

/** Options for {@link createTokenClient}. */
export interface TokenClientOptions {
  url: string;
  protocol: CliProtocol;
  adminKey?: string | undefined;
  timeoutMs?: number;
}

/** Runs a command for one token through the generated Connect client. */
export type RunCommand = (command: TokenCommand, token: string, reason?: string) => Promise<TokenResult>;

/** A generated TokenService client over gRPC (h2c/h2) or Connect (HTTP/1.1). */
export function tokenServiceClient(options: Pick<TokenClientOptions, "url" | "protocol">): Client<typeof TokenService> {
  const transport =
    options.protocol === "grpc"
      ? createGrpcTransport({ baseUrl: options.url })
      : createConnectTransport({ baseUrl: options.url, httpVersion: "1.1" });
  return createClient(TokenService, transport);
}

/** Runs token commands: Info, Blacklist and Unblacklist with each token as the bearer credential. */
export function createTokenClient(options: TokenClientOptions): RunCommand {
  const client = tokenServiceClient(options);
  const timeoutMs = options.timeoutMs ?? 10_000;
  return async (command, token, reason = "") => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (options.adminKey !== undefined) headers["x-admin-key"] = options.adminKey;
    const fp = fingerprint(token);
    try {
      switch (command) {
        case "info": {
          const res = await client.info({}, { headers, timeoutMs });
          return { fingerprint: fp, ok: true, code: "ok", info: res.info, claims: res.decodedToken };
        }
        case "blacklist": {
          const res = await client.blacklist({ reason }, { headers, timeoutMs });
          return { fingerprint: fp, ok: true, code: "ok", info: res.info, changed: res.newlyBlacklisted };
        }
        case "unblacklist": {
          const res = await client.unblacklist({ reason }, { headers, timeoutMs });
          return { fingerprint: fp, ok: true, code: "ok", info: res.info, changed: res.wasBlacklisted };
        }
      }
    } catch (err) {
      const error = ConnectError.from(err);
      return { fingerprint: fp, ok: false, code: codeToString(error.code), info: error.rawMessage };
    }
  };
}
