/**
 * The consumer tests' token-blacklist: the installed package's own compiled
 * entry point (`dist/src/main.js`, as `npx token-blacklist` would find it) in a
 * process of its own, on embedded SQLite in a temporary directory, and HS256
 * tokens signed here (the consumer needs no JWT library to test).
 */
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export const SECRET = "consumer-test-secret";
export const ISSUER = "https://issuer.example/";
export const FEED_KEY = "consumer-test-feed-key";
export const ADMIN_KEY = "consumer-admin-key";

/** An HS256 token for `sub`, valid for ten minutes. */
export function token(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  const input = `${part({ alg: "HS256", typ: "JWT" })}.${part({ sub, iss: ISSUER, iat: now, exp: now + 600 })}`;
  return `${input}.${createHmac("sha256", SECRET).update(input).digest("base64url")}`;
}

/** Starts token-blacklist on a free port; resolves with its base URL once it listens. */
export async function startTokenBlacklist(): Promise<{ url: string; stop(): void }> {
  const dataDir = mkdtempSync(join(tmpdir(), "consumer-"));
  const main = join(dirname(createRequire(import.meta.url).resolve("token-blacklist/package.json")), "dist/src/main.js");
  const service = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH,
      PORT: "0",
      HOST: "127.0.0.1",
      SQLITE_PATH: join(dataDir, "t.db"),
      JWT_SECRET: SECRET,
      JWT_ISSUER: ISSUER,
      FEED_KEY,
      ADMIN_KEY,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stop = () => {
    service.kill();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let output = "";
      const timer = setTimeout(() => reject(new Error(`token-blacklist did not start: ${output}`)), 20_000);
      service.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString()));
      service.once("exit", (code) => reject(new Error(`token-blacklist exited (${code}): ${output}`)));
      service.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const port = /"port":(\d+).*"msg":"token-blacklist listening"/.exec(output)?.[1];
        if (port !== undefined) {
          clearTimeout(timer);
          resolve(`http://127.0.0.1:${port}`);
        }
      });
    });
    return { url, stop };
  } catch (error) {
    stop();
    throw error;
  }
}
