import { timestampMs } from "@bufbuild/protobuf/wkt";
import { type Client, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  AuditAction,
  type RevocationEntry,
  RevocationScope,
  TokenService,
  type WatchRevocationsResponse_SnapshotReason,
} from "../../gen/tokens/v1/token_service_pb.js";
import { entryKey } from "../../src/store/revocation-store.js";

/** What a reader holds for one entry: the cutoff of a subject entry, and the expiry. */
export interface HeldEntry {
  issuedBeforeMs: number | undefined;
  expiresAtMs: number | undefined;
}

/**
 * Reads WatchRevocations the way its .proto comments tell a client to, with
 * no code from the service: a snapshot replaces what it held, a change
 * replaces or removes one entry, and the last cursor is kept.
 */
export class FeedReader {
  held = new Map<string, HeldEntry>();
  cursor = "";
  /** Snapshot reasons and "resumed", in the order they came, over every stream this reader opened. */
  readonly starts: Array<WatchRevocationsResponse_SnapshotReason | "resumed"> = [];
  messages = 0;
  heartbeats = 0;
  lastLagMs: number | undefined;
  /** Why the current stream ended, once it has. */
  ended: ConnectError | "ended" | undefined;
  private abort: AbortController | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly key: string,
    private readonly headerName = "x-feed-key",
  ) {}

  /** Opens a stream to `baseUrl`, from the cursor held (none at first). */
  open(baseUrl: string): void {
    const client: Client<typeof TokenService> = createClient(TokenService, createConnectTransport({ baseUrl, httpVersion: "2" }));
    this.abort = new AbortController();
    this.ended = undefined;
    const signal = this.abort.signal;
    this.running = (async () => {
      let loading: Map<string, HeldEntry> | undefined;
      try {
        for await (const message of client.watchRevocations(
          { cursor: this.cursor },
          { headers: { [this.headerName]: this.key }, signal },
        )) {
          this.messages++;
          const event = message.event;
          if (event.case === "snapshotStart") {
            this.starts.push(event.value.reason);
            loading = new Map();
          } else if (event.case === "snapshotEntry") {
            loading!.set(keyOf(event.value), heldOf(event.value));
          } else if (event.case === "snapshotEnd") {
            this.held = loading!;
            loading = undefined;
            this.cursor = event.value.cursor;
          } else if (event.case === "resumed") {
            this.starts.push("resumed");
          } else if (event.case === "change") {
            const entry = event.value.entry!;
            if (event.value.action === AuditAction.REVOKE) this.held.set(keyOf(entry), heldOf(entry));
            else this.held.delete(keyOf(entry));
            this.cursor = event.value.cursor;
          } else if (event.case === "heartbeat") {
            this.heartbeats++;
            this.lastLagMs = event.value.lagMs;
            this.cursor = event.value.cursor;
          }
        }
        this.ended = "ended";
      } catch (err) {
        this.ended = ConnectError.from(err);
      }
    })();
  }

  /** Closes the stream (the cursor is kept for the next {@link open}). */
  async close(): Promise<void> {
    this.abort?.abort();
    await this.running;
  }

  /** The entries held that have not expired at `nowMs`. */
  live(nowMs = Date.now()): Map<string, HeldEntry> {
    return new Map([...this.held].filter(([, entry]) => entry.expiresAtMs === undefined || entry.expiresAtMs > nowMs));
  }
}

function keyOf(entry: RevocationEntry): string {
  switch (entry.scope) {
    case RevocationScope.TOKEN:
      return entryKey({ scope: "token", fingerprint: entry.fingerprint });
    case RevocationScope.JTI:
      return entryKey({ scope: "jti", issuer: entry.issuer, jti: entry.jti });
    default:
      return entryKey({ scope: "subject", issuer: entry.issuer, subject: entry.subject });
  }
}

function heldOf(entry: RevocationEntry): HeldEntry {
  return {
    issuedBeforeMs: entry.issuedBefore === undefined ? undefined : timestampMs(entry.issuedBefore),
    expiresAtMs: entry.expiresAt === undefined ? undefined : timestampMs(entry.expiresAt),
  };
}
