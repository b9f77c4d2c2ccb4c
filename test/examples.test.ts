import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startService, type TestService } from "./helpers/service.js";
import { mint } from "./helpers/tokens.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

let service: TestService;
beforeAll(async () => {
  service = await startService();
});
afterAll(() => service.close());

describe("the README's generated-client example", () => {
  const example = (token: string) =>
    run(process.execPath, ["--import", "tsx", "examples/check-token.ts", service.baseUrl], {
      cwd: root,
      env: { PATH: process.env.PATH, TOKEN: token },
    });

  it("reports a valid token", async () => {
    const { stdout } = await example(mint({ sub: "example" }));
    expect(stdout).toMatch(/^valid: sub=example exp=\d+/);
  });

  it("reports a refusal and exits non-zero", async () => {
    await expect(example("garbage")).rejects.toMatchObject({
      code: 1,
      stdout: expect.stringMatching(/^refused: Unauthenticated: Token is malformed/),
    });
  });
});
