import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_KEY, startService, type TestService } from "./helpers/service.js";

const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs the package's bin as a user would, with a minimal environment. */
function cli(args: string[], stdin = "", env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["bin/token-blacklist.js", ...args], {
      cwd: root,
      env: { PATH: process.env.PATH ?? "", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

describe.each(["connect", "grpc"])("token-blacklist CLI over %s", (protocol) => {
  const at = () => ["--url", service.baseUrl, "--protocol", protocol];

  it("mints a token the service accepts, then revokes and restores it", async () => {
    const minted = await cli(["mint", "--sub", "cli-user", "--ttl", "15m", "--claim", "role=admin"]);
    expect(minted.code).toBe(0);
    const token = minted.stdout.trim();
    expect(token.split(".")).toHaveLength(3);

    const info = await cli(["info", ...at(), token]);
    expect(info).toMatchObject({ code: 0 });
    expect(info.stdout).toMatch(/^valid +\S{12} +sub=cli-user exp=\d{4}-/);
    expect(info.stdout).not.toContain(token.split(".")[2]); // prints a fingerprint, never the token

    const revoked = await cli(["blacklist", ...at(), token]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked +\S{12} +Token blacklisted/);

    const refused = await cli(["info", ...at(), token]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/^refused +\S{12} +unauthenticated: Token is blacklisted/);

    const denied = await cli(["unblacklist", ...at(), token]);
    expect(denied.code).toBe(1);
    expect(denied.stdout).toMatch(/permission_denied/);

    const restored = await cli(["unblacklist", ...at(), "--admin-key", ADMIN_KEY, token]);
    expect(restored.code).toBe(0);
    expect(restored.stdout).toMatch(/^restored +\S{12} +Token unblacklisted/);
  });

  it("reads a list from stdin, prints JSON lines, and summarises", async () => {
    const tokens = [(await cli(["mint"])).stdout.trim(), (await cli(["mint"])).stdout.trim()];
    const input = `# tokens to revoke\n${tokens[0]}\n\nnot-a-token\n${tokens[1]}\n`;
    const result = await cli(["blacklist", ...at(), "--json"], input);
    expect(result.code).toBe(1);
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.map((l) => l.code)).toEqual(["ok", "unauthenticated", "ok"]);
    expect(lines[0]).toMatchObject({ ok: true, changed: true, info: "Token blacklisted" });
    expect(lines[0]!.fingerprint).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(result.stderr).toMatch(/3 tokens: 2 succeeded, 1 failed/);
  });
});

describe("token-blacklist CLI operator commands", () => {
  const at = () => ["--url", service.baseUrl, "--admin-key", ADMIN_KEY];

  it("revokes and restores a jti and a subject, and shows them in the history", async () => {
    const jti = `cli-${crypto.randomUUID()}`;
    const token = (await cli(["mint", "--sub", "cli-subject", "--claim", `jti=${jti}`])).stdout.trim();
    const revoked = await cli(["revoke-jti", ...at(), "--reason", "leaked", jti]);
    expect(revoked).toMatchObject({ code: 0 });
    expect(revoked.stdout).toMatch(new RegExp(`^changed +jti ${jti} +jti revoked`));
    expect((await cli(["info", "--url", service.baseUrl, token])).stdout).toMatch(/unauthenticated: jti revoked/);
    expect((await cli(["restore-jti", ...at(), jti])).stdout).toMatch(/^changed +jti .* jti restored/);

    const before = new Date(Date.now() + 60_000).toISOString();
    const future = await cli(["revoke-subject", ...at(), "--before", before, "cli-subject"]);
    expect(future.code).toBe(1);
    expect(future.stdout).toMatch(/^refused +subject cli-subject +invalid_argument: issued_before is in the future/);
    const subject = await cli(["revoke-subject", ...at(), "--json", "cli-subject"]);
    expect(JSON.parse(subject.stdout)).toMatchObject({ name: "cli-subject", ok: true, changed: true });
    expect((await cli(["info", "--url", service.baseUrl, token])).stdout).toMatch(/Subject revoked at/);
    expect((await cli(["restore-subject", ...at(), "cli-subject"])).code).toBe(0);

    const history = await cli(["history", ...at(), "--limit", "4"]);
    expect(history.code).toBe(0);
    const lines = history.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/^\d{4}-\S+Z +restore +subject cli-subject +by admin/);
    expect(lines[3]).toMatch(new RegExp(`revoke +jti +${jti} +by admin +"leaked"`));
  });

  it("fails with exit code 1 without the admin key", async () => {
    expect((await cli(["revoke-subject", "--url", service.baseUrl, "someone"])).stdout).toMatch(
      /^refused +subject someone +permission_denied/,
    );
    const history = await cli(["history", "--url", service.baseUrl]);
    expect(history.code).toBe(1);
    expect(history.stderr).toMatch(/permission_denied/);
  });
});

describe("token-blacklist CLI errors", () => {
  it("exits 2 with a hint on a usage error", async () => {
    const result = await cli(["frobnicate"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unknown command "frobnicate"[\s\S]*--help/);
  });

  it("reports an unreachable service per token, with exit 1", async () => {
    const result = await cli(["info", "--url", "http://127.0.0.1:1", (await cli(["mint"])).stdout.trim()]);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/^refused .* unavailable/);
  });

  it("refuses to mint when the service is configured for public keys", async () => {
    const result = await cli(["mint"], "", { JWT_JWKS_URL: "https://issuer.example/jwks.json" });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/mint signs with JWT_SECRET/);
  });
});
