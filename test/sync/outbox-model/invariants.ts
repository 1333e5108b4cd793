/** The invariants the outbound delivery model checks after every step. */
import { expect } from 'vitest';
import type { Model, World } from './world.js';

/** Nothing owed lost, nothing receipted the cloud lacks, first sends written once, counts right. */
export function check(m: Model, w: World, what: string): void {
  const rows = w.rows();
  const byId = new Map(rows.map((r) => [r.id, r]));
  for (const [id, cls] of m.added) {
    const r = byId.get(id);
    if (cls === 'critical' && !w.cloudHas.has(id)) {
      expect(r, `after ${what}: an owed critical event is gone`).toBeDefined();
      expect(r!.rec, `after ${what}: receipted though the cloud never stored it`).toBeNull();
    }
    if (cls === 'telemetry' && !m.telemetryTaken.has(id)) {
      expect(r, `after ${what}: unsent telemetry is gone`).toBeDefined();
      expect(r!.sent, `after ${what}: telemetry marked sent that the broker never took`).toBeNull();
    }
  }
  for (const r of rows) {
    if (r.rec !== null)
      expect(w.cloudHas.has(r.id), `after ${what}: row ${r.seq} receipted, cloud lacks it`).toBe(
        true,
      );
    if (r.sent !== null) {
      const first = w.sentAt.get(r.id);
      if (first === undefined) w.sentAt.set(r.id, r.sent);
      else expect(r.sent, `after ${what}: row ${r.seq}'s first send rewritten`).toBe(first);
    }
  }
  const unreceipted = rows.filter((r) => r.cls === 'critical' && r.rec === null).length;
  expect(w.store.outbox.unreceipted(), `after ${what}: unreceipted count`).toBe(unreceipted);
}

/** Telemetry the broker has taken (from its queue or since read): best effort from then on. */
export function noteTaken(m: Model, w: World): void {
  for (const q of w.brokerQueue)
    if (m.added.get(q.eventId) === 'telemetry') m.telemetryTaken.add(q.eventId);
  for (const id of w.cloudHas.keys()) if (m.added.get(id) === 'telemetry') m.telemetryTaken.add(id);
}
