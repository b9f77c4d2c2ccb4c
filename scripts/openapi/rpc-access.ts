/** A credential a call may carry: the bearer token (`Authorization: Bearer <jwt>`) or the operator key (`x-admin-key`). */
export type Credential = "bearer" | "adminKey";

/**
 * Who may call each RPC that has a REST route, as the proto comments and
 * src/service/ say: each entry lists the alternative sets of credentials
 * that are accepted (OpenAPI's `security`). An RPC missing here stops the
 * generator, so a new route is never documented without saying who may call it.
 */
const ACCESS: Readonly<Record<string, ReadonlyArray<readonly Credential[]>>> = {
  // The holder's own token.
  Info: [["bearer"]],
  // The holder's own token, or an operator naming one in `token`.
  Blacklist: [["bearer"], ["adminKey"]],
  // Operator only: the `token` field, or else the bearer token.
  Unblacklist: [["adminKey"], ["adminKey", "bearer"]],
  RevokeJti: [["adminKey"]],
  RestoreJti: [["adminKey"]],
  GetJtiRevocation: [["adminKey"]],
  RevokeSubject: [["adminKey"]],
  RestoreSubject: [["adminKey"]],
  GetSubjectRevocation: [["adminKey"]],
  InspectToken: [["adminKey"]],
  History: [["adminKey"]],
};

/** The credentials an RPC accepts; throws for an RPC nobody has classified. */
export function rpcAccess(rpc: string): ReadonlyArray<readonly Credential[]> {
  const access = ACCESS[rpc];
  if (access === undefined) throw new Error(`${rpc} has a REST route: say who may call it in scripts/openapi/rpc-access.ts`);
  return access;
}
