/**
 * The modem's network time as a clock source for the clock-trust rule (agent/network-time.ts),
 * through the real agent wiring: the simulator modem reports `network_time`, the fake clock plays
 * the system clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../agent/log.js';
import { NetworkTime } from '../../agent/network-time.js';
import { booking, LogSink, startEngine, upsert, type Engine } from '../support/engine.js';

let e: Engine;
afterEach(async () => {
  await e?.stop(true);
});

const MIN = 60_000;
const HOUR = 60 * MIN;

/** The modem reads the network's time: `skewMs` ahead of the system clock. */
function networkSays(skewMs: number): void {
  const now = e.clock.now();
  e.modem.setStatus({ networkTime: { at: now + skewMs, readAt: now } });
}

/** The system clock is stepped back 2 h (e.g. an RTC that ran ahead was corrected): firing held. */
async function clockJumpsBack(): Promise<void> {
  await e.advance(MIN);
  e.clock.setWallTime(e.clock.now() - 2 * HOUR);
  await e.advance(MIN); // the scheduler's next pass judges the clock
  expect(e.agent.clockState()).toMatchObject({ trusted: false, reason: 'jumped_backwards' });
}

describe('network time as a clock source', () => {
  it('vouches for a clock held as "jumped backwards" when network time agrees, and firing resumes', async () => {
    e = await startEngine();
    e.modem.setRule('*', { outcome: 'answer', answerAfterMs: 1000, hangupAfterMs: 2000 });
    await clockJumpsBack();
    const slot = e.clock.now() + 5 * MIN;
    e.apply([upsert(booking({ id: 'after-jump', schedule: { kind: 'once', at: iso(slot) } }))]);

    networkSays(1_500); // within the 300 s tolerance
    await e.advance(0);
    expect(e.agent.clockState()).toMatchObject({ trusted: true, source: 'network' });
    expect(e.agent.networkTime()).toMatchObject({ verdict: 'vouched', offsetMs: 1_500 });
    expect(e.agent.trust.highestSeen()).toBeLessThanOrEqual(e.clock.now());
    const trusted = e.agent.store.outbox.pending(200).filter((x) => x.type === 'clock.trusted');
    expect(trusted.at(-1)?.payload).toEqual({ source: 'network' });

    await e.advance(5 * MIN + 5_000);
    expect(e.modem.dials.map((d) => d.at)).toEqual([slot]);
  });

  it('a network time far off the system clock warns, never steps the clock, and changes no trust', async () => {
    e = await startEngine();
    await clockJumpsBack();
    const before = e.clock.now();
    const highest = e.agent.trust.highestSeen();

    networkSays(3 * 24 * HOUR);
    await e.advance(0);
    expect(e.clock.now()).toBe(before); // not stepped
    expect(e.agent.trust.highestSeen()).toBe(highest);
    expect(e.agent.clockState()).toMatchObject({ trusted: false, reason: 'jumped_backwards' });
    expect(e.agent.networkTime()).toMatchObject({ verdict: 'disagrees' });
    const warnings = e.sink.lines.filter(
      (l) => l['component'] === 'network-time' && l['level'] === 40,
    );
    expect(warnings).toHaveLength(1);
    expect(String(warnings[0]!['msg'])).toContain('not stepping');
    expect(warnings[0]).toMatchObject({ offsetSec: 3 * 24 * 3600 });

    networkSays(3 * 24 * HOUR); // the next poll says the same: no second warning
    expect(
      e.sink.lines.filter((l) => l['component'] === 'network-time' && l['level'] === 40),
    ).toHaveLength(1);
  });

  it('on a trusted clock, agreeing network time records the source without lowering the highest time seen', async () => {
    e = await startEngine();
    await e.advance(MIN);
    const highest = e.agent.trust.highestSeen();
    networkSays(-2_000);
    expect(e.agent.networkTime()).toMatchObject({ verdict: 'agrees', offsetMs: -2_000 });
    expect(e.agent.trust.highestSeen()).toBeGreaterThanOrEqual(highest);
    await e.advance(MIN);
    expect(e.agent.clockState()).toMatchObject({ trusted: true, source: 'network' });
  });

  it('stops listening when the agent stops, and picks up a reading the modem had before it subscribed', async () => {
    e = await startEngine();
    await e.advance(MIN);
    await clockJumpsBack();
    const sink = new LogSink();
    const nt = new NetworkTime({
      clock: e.clock,
      trust: e.agent.trust,
      logger: createLogger({ level: 'debug', destination: sink }),
      toleranceMs: 300_000,
    });
    networkSays(0);
    // The agent's own subscriber vouched already; a late subscriber still sees the reading.
    const off = nt.attach(e.modem);
    expect(nt.state()).toMatchObject({ offsetMs: 0 });
    off();
    await e.stop();
    networkSays(10 * HOUR); // nobody listens any more: no throw, no log
    expect(sink.lines.filter((l) => l['level'] === 40)).toHaveLength(0);
  });
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
