import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  AuditAction,
  type WatchRevocationsRequest,
  type WatchRevocationsResponseSchema,
  WatchRevocationsResponse_SnapshotReason as SnapshotReason,
} from "../../gen/tokens/v1/token_service_pb.js";
import { createAdminKeyCheck } from "../service/admin-key.js";
import type { LoggedChange, LogPosition } from "../store/revocation-store.js";
import { entryMessage } from "./feed-messages.js";
import type { FollowerEvent, StoreFollower } from "./store-follower.js";
import { ErrorReason, refusal } from "../service/error-reasons.js";
import { storeUnavailable } from "../service/store-calls.js";

type Message = MessageInitShape<typeof WatchRevocationsResponseSchema>;

/** Options for {@link watchRevocationsHandler}. */
export interface WatchRevocationsOptions {
  follower: StoreFollower;
  /** FEED_KEY: the read-only key of the feed. */
  feedKey: string | undefined;
  /** ADMIN_KEY: also opens the feed (in x-admin-key, or in x-feed-key when FEED_KEY is unset). */
  adminKey: string | undefined;
  /** A heartbeat after this long without a message. */
  heartbeatMs?: number;
  /** A watcher this many changes behind (it reads too slowly) is cut off with RESOURCE_EXHAUSTED. */
  maxQueued?: number;
}

/** Entries sent before the handler gives the event loop a turn, in a long snapshot. */
const SNAPSHOT_SLICE = 512;

/** Encodes a log position as a feed cursor: its stream ids, comma-separated. */
export const cursorOf = (position: LogPosition): string => position.join(",");

/**
 * WatchRevocations: a snapshot of the entries in force (or, for a cursor the
 * follower still holds, only what came after it), then each change as the
 * process's {@link StoreFollower} applies it, with a heartbeat when idle.
 * Every stream of a process reads the same follower: no store round trip
 * per watcher.
 */
export function watchRevocationsHandler(options: WatchRevocationsOptions) {
  const { follower } = options;
  const heartbeatMs = options.heartbeatMs ?? 1000;
  const maxQueued = options.maxQueued ?? 100_000;
  const feedKeyCheck = options.feedKey ?? options.adminKey;
  const checkFeedKey = feedKeyCheck === undefined ? undefined : createAdminKeyCheck(feedKeyCheck);
  const checkAdminKey = options.adminKey === undefined ? undefined : createAdminKeyCheck(options.adminKey);

  return async function* watchRevocations(request: WatchRevocationsRequest, context: HandlerContext): AsyncGenerator<Message> {
    const headers = context.requestHeader;
    if (checkFeedKey === undefined) {
      throw refusal(
        Code.PermissionDenied,
        ErrorReason.FEED_DISABLED,
        "WatchRevocations is disabled: set FEED_KEY (or ADMIN_KEY) on the server",
      );
    }
    if (!checkFeedKey(headers.get("x-feed-key")) && !(checkAdminKey?.(headers.get("x-admin-key")) ?? false)) {
      throw refusal(Code.PermissionDenied, ErrorReason.FEED_KEY_REQUIRED, "WatchRevocations needs the feed key in the x-feed-key header");
    }
    let requested: LogPosition | undefined;
    if (request.cursor !== "") {
      requested = request.cursor.split(",");
      if (!follower.log.isPosition(requested)) {
        throw refusal(
          Code.InvalidArgument,
          ErrorReason.ARGUMENT_INVALID,
          "cursor: not a cursor this deployment hands out (send the last one received, or none)",
          { field: "cursor" },
        );
      }
    }
    if (follower.position === undefined) {
      follower.start().catch(() => {}); // the first watcher starts the follower; failures are retried
      await follower.ready(context.signal).catch(() => {
        throw storeUnavailable();
      });
    }

    // The queue collects from here on. A snapshot (or the follower's recent changes) is taken in
    // this same turn, at the same point of the follower; changes replayed from the store's log
    // are read after an await, and what reaches the queue meanwhile twice is dropped by `sent`.
    const queue: FollowerEvent[] = [];
    let wake: (() => void) | undefined;
    // A reader that stops reading must not make the queue grow without bound: past maxQueued the
    // watcher stops collecting, and the stream ends with RESOURCE_EXHAUSTED when the generator resumes.
    let overflowed = false;
    const stopWatching = follower.watch((event) => {
      if (queue.length >= maxQueued) {
        overflowed = true;
        stopWatching();
        queue.length = 0;
      } else {
        queue.push(event);
      }
      wake?.();
    });
    const onAbort = () => wake?.();
    context.signal.addEventListener("abort", onAbort);
    try {
      let sent: string[];
      // Resume from the follower's recent changes, else from the store's log (a cursor from before
      // this instance started, or from another instance), else start over with a snapshot.
      // The follower's recent changes serve a cursor at or behind its position; one ahead of it
      // (from an instance further along) or behind what it holds goes to the store's log.
      const recent = requested === undefined || !notAhead(follower, requested) ? { held: false as const } : follower.resume(requested);
      const missed = recent.held ? recent.changes : requested === undefined ? undefined : await changesInLog(follower, requested);
      if (missed !== undefined) {
        sent = [...requested!];
        yield { event: { case: "resumed", value: { cursor: request.cursor } } };
        for (const change of missed) {
          const message = changeMessage(follower, sent, change);
          if (message !== undefined) yield message;
        }
      } else {
        const reason = requested === undefined ? SnapshotReason.NO_CURSOR : SnapshotReason.CURSOR_TOO_OLD;
        sent = [...follower.position!];
        yield* snapshot(follower, reason, context.signal);
      }
      // A heartbeat every heartbeatMs, busy or idle: it carries the lag a reader needs to know how fresh it is.
      let lastHeartbeat = 0;
      while (!context.signal.aborted) {
        if (overflowed) {
          throw refusal(
            Code.ResourceExhausted,
            ErrorReason.FEED_READER_TOO_SLOW,
            "The feed reader fell too far behind; reconnect with your last cursor",
          );
        }
        const due = heartbeatMs - (Date.now() - lastHeartbeat);
        if (due <= 0 && queue.length === 0) {
          // Every change the follower applied has been sent (or the watcher had it): its position is the watcher's too.
          follower.position!.forEach((id, stream) => {
            if (follower.log.compareIds(id, sent[stream]!) > 0) sent[stream] = id;
          });
          yield { event: { case: "heartbeat", value: { cursor: cursorOf(sent), lagMs: lagOf(follower) } } };
          lastHeartbeat = Date.now();
          continue;
        }
        const event = queue.shift();
        if (event === undefined) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, Math.max(due, 1));
            wake = () => {
              clearTimeout(timer);
              resolve();
            };
          });
          wake = undefined;
          continue;
        }
        if (event.kind === "reset") {
          queue.length = 0;
          sent = [...follower.position!];
          yield* snapshot(follower, SnapshotReason.CURSOR_TOO_OLD, context.signal);
        } else {
          const message = changeMessage(follower, sent, event.change);
          if (message !== undefined) yield message;
        }
      }
    } finally {
      stopWatching();
      context.signal.removeEventListener("abort", onAbort);
    }
  };
}

