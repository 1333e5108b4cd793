/**
 * The conformance kit: the rules of docs/protocol.md, run one by one against a live unit over the
 * broker, each reported pass or fail with what was seen. A backend team points it at a unit to check
 * its own understanding (and the unit); CI runs it against a real agent process.
 *
 * Safe on a unit that carries real bookings, except the scenarios that must be asked for: a snapshot
 * replaces the unit's whole booking set (`snapshots`), and a test call rings a real phone
 * (`testCallee`). Every booking it makes is under `conformance-<run>-…` and is cancelled at the end.
 */
import { randomUUID } from 'node:crypto';
import { generateKeyPairSync } from 'node:crypto';
import { signEnvelope } from '../contract/signing.js';
import { topicFor } from '../contract/topics.js';
import type { BookingInput } from '../contract/booking.js';
import type { Envelope } from '../contract/envelope.js';
import type { CloudClient, UnitMessage } from './client.js';

export interface ConformanceOptions {
  /** Also run the snapshot scenarios: ONLY on a unit without real bookings (a snapshot replaces them). */
  snapshots?: boolean;
  /** Also place a test call to this number (it rings). */
  testCallee?: string;
  timeoutMs?: number;
  /** A callee the unit's dial policy allows (default a German mobile number). */
  callee?: string;
}

export interface RuleResult {
  rule: string;
  ok: boolean;
  detail: string;
}

type Payload = Record<string, unknown>;

class Fail extends Error {}

