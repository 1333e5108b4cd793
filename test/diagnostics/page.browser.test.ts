/**
 * The technician's page in headless Chromium (Debian's package, driven by playwright-core): it
 * opens with the token handed over once in the address, shows the verdict and the next calls,
 * places a test call behind a confirmation, and shows its outcome from the simulator.
 * DIAGNOSTICS_SCREENSHOT=docs/diagnostics.png saves a screenshot of the page.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../agent/clock.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { SyncLink } from '../../sync/link/link.js';
import { startBroker, stopAllBrokers } from '../support/mosquitto.js';
import { GOOD_NUMBER, TOKEN, startDiagnostics, until, type Diag } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let browser: Browser | null = null;
let d: Diag;
let link: SyncLink | null = null;

function book(id: string, callee: string, inMs: number) {
  const r = d.agent.applier.apply(
    [
      {
        type: 'booking.upsert',
        commandId: `cmd-${id}`,
        booking: {
          id,
          version: 1,
          callee,
          agentId: 'companion-default',
          schedule: { kind: 'once', at: new Date(Date.now() + inMs).toISOString() },
        },
      },
    ],
    { source: 'test' },
  );
  expect(JSON.stringify(r)).toContain('accepted');
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  }
  // A real broker and link, so the page shows a unit that is fully green.
  const broker = await startBroker();
  let linkRef: SyncLink | null = null;
  d = await startDiagnostics({
    config: { unitId: 'room-12-bed-a' },
    link: { state: () => linkRef!.state(), requestResync: () => linkRef!.requestSync('resync') },
  });
  const store = d.agent.store;
  link = new SyncLink({
    unitId: 'room-12-bed-a',
    config: mqttConfigSchema.parse({
      enabled: true,
      url: broker.url,
      signature: { required: false },
    }),
    sink: d.agent.sync,
    outbox: store.outbox,
    meta: store.meta,
    clock: new SystemClock(),
    transaction: (fn) => store.tx(fn),
  });
  linkRef = link;
  await link.start();
  await until(() => link!.state().connected, 'link connected');
  book('grandma-tea', '+4915199887766', 2 * 3_600_000);
  book('sunday-family', '+447400123456', 20 * 3_600_000);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
});

afterAll(async () => {
  await browser?.close();
  await link?.stop();
  await d?.stop();
  await stopAllBrokers();
});

describe('diagnostics page in Chromium', () => {
  it('asks for the token when none is given, and refuses a wrong one', async () => {
    const page = await browser!.newPage();
    await page.goto(`${d.url}/`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token-input', 'not-the-token-000000');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'not accepted' }).waitFor();
    await page.close();
  });

  it('shows the verdict and next calls, places a test call behind a confirmation, shows its outcome', async () => {
    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(`${d.url}/#token=${TOKEN}`);
    // The token left the address bar at once.
    expect(page.url()).toBe(`${d.url}/`);
    const verdict = page.locator('#verdict[data-level]');
    await verdict.waitFor();
    expect(await verdict.getAttribute('data-level')).toBe('green');
    expect(await page.textContent('#verdict-headline')).toContain(
      'Healthy: booked calls will go out on time',
    );
    await page.locator('#next-calls tr', { hasText: '+49 151 ••• ••66' }).waitFor();
    await page.locator('#next-calls tr', { hasText: 'sunday-family' }).waitFor();
    expect(await page.textContent('#modem-facts')).toContain('yes');

    const dials = d.modem.dials.length;
    await page.fill('#test-number', GOOD_NUMBER);
    const question = new Promise<string>((resolve) => {
      page.once('dialog', (dialog) => {
        resolve(dialog.message());
        void dialog.accept();
      });
    });
    await page.click('#test-call');
    expect(await question).toContain('Place a real test call');
    const result = page.locator('#action-result[data-outcome]');
    await result.waitFor({ timeout: 20_000 });
    expect(await result.getAttribute('data-outcome')).toBe('completed');
    expect(await result.textContent()).toMatch(
      /Test call to \+49 151 ••• ••89 finished: completed/,
    );
    expect(d.modem.dials.length).toBe(dials + 1);
    await page.locator('#recent-calls tr', { hasText: 'test' }).first().waitFor();
    // Nothing on the page shows a full number.
    expect(await page.content()).not.toContain('15199887766');
    expect(errors).toEqual([]);

    const shot = process.env.DIAGNOSTICS_SCREENSHOT;
    if (shot) {
      await page.locator('#system-facts dd').first().waitFor();
      await page.screenshot({ path: shot, fullPage: true });
    }
    await page.close();
  });

  it('a declined confirmation places no call', async () => {
    const page = await browser!.newPage();
    await page.goto(`${d.url}/#token=${TOKEN}`);
    await page.locator('#verdict[data-level]').waitFor();
    const before = d.fingerprint();
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.fill('#test-number', GOOD_NUMBER);
    await page.click('#test-call');
    await page.waitForTimeout(300);
    expect(d.fingerprint()).toBe(before);
    await page.close();
  });
});
