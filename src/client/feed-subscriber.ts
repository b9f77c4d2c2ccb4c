import { type Client, ConnectError, Code } from "@connectrpc/connect";
import type { TokenService } from "../../gen/tokens/v1/token_service_pb.js";
import { entryOfMessage } from "../feed/feed-messages.js";
import { RevocationSet } from "../feed/revocation-set.js";
import { AuditAction } from "../../gen/tokens/v1/token_service_pb.js";

/** What a {@link FeedSubscriber} reports as it goes. */
export interface FeedState {
  /** True once a snapshot is loaded. */
  synced: boolean;
  /** The last cursor received. */
  cursor: string;
  /** When the mirror last held every change the service had (epoch ms): a heartbeat's arrival minus its lag. */
  freshAtMs: number | undefined;
  /** The last error from the stream, while reconnecting. */
  error: Error | undefined;
}

/** Options for {@link FeedSubscriber}. */
export interface FeedSubscriberOptions {
  client: Client<typeof TokenService>;
  feedKey: string;
  /** Told after each message that changed the state (snapshot loaded, change, heartbeat, error). */
  onState?: (state: FeedState) => void;
  /** Longest pause between reconnects (the first is 100 ms, doubling). */
  maxBackoffMs?: number;
}

/**
 * Follows WatchRevocations into a {@link RevocationSet}, reconnecting with
 * the last cursor whenever the stream ends or fails. A snapshot is loaded
 * into a new set and swapped in whole at its end, so checks never see half of
 * one.
 */
export class FeedSubscriber {
  /** The entries in force, as of {@link state}.cursor. */
  set = new RevocationSet();
  readonly state: FeedState = { synced: false, cursor: "", freshAtMs: undefined, error: undefined };
  private readonly abort = new AbortController();
  private readonly running: Promise<void>;
  private backoffMs = 100;
  private firstSnapshot: { promise: Promise<void>; resolve: () => void };

  constructor(private readonly options: FeedSubscriberOptions) {
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.firstSnapshot = { promise, resolve };
    this.running = this.run();
  }

  /** Resolves once the first snapshot is loaded and a heartbeat has said how fresh it is. */
  synced(): Promise<void> {
    return this.firstSnapshot.promise;
  }

  /** Stops following. */
  async close(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const maxBackoffMs = this.options.maxBackoffMs ?? 5000;
    while (!this.abort.signal.aborted) {
      let error: ConnectError;
      try {
        await this.follow();
        error = new ConnectError("the service ended the stream", Code.Unavailable); // a restart, a drain
      } catch (err) {
        error = ConnectError.from(err);
      }
      if (this.abort.signal.aborted) return;
      this.state.error = error;
      this.report();
      // A cursor the server refuses will never do: start over with a snapshot.
      if (error.code === Code.InvalidArgument) this.state.cursor = "";
      // The backoff grows while streams fail before a heartbeat; a stream that worked resets it (in follow).
      if (error.code === Code.PermissionDenied || error.code === Code.Unimplemented) this.backoffMs = maxBackoffMs;
      await this.pause(this.backoffMs);
      this.backoffMs = Math.min(this.backoffMs * 2, maxBackoffMs);
    }
  }

  /** Sleeps, or returns at once when closed. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Tells the caller's onState, which must not break the feed by throwing. */
  private report(): void {
    try {
      this.options.onState?.(this.state);
    } catch {
      // the caller's listener failed; the feed goes on
    }
  }

  private async follow(): Promise<void> {
    const stream = this.options.client.watchRevocations(
      { cursor: this.state.cursor },
      { headers: { "x-feed-key": this.options.feedKey }, signal: this.abort.signal },
    );
    let loading: RevocationSet | undefined;
    for await (const message of stream) {
      const event = message.event;
      switch (event.case) {
        case "snapshotStart":
          loading = new RevocationSet();
          break;
        case "snapshotEntry": {
          const entry = entryOfMessage(event.value);
          if (entry !== undefined) loading?.apply(entry[0], entry[1]);
          break;
        }
        case "snapshotEnd":
          if (loading !== undefined) this.set = loading;
          loading = undefined;
          this.state.cursor = event.value.cursor;
          this.state.synced = true;
          this.state.error = undefined;
          break;
        case "resumed":
          this.state.error = undefined;
          break;
        case "change": {
          const entry = event.value.entry === undefined ? undefined : entryOfMessage(event.value.entry);
          if (entry !== undefined) this.set.apply(entry[0], event.value.action === AuditAction.REVOKE ? entry[1] : undefined);
          this.state.cursor = event.value.cursor;
          break;
        }
        case "heartbeat":
          this.state.cursor = event.value.cursor;
          if (this.state.synced && loading === undefined) {
            this.state.freshAtMs = Date.now() - event.value.lagMs;
            this.backoffMs = 100;
            this.firstSnapshot.resolve(); // loaded, and the service said how fresh it is
          }
          break;
      }
      this.report();
    }
  }
}
