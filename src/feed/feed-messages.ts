import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import { RevocationScope, type RevocationEntry, type RevocationEntrySchema } from "../../gen/tokens/v1/token_service_pb.js";
import { entryKey, type Entry, type EntryName } from "../store/revocation-store.js";

/** The entry an {@link entryKey} names (its inverse). */
function entryIdOf(key: string): EntryName {
  if (key.startsWith("j:[") || key.startsWith("s:[")) {
    const [issuer, name] = JSON.parse(key.slice(2)) as [string, string];
    return key.startsWith("j:") ? { scope: "jti", issuer, jti: name } : { scope: "subject", issuer, subject: name };
  }
  return { scope: "token", fingerprint: key };
}

/** An entry as the feed sends it; on a restore (`entry` undefined) only its scope and names. */
export function entryMessage(key: string, entry: Entry | undefined): MessageInitShape<typeof RevocationEntrySchema> {
  const id = entryIdOf(key);
  const message: MessageInitShape<typeof RevocationEntrySchema> =
    id.scope === "token"
      ? { scope: RevocationScope.TOKEN, fingerprint: id.fingerprint }
      : id.scope === "jti"
        ? { scope: RevocationScope.JTI, issuer: id.issuer, jti: id.jti }
        : { scope: RevocationScope.SUBJECT, issuer: id.issuer, subject: id.subject };
  if (entry?.issuedBeforeMs !== undefined) message.issuedBefore = timestampFromMs(entry.issuedBeforeMs);
  if (entry?.expiresAtMs !== undefined) message.expiresAt = timestampFromMs(entry.expiresAtMs);
  return message;
}

/** The entry key and entry of a feed message; undefined for a scope this version does not know. */
export function entryOfMessage(message: RevocationEntry): [string, Entry] | undefined {
  let id: EntryName;
  switch (message.scope) {
    case RevocationScope.TOKEN:
      id = { scope: "token", fingerprint: message.fingerprint };
      break;
    case RevocationScope.JTI:
      id = { scope: "jti", issuer: message.issuer, jti: message.jti };
      break;
    case RevocationScope.SUBJECT:
      id = { scope: "subject", issuer: message.issuer, subject: message.subject };
      break;
    default:
      return undefined;
  }
  return [
    entryKey(id),
    {
      issuedBeforeMs: message.issuedBefore === undefined ? undefined : timestampMs(message.issuedBefore),
      expiresAtMs: message.expiresAt === undefined ? undefined : timestampMs(message.expiresAt),
    },
  ];
}
