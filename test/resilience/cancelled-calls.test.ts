import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ErrorCode, FrameType, headers, rawH2, type RawH2Connection, rstStream } from "../helpers/raw-h2.js";
import { mint } from "../helpers/tokens.js";
import { ADMIN_KEY, getInfo, startTarget, type Target } from "./target.js";

// Issue 12, case 5: a request the client cancels before it is complete is never executed, on every protocol.

let target: Target;
beforeAll(async () => {
  target = await startTarget();
});
afterAll(() => target?.close());

/** Whether `token` is answered valid (200) or revoked (401) by a fresh GET /info. */
async function infoStatus(token: string): Promise<number> {
  return (await getInfo(target.port, token)).status;
}

async function revoke(token: string): Promise<void> {
  const res = await fetch(`${target.baseUrl}/blacklist`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
}

/**
 * Opens stream 1 with `fields` and no END_STREAM, resets it (CANCEL), then
 * runs a complete GET /info on stream 3 of the same connection: once that is
 * answered, everything the server did for stream 1 is done.
 */
async function cancelBeforeBody(connection: RawH2Connection, fields: Record<string, string>): Promise<void> {
  connection.send(headers(1, { ":scheme": "http", ":authority": "x", ...fields }, false), rstStream(1, ErrorCode.CANCEL));
  connection.send(
    headers(3, { ":method": "GET", ":scheme": "http", ":authority": "x", ":path": "/info", authorization: `Bearer ${target.token}` }, true),
  );
  await connection.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 3);
  connection.socket.destroy();
}

describe("requests cancelled before their body", () => {
  const revokeCalls: Array<[string, (token: string) => Record<string, string>]> = [
    [
      "REST POST /blacklist",
      (t) => ({ ":method": "POST", ":path": "/blacklist", authorization: `Bearer ${t}`, "content-type": "application/json" }),
    ],
    [
      "Connect Blacklist",
      (t) => ({
        ":method": "POST",
        ":path": "/tokens.v1.TokenService/Blacklist",
        authorization: `Bearer ${t}`,
        "content-type": "application/json",
      }),
    ],
    [
      "gRPC Blacklist",
      (t) => ({
        ":method": "POST",
        ":path": "/tokens.v1.TokenService/Blacklist",
        authorization: `Bearer ${t}`,
        "content-type": "application/grpc",
        te: "trailers",
      }),
    ],
    [
      "gRPC-Web Blacklist",
      (t) => ({
        ":method": "POST",
        ":path": "/tokens.v1.TokenService/Blacklist",
        authorization: `Bearer ${t}`,
        "content-type": "application/grpc-web+proto",
      }),
    ],
  ];
  it.each(revokeCalls)("HTTP/2 %s: HEADERS then RST_STREAM revokes nothing", async (_name, fields) => {
    const token = mint();
    await cancelBeforeBody(await rawH2(target.port), fields(token));
    expect(await infoStatus(token)).toBe(200);
  });

  const restoreCalls: Array<[string, (bearer: string) => Record<string, string>]> = [
    [
      "REST DELETE /blacklist",
      (b) => ({
        ":method": "DELETE",
        ":path": "/blacklist",
        authorization: `Bearer ${b}`,
        "x-admin-key": ADMIN_KEY,
        "content-type": "application/json",
      }),
    ],
    [
      "Connect Unblacklist",
      (b) => ({
        ":method": "POST",
        ":path": "/tokens.v1.TokenService/Unblacklist",
        authorization: `Bearer ${b}`,
        "x-admin-key": ADMIN_KEY,
        "content-type": "application/json",
      }),
    ],
  ];
  it.each(restoreCalls)("HTTP/2 %s by an operator, cancelled before its body names the token: both stay revoked", async (_name, fields) => {
    const bearer = mint();
    const named = mint(); // what the body would have named
    await revoke(bearer);
    await revoke(named);
    await cancelBeforeBody(await rawH2(target.port), fields(bearer));
    expect(await infoStatus(bearer)).toBe(401);
    expect(await infoStatus(named)).toBe(401);
  });

  it("HTTP/1.1 DELETE /blacklist by an operator, closed halfway through its body: both stay revoked", async () => {
    const bearer = mint();
    const named = mint();
    await revoke(bearer);
    await revoke(named);
    const body = JSON.stringify({ token: named });
    await new Promise<void>((resolve) => {
      const socket = net.connect(target.port, "127.0.0.1", () => {
        socket.write(
          `DELETE /blacklist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${bearer}\r\nx-admin-key: ${ADMIN_KEY}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, body.length / 2)}`,
        );
        socket.destroy();
      });
      socket.once("close", () => resolve());
    });
    // A later request on another connection is answered after the server saw the first one end.
    expect(await infoStatus(bearer)).toBe(401);
    expect(await infoStatus(named)).toBe(401);
  });
});
