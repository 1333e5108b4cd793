/**
 * The technician's page in headless Chromium (Debian's package, driven by playwright-core), over
 * real HTTPS with the unit's own certificate pinned by its public key (Chromium's SPKI list, as a
 * technician's tool pins it): sign-in with a cloud-issued technician token, the verdict and next
 * calls, the 24-hour history chart, a test call and the speaker test behind their confirmations,
 * and the phone-sized layout.
 * DIAGNOSTICS_SCREENSHOTS=docs saves docs/diagnostics.png (desktop) and docs/diagnostics-phone.png.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemClock } from '../../agent/clock.js';
import { HistoryRepo, type HistorySample } from '../../agent/diagnostics/history-repo.js';
import { mqttConfigSchema } from '../../sync/config.js';
import { SyncLink } from '../../sync/link/link.js';
import { startBroker, stopAllBrokers } from '../support/mosquitto.js';
import { GOOD_NUMBER, startDiagnostics, technicianToken, until, type Diag } from './harness.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const UNIT = 'room-12-bed-a';
const ZONE = 'Europe/Berlin';
const SHOTS = process.env.DIAGNOSTICS_SCREENSHOTS;

let browser: Browser | null = null;
let d: Diag;
let link: SyncLink | null = null;
let dropAt = 0;
const token = technicianToken({ unit: UNIT, name: 'anna' });

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

const hhmm = (t: number) =>
  new Intl.DateTimeFormat('en-GB', {
    timeZone: ZONE,
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  }).format(t);

/**
 * The last day as the unit would have recorded it: the signal drops for 40 min on the hour twelve
 * hours ago, and the link is down 25 min four hours later — both wholly inside the day whatever the
 * time the test runs (a fixed 02:00 in the care home's zone failed between 02:00 and 06:30 there).
 */
