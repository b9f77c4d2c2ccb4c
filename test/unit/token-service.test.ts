import { Code, ConnectError } from "@connectrpc/connect";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RevocationScope } from "../../gen/tokens/v1/token_service_pb.js";
import { INTERNAL_MESSAGE } from "../../src/service/observed.js";
import type { CallRecord, ServiceObserver } from "../../src/service/types.js";
import { StoreUnavailable, type RevocationStore } from "../../src/store/revocation-store.js";
import { inProcessService, type InProcessService } from "../helpers/in-process.js";
import { ADMIN_KEY } from "../helpers/service.js";
import { mint } from "../helpers/tokens.js";

/**
 * The TokenService rules, driven in-process through connect-es's router
 * transport over a real SQLite file: the fast tier (`npm run test:unit`).
 * The socket-level suites check the same rules over every wire protocol.
 */
const bearer = (token: string, extra: Record<string, string> = {}) => ({ headers: { authorization: `Bearer ${token}`, ...extra } });
const operator = { headers: { "x-admin-key": ADMIN_KEY } };

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  const err = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConnectError);
  return err as ConnectError;
}

describe("TokenService rules, in process", () => {
  let service: InProcessService;
  beforeAll(() => {
    service = inProcessService();
  });
  afterAll(() => service.close());

  it("answers Info with the claims of a valid token", async () => {
    const token = mint({ sub: "unit", role: "reader" });
    const res = await service.client.info({}, bearer(token));
    expect(res).toMatchObject({ success: true, token, info: "Token is valid" });
    expect(res.decodedToken).toMatchObject({ sub: "unit", role: "reader" });
  });

  it.each([
    ["no Authorization header", {}, /^Missing Authorization header/],
    ["another scheme", { authorization: "Basic dTpw" }, /must use the Bearer scheme/],
    ["a malformed token", { authorization: "Bearer abc" }, /malformed/],
    ["a token signed with another secret", { authorization: `Bearer ${mint({}, { secret: "other" })}` }, /signature is invalid/],
    ["an expired token", { authorization: `Bearer ${mint({}, { expiresInSeconds: -60 })}` }, /expired/],
  ])("refuses %s with UNAUTHENTICATED", async (_name, headers, message) => {
    const err = await failure(service.client.info({}, { headers }));
    expect(err.code).toBe(Code.Unauthenticated);
    expect(err.rawMessage).toMatch(message);
  });

  it("revokes the bearer token, idempotently, and an operator restores it", async () => {
    const token = mint({ sub: "logout" });
    expect(await service.client.blacklist({}, bearer(token))).toMatchObject({ info: "Token blacklisted", newlyBlacklisted: true });
    expect(await service.client.blacklist({}, bearer(token))).toMatchObject({
      info: "Token was already blacklisted",
      newlyBlacklisted: false,
    });
    expect((await failure(service.client.info({}, bearer(token)))).rawMessage).toBe("Token is blacklisted");
    // The holder cannot restore it; the operator can.
    expect((await failure(service.client.unblacklist({}, bearer(token)))).code).toBe(Code.PermissionDenied);
    expect(await service.client.unblacklist({}, bearer(token, { "x-admin-key": ADMIN_KEY }))).toMatchObject({ wasBlacklisted: true });
    expect(await service.client.info({}, bearer(token))).toMatchObject({ success: true });
  });

  it("lets operators act on a token named in the body, and refuses that to holders", async () => {
    const token = mint({ sub: "victim" });
    expect((await failure(service.client.blacklist({ token }, bearer(mint())))).code).toBe(Code.PermissionDenied);
    expect(await service.client.blacklist({ token, reason: "leaked" }, operator)).toMatchObject({ newlyBlacklisted: true });
    expect((await failure(service.client.info({}, bearer(token)))).code).toBe(Code.Unauthenticated);
    const bad = await failure(service.client.blacklist({ token: "garbage" }, operator));
    expect(bad.code).toBe(Code.InvalidArgument);
  });

  it("revokes by jti and by subject, and says which scope matched", async () => {
    const jti = crypto.randomUUID();
    await service.client.revokeJti({ jti }, operator);
    expect((await failure(service.client.info({}, bearer(mint({ jti }))))).rawMessage).toBe("jti revoked");
    const sub = `s-${crypto.randomUUID()}`;
    const before = mint({ sub, iat: Date.now() / 1000 - 60 });
    await service.client.revokeSubject({ subject: sub }, operator);
    expect((await failure(service.client.info({}, bearer(before)))).rawMessage).toMatch(/^Subject revoked at /);
    const inspected = await service.client.inspectToken({ token: before }, operator);
    expect(inspected).toMatchObject({ valid: false, verified: true, revokedBy: RevocationScope.SUBJECT });
  });

  it("pages through the history, newest first", async () => {
    const first = await service.client.history({ pageSize: 2 }, operator);
    expect(first.events).toHaveLength(2);
    const second = await service.client.history({ pageSize: 2, pageToken: first.nextPageToken }, operator);
    expect(Number(second.events[0]!.id)).toBeLessThan(Number(first.events[1]!.id));
    expect((await failure(service.client.history({ pageToken: "nope" }, operator))).code).toBe(Code.InvalidArgument);
  });

  it("refuses every operator RPC without the key", async () => {
    for (const call of [
      () => service.client.revokeJti({ jti: "x" }),
      () => service.client.restoreSubject({ subject: "x" }),
      () => service.client.history({}),
      () => service.client.inspectToken({ token: "a.b.c" }),
    ]) {
      expect((await failure(call())).code).toBe(Code.PermissionDenied);
    }
  });
});

