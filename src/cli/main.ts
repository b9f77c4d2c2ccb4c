/**
 * `token-blacklist`: mint development tokens and call a running service from
 * the shell. Human-readable by default, `--json` (one object a line) for
 * scripts; the exit code is 0 only when every token succeeded.
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { ConfigError, loadConfig } from "../config.js";
import { mintToken, parseClaims, parseDuration } from "./mint.js";
import { createTokenClient, type CliProtocol, type TokenCommand, type TokenResult } from "./token-client.js";

const USAGE = `Usage: token-blacklist <command> [options] [TOKEN...]

Commands:
  mint                  print a development token signed with JWT_SECRET and JWT_ISSUER
  info [TOKEN...]       is each token valid and not revoked?
  blacklist [TOKEN...]  revoke each token
  unblacklist [TOKEN...] restore each token (operator: needs --admin-key or ADMIN_KEY)

Tokens come from the arguments or, when there are none (or "-"), one a line
from standard input. Lines that are blank or start with # are skipped.

Options:
  --url URL             the service (default: $TOKEN_BLACKLIST_URL or http://localhost:35000)
  --protocol P          grpc or connect (default: connect)
  --admin-key KEY       operator key for unblacklist (default: $ADMIN_KEY)
  --json                one JSON object a line instead of text
  --sub S               mint: the subject (default: dev)
  --ttl D               mint: lifetime, e.g. 3600, 15m, 12h, 7d (default: 1h)
  --claim K=V           mint: an extra claim (repeatable; JSON values are parsed)
  -h, --help            this text

Exit codes: 0 all succeeded, 1 some token failed, 2 usage or configuration error.`;

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
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...tokens] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(USAGE + "\n");
    return command === undefined && !values.help ? 2 : 0;
  }

  if (command === "mint") {
    const token = mintToken(loadConfig().jwt, {
      sub: values.sub ?? "dev",
      ttlSeconds: parseDuration(values.ttl ?? "1h"),
      claims: parseClaims(values.claim ?? []),
    });
    process.stdout.write(values.json ? JSON.stringify({ token }) + "\n" : token + "\n");
    return 0;
  }
  if (command !== "info" && command !== "blacklist" && command !== "unblacklist") {
    throw new UsageError(`unknown command "${command}"`);
  }
  const protocol = values.protocol ?? "connect";
  if (protocol !== "grpc" && protocol !== "connect") throw new UsageError(`--protocol: expected grpc or connect, got "${protocol}"`);
  const url = values.url ?? process.env.TOKEN_BLACKLIST_URL ?? "http://localhost:35000";
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--url: expected http(s)://host:port, got "${url}"`);
  const adminKey = values["admin-key"] ?? (process.env.ADMIN_KEY || undefined);

  const run = createTokenClient({ url, protocol: protocol as CliProtocol, adminKey });
  const fromStdin = tokens.length === 0 || (tokens.length === 1 && tokens[0] === "-");
  const list = fromStdin ? readLines() : toAsync(tokens);
  return runAll(command, list, run, { json: values.json, showProgress: fromStdin && process.stderr.isTTY === true });
}

async function runAll(
  command: TokenCommand,
  tokens: AsyncIterable<string>,
  run: (command: TokenCommand, token: string) => Promise<TokenResult>,
  options: { json: boolean; showProgress: boolean },
): Promise<number> {
  let done = 0;
  let failed = 0;
  for await (const token of tokens) {
    const result = await run(command, token);
    done++;
    if (!result.ok) failed++;
    process.stdout.write((options.json ? JSON.stringify(result) : describe(command, result)) + "\n");
    if (options.showProgress) process.stderr.write(`\r${done} done, ${failed} failed`);
  }
  if (options.showProgress) process.stderr.write("\r");
  if (done !== 1 || failed > 0) {
    process.stderr.write(`${done} token${done === 1 ? "" : "s"}: ${done - failed} succeeded, ${failed} failed\n`);
  }
  if (done === 0) throw new UsageError("no tokens given: pass them as arguments or one a line on standard input");
  return failed === 0 ? 0 : 1;
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