function seedHistory(): void {
  const MIN = 60_000;
  const now = Math.floor(Date.now() / MIN);
  dropAt = (Math.floor(Date.now() / 3_600_000) - 12) * 3_600_000;
  const samples: HistorySample[] = [];
  for (let m = now - 24 * 60; m < now; m++) {
    const t = m * MIN;
    const inDrop = t >= dropAt && t < dropAt + 40 * MIN;
    const offline = t >= dropAt + 4 * 3600_000 && t < dropAt + 4 * 3600_000 + 25 * MIN;
    samples.push({
      minute: m,
      signalDbm: inDrop ? -108 - (m % 4) : -74 - Math.round(4 * Math.sin(m / 37)),
      registration: 'home',
      modemUsable: !(inDrop && m % 10 < 3),
      link: !offline,
    });
  }
  new HistoryRepo(d.agent.store).write(samples, now, 24 * 60);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get update && apt-get install -y chromium`);
  }
  // A real broker and link, so the page shows a unit that is fully green.
  const broker = await startBroker();
  let linkRef: SyncLink | null = null;
  d = await startDiagnostics({
    config: { unitId: UNIT, diagnostics: { tls: { mode: 'always' } } },
    link: { state: () => linkRef!.state(), requestResync: () => linkRef!.requestSync('resync') },
  });
  const store = d.agent.store;
  link = new SyncLink({
    unitId: UNIT,
    config: mqttConfigSchema().parse({
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
  seedHistory();
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      // The technician's browser trusts this unit's certificate by its public key, nothing else.
      `--ignore-certificate-errors-spki-list=${d.service.tlsIdentity()!.spkiSha256}`,
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await link?.stop();
  await d?.stop();
  await stopAllBrokers();
});

async function open(
  viewport = { width: 1280, height: 900 },
): Promise<{ page: Page; errors: string[] }> {
  const page = await browser!.newPage({ viewport, timezoneId: ZONE, locale: 'en-GB' });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  return { page, errors };
}

function acceptNext(page: Page): Promise<string> {
  return new Promise((resolve) => {
    page.once('dialog', (dialog) => {
      resolve(dialog.message());
      void dialog.accept();
    });
  });
}

describe('diagnostics page in Chromium over HTTPS', () => {
  it('only a pinned certificate opens it: another browser gets a certificate error', async () => {
    const strict = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'],
    });
    try {
      const page = await strict.newPage();
      await expect(page.goto(`${d.url}/`)).rejects.toThrow(/ERR_CERT/);
    } finally {
      await strict.close();
    }
  });

  it('asks for a token, and says why one is refused', async () => {
    const { page } = await open();
    await page.goto(`${d.url}/`);
    await page.locator('#login').waitFor({ state: 'visible' });
    await page.fill('#token-input', 'not-the-token-000000');
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'not accepted' }).waitFor();
    const expired = technicianToken({
      unit: UNIT,
      iat: Math.floor(Date.now() / 1000) - 7200,
      exp: Math.floor(Date.now() / 1000) - 3600,
    });
    await page.fill('#token-input', expired);
    await page.click('#login button[type=submit]');
    await page.locator('#login-error').filter({ hasText: 'expired' }).waitFor();
    await page.close();
  });

  it('signs in with a technician token: verdict, history chart, a test call behind a confirmation', async () => {
    const { page, errors } = await open();
    await page.goto(`${d.url}/#token=${token}`);
    // The token left the address bar at once.
    expect(page.url()).toBe(`${d.url}/`);
    await page.locator('#signed-in', { hasText: 'Signed in as anna' }).waitFor();
    const verdict = page.locator('#verdict[data-level]');
    await verdict.waitFor();
    expect(await verdict.getAttribute('data-level')).toBe('green');
    await page.locator('#next-calls tr', { hasText: '+49 151 ••• ••66' }).waitFor();

    // The history: a day of samples, the signal line, and the drop in words.
    const chart = page.locator('#history-chart');
    await chart.waitFor();
    expect(Number(await chart.getAttribute('data-samples'))).toBeGreaterThanOrEqual(24 * 60 - 2);
    expect(await page.getAttribute('#signal-line', 'd')).toMatch(/^M[\d.]+ [\d.]+ L/);
    const from = hhmm(dropAt);
    const to = hhmm(dropAt + 40 * 60_000);
    expect(from).toMatch(/^\d\d:00$/);
    await page
      .locator('#history-summary li', { hasText: `Weak signal ${from}–${to} (40 min)` })
      .waitFor();
    const off = dropAt + 4 * 3_600_000;
    await page
      .locator('#history-summary li', {
        hasText: `Cloud link offline ${hhmm(off)}–${hhmm(off + 25 * 60_000)} (25 min)`,
      })
      .waitFor();
    // The seeded 25 minutes, plus the live minute(s) before the test's link had connected.
    expect(await page.locator('#history-chart .band-link-down').count()).toBeGreaterThanOrEqual(25);

    const dials = d.modem.dials.length;
    await page.fill('#test-number', GOOD_NUMBER);
    const question = acceptNext(page);
    await page.click('#test-call');
    expect(await question).toContain('Place a real test call');
    const result = page.locator('#action-result[data-outcome]');
    await result.waitFor({ timeout: 20_000 });
    expect(await result.getAttribute('data-outcome')).toBe('completed');
    expect(await result.textContent()).toMatch(
      /Test call to \+49 151 ••• ••89 finished: completed/,
    );
    // The audio path is reported with the outcome (the simulator's route is whatever was set).
    expect(await result.textContent()).toMatch(/audio/);
    expect(d.modem.dials.length).toBe(dials + 1);
    // The call's outcome appears on the chart as a mark (once the chart refreshes).
    await page.reload();
    await page.locator('#history-chart .call-mark').first().waitFor({ timeout: 20_000 });
    await page.locator('#audit tr', { hasText: 'test-call' }).first().waitFor();
    expect(await page.textContent('#audit')).toContain('anna');
    // Nothing on the page shows a full number.
    expect(await page.content()).not.toContain('15199887766');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('runs the speaker test behind its confirmation; declining plays nothing', async () => {
    const { page, errors } = await open();
    await page.goto(`${d.url}/#token=${token}`);
    await page.locator('#verdict[data-level]').waitFor();
    await page.locator('#check-speaker-test:not([disabled])').waitFor();
    const tones = d.audio.tones.length;
    page.once('dialog', (dialog) => void dialog.dismiss());
    await page.click('#check-speaker-test');
    await page.waitForTimeout(300);
    expect(d.audio.tones.length).toBe(tones);

    const question = acceptNext(page);
    await page.click('#check-speaker-test');
    expect(await question).toMatch(/test tone .* speaker/);
    const res = page.locator('#check-result[data-state=done]');
    await res.waitFor({ timeout: 20_000 });
    expect(await res.textContent()).toMatch(/Tone played on the speaker \(1000 Hz, 2 s/);
    expect(d.audio.tones.at(-1)).toMatchObject({ frequencyHz: 1000, route: 'speaker' });
    expect(d.audio.tones.length).toBe(tones + 1);
    await page.locator('#audit tr', { hasText: 'speaker-test' }).first().waitFor();
    expect(errors).toEqual([]);
    if (SHOTS) {
      await page.locator('#system-facts dd').first().waitFor();
      await page.screenshot({ path: join(SHOTS, 'diagnostics.png'), fullPage: true });
    }
    await page.close();
  });

  it('a token that only reads sees the actions disabled, with the reason', async () => {
    const { page } = await open();
    await page.goto(
      `${d.url}/#token=${technicianToken({ unit: UNIT, name: 'lea', allow: ['read'] })}`,
    );
    await page.locator('#check-notes', { hasText: 'not allowed by your token' }).waitFor();
    expect(await page.isDisabled('#test-call')).toBe(true);
    expect(await page.isDisabled('#check-modem-reset')).toBe(true);
    expect(await page.isDisabled('#check-modem-details')).toBe(false);
    await page.close();
  });

  it('fits a phone: no sideways scrolling, the chart within the screen', async () => {
    const { page, errors } = await open({ width: 390, height: 844 });
    await page.goto(`${d.url}/#token=${token}`);
    await page.locator('#history-chart').waitFor();
    await page.locator('#system-facts dd').first().waitFor();
    // A string: this file is type-checked without the DOM library.
    const fit = (await page.evaluate(`({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      chart: document.getElementById('history-chart').getBoundingClientRect().right,
    })`)) as { scroll: number; inner: number; chart: number };
    expect(fit.scroll).toBeLessThanOrEqual(fit.inner);
    expect(fit.chart).toBeLessThanOrEqual(fit.inner);
    expect(errors).toEqual([]);
    if (SHOTS)
      await page.screenshot({ path: join(SHOTS, 'diagnostics-phone.png'), fullPage: true });
    await page.close();
  });

  // Last: it holds this agent's calls (the 2-minute restart hold) for the rest of the file.
  it('says why no new call starts while an upgrade waits to restart the agent', async () => {
    const { page, errors } = await open();
    await page.goto(`${d.url}/#token=${token}`);
    await page.locator('#unit-facts dt', { hasText: 'Version' }).waitFor();
    expect(await page.locator('#unit-facts dt', { hasText: 'Restart' }).count()).toBe(0);
    d.agent.requestRestart();
    await page.reload();
    const row = page.locator('#unit-facts dd.warn', { hasText: 'requested: new calls held until' });
    await row.waitFor();
    expect(errors).toEqual([]);
    await page.close();
  });
});