describe("a failing store", () => {
  const failing =
    (fault: () => Error) =>
    (store: RevocationStore): RevocationStore => ({
      ...store,
      check: () => Promise.reject(fault()),
      revoke: () => Promise.reject(fault()),
    });

  it("answers UNAVAILABLE when the store is down, never valid", async () => {
    const service = inProcessService({}, { wrapStore: failing(() => new StoreUnavailable("down")) });
    try {
      const err = await failure(service.client.info({}, bearer(mint())));
      expect(err.code).toBe(Code.Unavailable);
      expect((await failure(service.client.blacklist({}, bearer(mint())))).code).toBe(Code.Unavailable);
    } finally {
      await service.close();
    }
  });

  it("answers valid, loudly, with FAIL_OPEN=true", async () => {
    const service = inProcessService({ FAIL_OPEN: "true" }, { wrapStore: failing(() => new StoreUnavailable("down")) });
    try {
      expect((await service.client.info({}, bearer(mint()))).info).toMatch(/revocation NOT checked/);
    } finally {
      await service.close();
    }
  });

  it("turns an unforeseen failure into INTERNAL with a stable message, reported once with its cause", async () => {
    const internal: Array<{ rpc: string; error: unknown }> = [];
    const calls: CallRecord[] = [];
    const observer: ServiceObserver = {
      callStarted: () => {},
      callCompleted: (record) => calls.push(record),
      changed: () => {},
      storeError: () => {},
      failedOpen: () => {},
      internalError: (rpc, _protocol, error) => internal.push({ rpc, error }),
    };
    const service = inProcessService({}, { observer, wrapStore: failing(() => new TypeError("a bug")) });
    try {
      const err = await failure(service.client.info({}, bearer(mint())));
      expect(err.code).toBe(Code.Internal);
      expect(err.rawMessage).toBe(INTERNAL_MESSAGE);
      expect(err.rawMessage).not.toContain("a bug");
      expect(internal).toHaveLength(1);
      expect(internal[0]).toMatchObject({ rpc: "Info", error: expect.objectContaining({ name: "TypeError", message: "a bug" }) });
      expect(calls.at(-1)).toMatchObject({ rpc: "Info", code: Code.Internal });
    } finally {
      await service.close();
    }
  });
});