export async function runConformance(
  cloud: CloudClient,
  unitId: string,
  o: ConformanceOptions = {},
): Promise<RuleResult[]> {
  const timeout = o.timeoutMs ?? 10_000;
  const callee = o.callee ?? '+4915123456789';
  const run = randomUUID().slice(0, 8);
  const seen: UnitMessage[] = [];
  const unwatch = await cloud.watch(unitId, (m) => seen.push(m));
  const made = new Map<string, number>();
  const results: RuleResult[] = [];

  const booking = (name: string, version: number, over: Partial<BookingInput> = {}) => {
    const id = `conformance-${run}-${name}`;
    made.set(id, Math.max(version, made.get(id) ?? 0));
    return {
      id,
      version,
      callee,
      agentId: 'conformance',
      schedule: { kind: 'once' as const, at: new Date(Date.now() + 30 * 86_400_000).toISOString() },
      ...over,
    };
  };
  const payloads = (type: string) =>
    seen
      .filter((m) => m.channel === 'results' || m.channel === 'events')
      .map((m) => m.envelope?.body as { type?: string; payload?: Payload } | undefined)
      .filter((b) => b?.type === type)
      .map((b) => b!.payload!);
  const waitFor = async <T>(what: string, fn: () => T | undefined | null | false): Promise<T> => {
    const end = Date.now() + timeout;
    for (;;) {
      const v = fn();
      if (v) return v;
      if (Date.now() > end) throw new Fail(`no ${what} within ${timeout} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  const resultFor = (commandId: string, inReplyTo?: string) =>
    waitFor(`result for ${commandId}`, () =>
      payloads('command.result').find(
        (p) => p.commandId === commandId && (inReplyTo === undefined || p.inReplyTo === inReplyTo),
      ),
    );
  const expectThat = (cond: boolean, what: string) => {
    if (!cond) throw new Fail(what);
  };
  const rule = async (name: string, fn: () => Promise<string>) => {
    try {
      results.push({ rule: name, ok: true, detail: await fn() });
    } catch (err) {
      results.push({ rule: name, ok: false, detail: (err as Error).message });
    }
  };
  const send = async (commands: unknown[], over: { seq?: number; sentAt?: string } = {}) => {
    const seq = over.seq ?? cloud.nextSeq(unitId);
    const env = cloud.envelope(unitId, 'cmd', { commands }, seq, over.sentAt);
    await cloud.publishEnvelope(unitId, 'cmd', env);
    return env;
  };
  const upsert = (commandId: string, b: unknown) => ({
    type: 'booking.upsert',
    commandId,
    booking: b,
  });

  try {
    await rule('a booking is accepted and its result names the message (Results)', async () => {
      const env = await send([upsert(`c-${run}-1`, booking('a', 1))]);
      const r = await resultFor(`c-${run}-1`);
      expectThat(r.status === 'accepted', `status ${String(r.status)}`);
      expectThat(r.inReplyTo === env.msgId, `inReplyTo ${String(r.inReplyTo)}, sent ${env.msgId}`);
      return `accepted, inReplyTo ${env.msgId}`;
    });

    await rule('a redelivered message gets its first answers as duplicates (Ids)', async () => {
      const env = await send([upsert(`c-${run}-2`, booking('b', 1))]);
      await resultFor(`c-${run}-2`);
      await cloud.publishEnvelope(unitId, 'cmd', env);
      const dup = await waitFor('duplicate answer', () =>
        payloads('command.result').find(
          (p) => p.commandId === `c-${run}-2` && p.status === 'duplicate',
        ),
      );
      const original = dup.original as Payload | undefined;
      expectThat(original?.status === 'accepted', `original ${JSON.stringify(original)}`);
      return 'duplicate, original accepted';
    });

    await rule('a command id reused for another command is refused (Ids)', async () => {
      await send([upsert(`c-${run}-3`, booking('c', 1))]);
      await resultFor(`c-${run}-3`);
      const env = await send([upsert(`c-${run}-3`, booking('c', 2))]);
      const r = await resultFor(`c-${run}-3`, env.msgId);
      const code = (r.reasons as { code: string }[])[0]?.code;
      expectThat(code === 'command_id_reused', `status ${String(r.status)} code ${String(code)}`);
      return 'command_id_reused';
    });

    await rule('older versions are ignored; a cancel is a tombstone (Booking)', async () => {
      await send([upsert(`c-${run}-4a`, booking('d', 2))]);
      await resultFor(`c-${run}-4a`);
      await send([upsert(`c-${run}-4b`, booking('d', 1))]);
      const old = await resultFor(`c-${run}-4b`);
      expectThat(old.status === 'ignored_stale', `older version: ${String(old.status)}`);
      const id = booking('d', 3).id;
      await send([{ type: 'booking.cancel', commandId: `c-${run}-4c`, bookingId: id, version: 3 }]);
      await resultFor(`c-${run}-4c`);
      await send([upsert(`c-${run}-4d`, booking('d', 2))]);
      const late = await resultFor(`c-${run}-4d`);
      const code = (late.reasons as { code: string }[])[0]?.code;
      expectThat(code === 'tombstoned', `late upsert after cancel: ${String(code)}`);
      return 'stale_version, then tombstoned';
    });

    await rule('a message older than the freshness window is refused (Freshness)', async () => {
      const sentAt = new Date(Date.now() - 30 * 86_400_000).toISOString();
      const env = await send([upsert(`c-${run}-5`, booking('e', 1))], { sentAt });
      const r = await resultFor(`rejected:${env.msgId}`);
      const code = (r.reasons as { code: string }[])[0]?.code;
      expectThat(code === 'stale_message', `code ${String(code)}`);
      return 'stale_message';
    });

    await rule('a forged signature is refused (Envelope)', async () => {
      const forger = generateKeyPairSync('ed25519').privateKey;
      const { sig: _s, ...unsigned } = cloud.envelope(
        unitId,
        'cmd',
        {
          commands: [upsert(`c-${run}-6`, booking('f', 1))],
        },
        cloud.nextSeq(unitId),
      ) as Envelope<unknown> & { sig?: string };
      const forged = signEnvelope(unsigned as unknown as Record<string, unknown>, forger);
      await cloud.publishRaw(topicFor(unitId, 'cmd'), JSON.stringify(forged));
      const r = await resultFor(`rejected:${unsigned.msgId}`);
      const code = (r.reasons as { code: string }[])[0]?.code;
      expectThat(code === 'bad_signature', `code ${String(code)}`);
      return 'bad_signature';
    });

    if (o.snapshots) {
      await rule(
        'a gap is asked for and healed; the snapshot never undoes a newer command (Snapshots)',
        async () => {
          // The cloud's live set of this run so far (d was cancelled; e and f were refused). A
          // first snapshot heals whatever the unit already needs (the refused messages above held
          // command sequences it never applied), so the gap below is the only open question.
          const held = ['a', 'b', 'c'].map((n) => booking(n, 1));
          await cloud.snapshot(unitId, held, { wait: true, timeoutMs: timeout });
          const asOfBefore = cloud.nextSeq(unitId); // allocated and never sent: the gap
          const after = await send([upsert(`c-${run}-7`, booking('g', 1))]);
          await waitFor('a sync request naming the gap', () =>
            seen
              .filter((m) => m.channel === 'sync-request')
              .map((m) => m.envelope?.body as Payload)
              .find((b) => b.gotSeq === after.seq),
          );
          // A snapshot as of the lost message: it lacks g (made by a newer command) and must keep it.
          const snap = await cloud.snapshot(unitId, held, {
            wait: true,
            timeoutMs: timeout,
            asOf: asOfBefore,
          });
          const applied = snap.applied ?? {};
          const kept = (applied.keptNewer as string[] | undefined) ?? [];
          expectThat(kept.includes(booking('g', 1).id), `keptNewer ${JSON.stringify(kept)}`);
          return `asked (gotSeq ${String(after.seq)}), snapshot as of ${asOfBefore} kept the newer booking`;
        },
      );

      await rule(
        'an invalid snapshot item cancels nothing and is reported (Snapshots)',
        async () => {
          const keep = booking('h', 1);
          await send([upsert(`c-${run}-8`, keep)]);
          await resultFor(`c-${run}-8`);
          const held = ['a', 'b', 'c', 'g'].map((n) => booking(n, 1));
          const items = [...held, { ...keep, version: 2, callee: 'not-a-number' }];
          const snap = await cloud.snapshot(unitId, items, { wait: true, timeoutMs: timeout });
          const notApplied =
            (snap.applied?.notApplied as { bookingId: string }[] | undefined) ?? [];
          expectThat(
            notApplied.some((n) => n.bookingId === keep.id),
            `notApplied ${JSON.stringify(notApplied)}`,
          );
          expectThat(
            Number(snap.applied?.cancelled ?? -1) === 0,
            `cancelled ${String(snap.applied?.cancelled)}`,
          );
          return 'reported in notApplied, nothing cancelled';
        },
      );
    }

    if (o.testCallee) {
      await rule(
        'a test call is answered with its run id, and as a duplicate with the same run id (Ids)',
        async () => {
          const env = cloud.envelope(unitId, 'control', {
            action: 'test-call',
            callee: o.testCallee!,
          });
          await cloud.publishEnvelope(unitId, 'control', env);
          const first = await waitFor('control result', () =>
            payloads('control.result').find((p) => p.inReplyTo === env.msgId),
          );
          const runId = (first.detail as Payload | undefined)?.runId;
          expectThat(
            first.status === 'accepted' && typeof runId === 'string',
            `first: ${JSON.stringify(first)}`,
          );
          await cloud.publishEnvelope(unitId, 'control', env);
          const dup = await waitFor('duplicate control result', () =>
            payloads('control.result').find(
              (p) => p.inReplyTo === env.msgId && p.status === 'duplicate',
            ),
          );
          const again = ((dup.original as Payload | undefined)?.detail as Payload | undefined)
            ?.runId;
          expectThat(
            again === runId,
            `duplicate names run ${String(again)}, first ${String(runId)}`,
          );
          return `run ${String(runId)}, once`;
        },
      );
    }
  } finally {
    // Leave nothing behind: every booking made is cancelled.
    const cancels = [...made.entries()].map(([id, v]) => ({
      type: 'booking.cancel',
      commandId: `c-${run}-cleanup-${id}`,
      bookingId: id,
      version: v + 10,
    }));
    if (cancels.length > 0) await send(cancels).catch(() => undefined);
    await unwatch();
  }
  return results;
}
