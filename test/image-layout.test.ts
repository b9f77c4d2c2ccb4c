import { execFile, spawn, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./helpers/redis-server.js";

/**
 * There is no Docker engine here, so the Dockerfile is checked by doing what
 * it says: its final stage is read, the same dist/ is compiled with the build
 * stage's command, the production dependencies are laid out as `npm prune
 * --omit=dev` leaves them, and the image's CMD and HEALTHCHECK run from that
 * copy with the image's environment.
 */
const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

interface Instruction {
  keyword: string;
  args: string;
}

function instructions(dockerfile: string): Instruction[] {
  return dockerfile
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(" ") };
    });
}

const all = instructions(readFileSync(join(root, "Dockerfile"), "utf8"));
const lastFrom = all.map((i) => i.keyword).lastIndexOf("FROM");
const buildStage = all.slice(0, lastFrom);
const finalStage = all.slice(lastFrom);
const of = (keyword: string) => finalStage.filter((i) => i.keyword === keyword);
const env = Object.fromEntries(of("ENV").flatMap((i) => [...i.args.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1]!, m[2]!])));
const execForm = (args: string) => JSON.parse(args.slice(args.indexOf("["))) as string[];

/** Package folders (node_modules/...) that a production install keeps, by npm's own account. */
async function productionPackages(): Promise<string[]> {
  const { stdout } = await run("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: root, maxBuffer: 1 << 24 });
  return stdout
    .split("\n")
    .filter((path) => path.includes("node_modules"))
    .map((path) => relative(root, path));
}

describe("the Docker image, laid out by hand", () => {
  const dir = mkdtempSync(join(tmpdir(), "tb-image-"));
  const app = join(dir, "app");
  let packages: string[];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    mkdirSync(app);
    packages = await productionPackages();
    for (const { args } of of("COPY")) {
      const [first, ...rest] = args.split(/\s+/);
      if (first!.startsWith("--from=")) {
        const [source, target] = rest as [string, string];
        const name = source.replace(/^\/app\//, "");
        if (name === "dist") {
          // The build stage's `npm ci` runs `prepare`: tsc -p tsconfig.build.json.
          await run(
            "npx",
            ["tsc", "-p", "tsconfig.build.json", "--outDir", join(app, target), "--tsBuildInfoFile", join(dir, "build-info")],
            { cwd: root },
          );
        } else if (name === "node_modules") {
          // What `npm prune --omit=dev` leaves: top-level production packages (their nested ones come along).
          for (const path of packages.filter((p) => p.split("node_modules").length === 2))
            cpSync(join(root, path), join(app, path), { recursive: true });
        } else {
          throw new Error(`the test does not know how to lay out ${source} from the build stage`);
        }
      } else {
        const [source, target] = [first!, rest[0]!];
        for (const name of source.split(/\s+/)) cpSync(join(root, name), join(app, target === "./" ? name : target), { recursive: true });
      }
    }
  }, 120_000);
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill("SIGKILL");
      await new Promise((resolve) => child!.once("exit", resolve));
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("builds with the build stage's command and ships neither sources nor build tools", () => {
    expect(buildStage.some((i) => i.keyword === "RUN" && /npm ci/.test(i.args) && /npm prune --omit=dev/.test(i.args))).toBe(true);
    expect(of("FROM")[0]!.args).toMatch(/^node:24/);
    expect(of("USER")[0]?.args).toBe("node");
    expect(existsSync(join(app, "dist/src/main.js"))).toBe(true);
    expect(existsSync(join(app, "src"))).toBe(false);
    for (const tool of ["tsx", "esbuild", "typescript", "vitest", "@esbuild"]) {
      expect(existsSync(join(app, "node_modules", tool)), tool).toBe(false);
      expect(
        packages.some((p) => p === `node_modules/${tool}` || p.endsWith(`/node_modules/${tool}`)),
        tool,
      ).toBe(false);
    }
  });

  it("starts with the image's CMD and environment, answers its HEALTHCHECK, and stops on SIGTERM", async () => {
    const port = await freePort();
    const runtimeEnv = {
      PATH: process.env.PATH ?? "",
      ...env,
      PORT: String(port),
      HOST: "127.0.0.1",
      SQLITE_PATH: join(dir, "data", "tokens.db"),
      JWT_SECRET: "a-production-secret-for-the-image-test",
    };
    expect(env.NODE_ENV).toBe("production");
    const [command, ...args] = execForm(of("CMD")[0]!.args);
    expect(command).toBe("node");
    child = spawn(process.execPath, args, { cwd: app, env: runtimeEnv, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start: ${output}`)), 20_000);
      child!.stdout!.on("data", () => {
        if (output.includes("token-blacklist listening")) {
          clearTimeout(timer);
          resolve();
        }
      });
      child!.once("exit", (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });
    const healthcheck = of("HEALTHCHECK")[0]!.args;
    expect(healthcheck).toMatch(/\/healthz/);
    const [hcCommand, ...hcArgs] = execForm(healthcheck.slice(healthcheck.indexOf("CMD")));
    expect(hcCommand).toBe("node");
    await expect(run(process.execPath, hcArgs, { cwd: app, env: runtimeEnv })).resolves.toBeDefined();

    const exited = new Promise<number | null>((resolve) => child!.once("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
    // The healthcheck fails once the service is gone: it asserts something.
    await expect(run(process.execPath, hcArgs, { cwd: app, env: runtimeEnv })).rejects.toMatchObject({ code: 1 });
  });
});
