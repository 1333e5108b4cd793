/**
 * Snapshots are asked for until they arrive (docs/protocol.md "Snapshots"): while the unit needs
 * one (a gap, a lost session, a first connect, an incomplete snapshot, a resync, a replaced store),
 * a `sync-request` goes out at once and then again with backoff (mqtt.snapshotRequest.minSec
 * doubling to maxSec) until a snapshot heals the need. The need itself is persisted by the sink, so
 * a restart keeps asking.
 */
import type { SyncRequestBody } from '../contract/bodies.js';
import type { LinkClock } from '../ports.js';

export interface RequesterDeps {
  clock: LinkClock;
  needed: () => Omit<SyncRequestBody, 'attempt'> | null;
  /** Publish the request; false when not connected (it is sent on the next connect). */
  send: (body: SyncRequestBody) => boolean;
  minMs: number;
  maxMs: number;
}

export class SnapshotRequester {
  private timer: unknown = null;
  private attempt = 0;
  /** The need (reason + since) the attempts count for: a new need starts at attempt 1 again. */
  private needKey: string | null = null;
  private stopped = true;

  constructor(private readonly d: RequesterDeps) {}

  start(): void {
    this.stopped = false;
  }

  stop(): void {
    this.stopped = true;
    this.d.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  /**
   * Ask now if a snapshot is newly needed (a gap just opened, a resync control), or — with
   * `force` — whatever the backoff says (a fresh connection). A need already being asked for keeps
   * its backoff.
   */
  poke(o: { force?: boolean; inReplyTo?: string } = {}): void {
    if (this.stopped) return;
    const need = this.d.needed();
    const key = need ? keyOf(need) : null;
    if (!o.force && key === this.needKey && this.timer !== null) return;
    this.d.clock.clearTimeout(this.timer);
    this.timer = null;
    this.ask(o.inReplyTo ? { inReplyTo: o.inReplyTo } : {});
  }

  get attempts(): number {
    return this.attempt;
  }

  private ask(extra: { inReplyTo?: string }): void {
    const need = this.d.needed();
    if (!need) {
      this.attempt = 0;
      this.needKey = null;
      return;
    }
    const key = keyOf(need);
    if (key !== this.needKey) {
      this.needKey = key;
      this.attempt = 0;
    }
    const sent = this.d.send({ ...need, ...extra, attempt: this.attempt + 1 });
    if (!sent) return; // offline: the next connect pokes
    this.attempt++;
    const delay = Math.min(this.d.maxMs, this.d.minMs * 2 ** (this.attempt - 1));
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.ask({});
    }, delay);
  }
}

function keyOf(need: Omit<SyncRequestBody, 'attempt'>): string {
  return `${need.reason}|${need.since}|${need.gotSeq ?? ''}`;
}
