import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bearer, restHttp1Client } from "./helpers/clients.js";
import { runMainToExit, startMain } from "./helpers/main-process.js";
import { mint } from "./helpers/tokens.js";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "tb-main-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the service process on the embedded SQLite store", () => {
  it("keeps a revocation across a restart, exits 0 on SIGTERM, and never writes the token to disk or logs", async () => {
    const sqlitePath = join(dir, "restart", "tokens.db");
    const token = mint({ sub: "restart" });
    const first = await startMain({ SQLITE_PATH: sqlitePath });
    const client = restHttp1Client(first.baseUrl);
    expect((await client.info(bearer(token))).ok).toBe(true);
    expect((await client.blacklist(bearer(token))).ok).toBe(true);
    expect(await first.stop("SIGTERM")).toBe(0);

    const second = await startMain({ SQLITE_PATH: sqlitePath });
    const refused = await restHttp1Client(second.baseUrl).info(bearer(token));
    expect(refused).toMatchObject({ ok: false, status: 401, message: "Token is blacklisted" });
    expect(await second.stop("SIGINT")).toBe(0);

    const [, payload, signature] = token.split(".") as [string, string, string];
    const files = readdirSync(join(dir, "restart")).map((f) => join(dir, "restart", f));
    expect(files.some((f) => f.endsWith("tokens.db"))).toBe(true);
    for (const file of files) {
      const bytes = readFileSync(file).toString("latin1");
      for (const part of [token, payload, signature]) expect(bytes).not.toContain(part);
    }
    for (const output of [first.output(), second.output()]) {
      for (const part of [payload, signature]) expect(output).not.toContain(part);
      expect(output).toMatch(/"msg":"stopped"/);
    }
  });
});

describe("start-up failures name the cause", () => {
  it.each([
    [{ PORT: "abc" }, 2, /invalid configuration: PORT: expected a whole number/],
    [{ NODE_ENV: "production" }, 2, /JWT_SECRET: NODE_ENV=production refuses the default secret/],
    [{ REDIS_URL: "redis://127.0.0.1:1" }, 1, /cannot open the revocation store: REDIS_URL: cannot connect/],
  ])("%j exits %i", async (env, code, message) => {
    const result = await runMainToExit({ SQLITE_PATH: join(dir, "fail.db"), ...env });
    expect(result.code).toBe(code);
    expect(result.output).toMatch(message);
    expect(result.output).not.toMatch(/\n\s+at /); // no stack trace
  });
});
