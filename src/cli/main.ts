/**
 * `token-blacklist`: mint development tokens and call a running service from
 * the shell. Human-readable by default, `--json` (one object a line) for
 * scripts; the exit code is 0 only when every token succeeded.
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ConnectError } from "@connectrpc/connect";
import { codeToString } from "@connectrpc/connect/protocol-connect";
import { ConfigError, loadConfig } from "../config.js";
import { mintToken, parseClaims, parseDuration } from "./mint.js";
import { OPERATOR_COMMANDS, createOperatorClient, type OperatorCommand } from "./operator-client.js";
import { createTokenClient, type CliProtocol, type TokenCommand, type TokenResult } from "./token-client.js";

const USAGE = `Usage: token-blacklist <command> [options] [TOKEN...]

Commands:
  mint                  print a development token signed with JWT_SECRET and JWT_ISSUER
  info [TOKEN...]       is each token valid and not revoked?
  blacklist [TOKEN...]  revoke each token
  unblacklist [TOKEN...] restore each token (operator: needs --admin-key or ADMIN_KEY)
  revoke-jti [JTI...]   revoke every token with each jti (operator)
  restore-jti [JTI...]  lift each jti revocation (operator)
  revoke-subject [SUB...]  revoke each subject's tokens issued before now, or --before (operator)
  restore-subject [SUB...] lift each subject revocation (operator)
  history               the audit history, newest first (operator)

Tokens (or jtis, or subjects) come from the arguments or, when there are none
(or "-"), one a line from standard input. Lines that are blank or start with #
are skipped.

Options:
  --url URL             the service (default: $TOKEN_BLACKLIST_URL or http://localhost:35000)
  --protocol P          grpc or connect (default: connect)
  --admin-key KEY       operator key for unblacklist and the operator commands (default: $ADMIN_KEY)
  --reason TEXT         why, for the audit history
  --issuer ISS          the issuer of a jti or subject (default: the server's JWT_ISSUER)
  --before TIME         revoke-subject: the cutoff, RFC 3339 (default: now)
  --limit N             history: how many events (default: 20)
  --json                one JSON object a line instead of text
  --sub S               mint: the subject (default: dev)
  --ttl D               mint: lifetime, e.g. 3600, 15m, 12h, 7d (default: 1h)
  --claim K=V           mint: an extra claim (repeatable; JSON values are parsed)
  -h, --help            this text

Exit codes: 0 all succeeded, 1 some failed, 2 usage or configuration error.`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      url: { type: "string" },
      protocol: { type: "string" },
      "admin-key": { type: "string" },
      json: { type: "boolean", default: false },
      sub: { type: "string" },
      ttl: { type: "string" },
      claim: { type: "string", multiple: true },
      reason: { type: "string" },
      issuer: { type: "string" },
      before: { type: "string" },
      limit: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...tokens] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }

  if (command === "mint") {
    const token = mintToken(loadConfig().jwt, {
      sub: values.sub ?? "dev",
      ttlSeconds: parseDuration(values.ttl ?? "1h"),
      claims: parseClaims(values.claim ?? []),
    });
    process.stdout.write(values.json ? `${JSON.stringify({ token })}\n` : `${token}\n`);
    return 0;
  }
  const isOperator = (OPERATOR_COMMANDS as readonly string[]).includes(command);
  if (command !== "info" && command !== "blacklist" && command !== "unblacklist" && command !== "history" && !isOperator) {
    throw new UsageError(`unknown command "${command}"`);
  }
  const protocol = values.protocol ?? "connect";
  if (protocol !== "grpc" && protocol !== "connect") throw new UsageError(`--protocol: expected grpc or connect, got "${protocol}"`);
  const url = values.url ?? process.env.TOKEN_BLACKLIST_URL ?? "http://localhost:35000";
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url: expected http(s)://host:port, got "${url}"`);
  const adminKey = values["admin-key"] ?? (process.env.ADMIN_KEY || undefined);

  const endpoint = { url, protocol: protocol as CliProtocol, adminKey };

  if (command === "history") {
    const limit = Number(values.limit ?? "20");
    if (!Number.isInteger(limit) || limit < 1) throw new UsageError(`--limit: expected a positive whole number, got "${values.limit}"`);
    try {
      const events = await createOperatorClient(endpoint).history(limit);
      for (const event of events) process.stdout.write(`${values.json ? JSON.stringify(event) : describeEvent(event)}\n`);
      return 0;
    } catch (err) {
      const error = ConnectError.from(err);
      process.stderr.write(`refused  history  ${codeToString(error.code)}: ${error.rawMessage}\n`);
      return 1;
    }
  }
  const fromStdin = tokens.length === 0 || (tokens.length === 1 && tokens[0] === "-");
  const list = fromStdin ? readLines() : toAsync(tokens);
  const output = { json: values.json, showProgress: fromStdin && process.stderr.isTTY === true };
  if (isOperator) {
    let before: Date | undefined;
    if (values.before !== undefined) {
      before = new Date(values.before);
      if (Number.isNaN(before.getTime()))
        throw new UsageError(`--before: expected a time like 2026-11-29T08:00:00Z, got "${values.before}"`);
    }
    const client = createOperatorClient({ ...endpoint, reason: values.reason, issuer: values.issuer, before });
    const noun = command.endsWith("jti") ? "jti" : "subject";
    return runAll(list, (name) => client.run(command as OperatorCommand, name), {
      ...output,
      noun,
      describe: (r) =>
        `${r.ok ? (r.changed ? "changed" : "same   ") : "refused"}  ${noun} ${r.name}  ${r.ok ? "" : `${r.code}: `}${r.info}`,
    });
  }
  const run = createTokenClient(endpoint);
  return runAll(list, (token) => run(command as TokenCommand, token, values.reason), {
    ...output,
    noun: "token",
    describe: (result) => describe(command as TokenCommand, result),
  });
}

/** Runs one call per item, printing a line each (text or JSON) and a summary; 1 when any failed. */
async function runAll<R extends { ok: boolean }>(
  items: AsyncIterable<string>,
  run: (item: string) => Promise<R>,
  options: { json: boolean; showProgress: boolean; noun: string; describe: (result: R) => string },
): Promise<number> {
  let done = 0;
  let failed = 0;
  for await (const item of items) {
    const result = await run(item);
    done++;
    if (!result.ok) failed++;
    process.stdout.write(`${options.json ? JSON.stringify(result) : options.describe(result)}\n`);
    if (options.showProgress) process.stderr.write(`\r${done} done, ${failed} failed`);
  }
  if (options.showProgress) process.stderr.write("\r");
  const plural = `${options.noun}s`;
  if (done !== 1 || failed > 0) {
    process.stderr.write(`${done} ${done === 1 ? options.noun : plural}: ${done - failed} succeeded, ${failed} failed\n`);
  }
  if (done === 0) throw new UsageError(`no ${plural} given: pass them as arguments or one a line on standard input`);
  return failed === 0 ? 0 : 1;
}

