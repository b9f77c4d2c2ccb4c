import { mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startMain } from "./helpers/main-process.js";
import { mint } from "./helpers/tokens.js";

const dir = mkdtempSync(join(tmpdir(), "tb-shutdown-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What a stream the server refused with GOAWAY reports: not accepted, so safe for the client to retry. */
const REFUSED = 0;

/** Sends GET /info on a connection of its own; resolves once the request is written, and later with its status. */
function http1Request(port: number, token: string): { written: Promise<void>; status: Promise<number> } {
  let onWritten!: () => void;
  const written = new Promise<void>((resolve) => (onWritten = resolve));
  const status = new Promise<number>((resolve) => {
    const req = request({ host: "127.0.0.1", port, path: "/info", agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("finish", onWritten);
    req.on("error", (err) => resolve(-1 * (err.message.length || 1)));
    req.end();
  });
  return { written, status };
}

describe("SIGTERM during a burst", () => {
  it("answers every request already sent, over HTTP/1.1 and h2, then exits 0", async () => {
    const service = await startMain({ SQLITE_PATH: join(dir, "tokens.db") });
    const token = mint();

    const h1 = Array.from({ length: 60 }, () => http1Request(service.port, token));
    const session = http2.connect(service.baseUrl);
    const h2 = Array.from(
      { length: 60 },
      () =>
        new Promise<number>((resolve) => {
          const stream = session.request({ ":path": "/info", authorization: `Bearer ${token}` });
          let status = 0;
          stream.on("response", (headers) => (status = Number(headers[":status"])));
          stream.resume();
          stream.on("end", () => resolve(status));
          stream.on("error", (err) => resolve(/REFUSED_STREAM/.test(err.message) ? REFUSED : -1));
        }),
    );
    await Promise.all(h1.map((r) => r.written));

    const exit = service.stop("SIGTERM");
    const statuses = [...(await Promise.all(h1.map((r) => r.status))), ...(await Promise.all(h2))];
    session.close();

    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    expect(statuses).toHaveLength(120);
    expect(await exit).toBe(0);
    expect(service.output()).toMatch(/"msg":"stopped"/);
  });
});
