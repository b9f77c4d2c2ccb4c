import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** `npm start` as a child process: the real entry point, environment and signals. */
export interface MainProcess {
  child: ChildProcess;
  port: number;
  baseUrl: string;
  /** Everything it wrote so far, stdout and stderr. */
  output(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** How to run the entry point beyond its environment. */
export interface MainOptions {
  /**
   * A command that runs the rest of the command line (`prlimit --nofile=512:512 --`,
   * `setpriv ...`): its program must exec the service, so the child's pid is the service's.
   */
  wrapper?: string[];
}

/** Runs the compiled entry point (dist/src/main.js, as `npm start` does) with `env` on top of a minimal environment; resolves once it listens. */
export async function startMain(env: Record<string, string>, options: MainOptions = {}): Promise<MainProcess> {
  const child = spawnMain(env, options);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not start: ${output}`)), 20_000);
    const check = () => {
      const match = /"port":(\d+).*"msg":"token-blacklist listening"/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout!.on("data", check);
    void exit.then((code) => reject(new Error(`exited with ${code}: ${output}`)));
  });
  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => output,
    async stop(signal = "SIGTERM") {
      child.kill(signal);
      return exit;
    },
  };
}

/** Runs the compiled entry point to completion (for start-up failures); resolves with its exit code and output. */
export function runMainToExit(env: Record<string, string>, options: MainOptions = {}): Promise<{ code: number | null; output: string }> {
  const child = spawnMain(env, options);
  let output = "";
  child.stdout!.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr!.on("data", (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  return new Promise((resolve) =>
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    }),
  );
}

function spawnMain(env: Record<string, string>, options: MainOptions): ChildProcess {
  const [program, ...args] = options.wrapper ?? [process.execPath];
  return spawn(program!, [...args, ...(options.wrapper === undefined ? [] : [process.execPath]), "dist/src/main.js"], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", HOST: "127.0.0.1", PORT: "0", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
}