/** Whether `cursor` is at or behind the follower's position on every stream. */
function notAhead(follower: StoreFollower, cursor: LogPosition): boolean {
  return cursor.every((id, stream) => follower.log.compareIds(id, follower.position![stream]!) <= 0);
}

/** Changes replayed from the store's log for a resumed stream, at most this many; past it a snapshot is cheaper. */
const MAX_REPLAY = 100_000;

/**
 * Every change after `cursor` still in the store's log, or undefined when
 * the log no longer holds them all, there are too many, or the store cannot
 * answer (the caller sends a snapshot). Changes the follower applies while
 * this reads reach the watcher's queue too; the watcher's cursor drops the
 * copies.
 */
async function changesInLog(follower: StoreFollower, cursor: LogPosition): Promise<LoggedChange[] | undefined> {
  const changes: LoggedChange[] = [];
  let position = cursor;
  try {
    for (;;) {
      const read = await follower.log.changesAfter(position, 1000);
      if (read === "gone") return undefined;
      changes.push(...read.changes);
      position = read.position;
      if (read.complete) return changes;
      if (changes.length > MAX_REPLAY) return undefined;
    }
  } catch {
    return undefined;
  }
}

/** The heartbeat's lag: capped, since the field is 32 bits and a huge lag means "do not trust me". */
function lagOf(follower: StoreFollower): number {
  return Math.min(follower.lagMs(), 0xffff_ffff);
}

/** A change message, unless the watcher already has it (its cursor came from an instance further along). */
function changeMessage(follower: StoreFollower, sent: string[], change: LoggedChange): Message | undefined {
  if (follower.log.compareIds(change.id, sent[change.stream]!) <= 0) return undefined;
  sent[change.stream] = change.id;
  return {
    event: {
      case: "change",
      value: {
        action: change.action === "revoke" ? AuditAction.REVOKE : AuditAction.RESTORE,
        entry: entryMessage(change.key, change.entry),
        cursor: cursorOf(sent),
      },
    },
  };
}

/** The follower's entries as they stand now, between a start and an end marker. */
async function* snapshot(follower: StoreFollower, reason: SnapshotReason, signal: AbortSignal): AsyncGenerator<Message> {
  const entries = [...follower.set.entries()];
  const cursor = cursorOf(follower.position!);
  yield { event: { case: "snapshotStart", value: { reason } } };
  for (let i = 0; i < entries.length; i++) {
    if (signal.aborted) return;
    const [key, entry] = entries[i]!;
    yield { event: { case: "snapshotEntry", value: entryMessage(key, entry) } };
    if (i % SNAPSHOT_SLICE === SNAPSHOT_SLICE - 1) await new Promise((resolve) => setImmediate(resolve));
  }
  yield { event: { case: "snapshotEnd", value: { cursor, entries: BigInt(entries.length) } } };
}