/** One audit event as a line: time, action, scope, what, who, why. */
function describeEvent(event: Record<string, unknown>): string {
  const short = (value: unknown) =>
    String(value ?? "")
      .replace(/^(AUDIT_ACTION_|REVOCATION_SCOPE_|AUDIT_ACTOR_)/, "")
      .toLowerCase();
  const what =
    event.scope === "REVOCATION_SCOPE_TOKEN"
      ? String(event.fingerprint ?? "").slice(0, 12)
      : String(event.scope === "REVOCATION_SCOPE_JTI" ? event.jti : event.subject);
  const cutoff = event.issuedBefore === undefined ? "" : ` before ${String(event.issuedBefore)}`;
  const reason = event.reason === undefined ? "" : `  "${String(event.reason)}"`;
  return `${String(event.time)}  ${short(event.action).padEnd(7)} ${short(event.scope).padEnd(7)} ${what}${cutoff}  by ${short(event.actor)}${reason}`;
}

/** One human-readable line: the outcome, a short fingerprint, and what the service said. */
function describe(command: TokenCommand, result: TokenResult): string {
  const fp = result.fingerprint.slice(0, 12);
  if (!result.ok) return `refused  ${fp}  ${result.code}: ${result.info}`;
  if (command === "info") {
    const claims = result.claims ?? {};
    const exp = typeof claims.exp === "number" ? new Date(claims.exp * 1000).toISOString() : "?";
    return `valid    ${fp}  sub=${String(claims.sub ?? "")} exp=${exp}`;
  }
  return `${command === "blacklist" ? "revoked " : "restored"} ${fp}  ${result.info}`;
}

async function* readLines(): AsyncIterable<string> {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const token = line.trim();
    if (token !== "" && !token.startsWith("#")) yield token;
  }
}

async function* toAsync(items: string[]): AsyncIterable<string> {
  yield* items;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    const usage = err instanceof UsageError || err instanceof ConfigError || (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`token-blacklist: ${(err as Error).message}\n${usage ? "Run token-blacklist --help for usage.\n" : ""}`);
    process.exitCode = 2;
  },
);
