#!/usr/bin/env node
/**
 * companion-cloud: the cloud side from a shell. Books, cancels, snapshots and controls units, watches
 * what they report, and makes signing keys. Connection flags may come from the environment
 * (COMPANION_MQTT_URL, COMPANION_MQTT_USERNAME, COMPANION_MQTT_PASSWORD, COMPANION_CLOUD_KEY).
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateSigningKeyPair } from '../contract/signing.js';
import { controlBodySchema } from '../contract/bodies.js';
import { CloudClient, type UnitMessage } from './client.js';
import { FileSequences } from './sequences.js';
import { technicianTokenCommand } from './technician-token.js';

const USAGE = `usage: companion-cloud <command> [options]

  book UNIT --callee E164 --at ISO [--id ID] [--version N] [--agent ID]
  cancel UNIT BOOKING --version N
  snapshot UNIT --file bookings.json     (a JSON array of bookings: the unit's full active set)
  control UNIT resync | test-call --callee E164 | replay --run RUN_ID
               | technician.revocations --file revocations.json
  watch UNIT|+ [--share GROUP]           (JSON lines; '+' = every unit)
  conformance UNIT [--include-snapshots] [--test-call E164] [--json]
                                         (the rules of docs/protocol.md against a live unit; exit 1
                                          if one fails. Snapshots replace the unit's whole set, and a
                                          test call rings: both only when asked for)
  keygen [--out DIR]                     (writes cloud-signing.key, prints the public key)
  technician-token ...                   (issues a technician token; technician-token --help)

connection: --url URL --username U --password P --ca F --cert F --key F
signing:    --sign-key FILE (Ed25519 PEM; or COMPANION_CLOUD_KEY) | --unsigned
state:      --state FILE (per-unit command sequence; default ~/.companion-cloud/sequences.json)
            --timeout MS (default 10000)`;

class UsageError extends Error {}

const options = {
  url: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'sign-key': { type: 'string' },
  unsigned: { type: 'boolean' },
  state: { type: 'string' },
  timeout: { type: 'string' },
  callee: { type: 'string' },
  at: { type: 'string' },
  id: { type: 'string' },
  version: { type: 'string' },
  agent: { type: 'string' },
  file: { type: 'string' },
  run: { type: 'string' },
  share: { type: 'string' },
  out: { type: 'string' },
  'include-snapshots': { type: 'boolean' },
  'test-call': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<
  typeof parseArgs<{ options: typeof options; allowPositionals: true }>
>['values'];

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined || v === '') throw new UsageError(`missing ${what}`);
  return v;
}

function int(v: string | undefined, what: string, dflt?: number): number {
  if (v === undefined) return need(dflt, what);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`${what} must be a positive integer, got ${v}`);
  return n;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as Error).message}`);
  }
}

function client(v: Values): CloudClient {
  const url = v.url ?? process.env.COMPANION_MQTT_URL ?? 'mqtt://localhost:1883';
  const keyPath = v['sign-key'] ?? process.env.COMPANION_CLOUD_KEY;
  if (!keyPath && !v.unsigned) {
    throw new UsageError(
      'no signing key: pass --sign-key FILE (or COMPANION_CLOUD_KEY), or --unsigned for a development unit',
    );
  }
  const username = v.username ?? process.env.COMPANION_MQTT_USERNAME;
  const password = v.password ?? process.env.COMPANION_MQTT_PASSWORD;
  return new CloudClient({
    url,
    ...(username ? { username } : {}),
    ...(password ? { password } : {}),
    ...(v.ca || v.cert || v.key
      ? {
          tls: {
            ...(v.ca ? { ca: readText(v.ca, '--ca') } : {}),
            ...(v.cert ? { cert: readText(v.cert, '--cert') } : {}),
            ...(v.key ? { key: readText(v.key, '--key') } : {}),
          },
        }
      : {}),
    ...(keyPath && !v.unsigned ? { signingKey: readText(keyPath, 'signing key') } : {}),
    sequences: new FileSequences(v.state ?? join(homedir(), '.companion-cloud', 'sequences.json')),
  });
}

function readJsonObject(path: string): Record<string, unknown> {
  const value = JSON.parse(readText(path, '--file')) as unknown;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new UsageError('--file must hold a JSON object');
  return value as Record<string, unknown>;
}

const print = (x: unknown) => process.stdout.write(`${JSON.stringify(x)}\n`);

async function main(argv: string[]): Promise<number> {
  // technician access (issue 15): its own options, offline (sync/cloud/technician-token.ts)
  if (argv[0] === 'technician-token') return technicianTokenCommand(argv.slice(1));
  const { values: v, positionals: pos } = parseArgs({
    args: argv,
    options,
    allowPositionals: true,
  });
  const [cmd, unitId, arg] = pos;
  if (v.help || !cmd) {
    process.stdout.write(`${USAGE}\n`);
    return cmd ? 0 : 2;
  }
  if (cmd === 'keygen') {
    const k = generateSigningKeyPair();
    const dir = v.out ?? '.';
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'cloud-signing.key');
    // Never overwrite a key the fleet may already trust.
    writeFileSync(file, k.privateKeyPem, { mode: 0o600, flag: 'wx' });
    print({
      privateKeyFile: file,
      publicKey: k.publicKeyBase64,
      configHint: { mqtt: { signature: { publicKeys: [k.publicKeyBase64] } } },
    });
    return 0;
  }
  const unit = need(unitId, 'UNIT');
  const timeout = int(v.timeout, '--timeout', 10_000);
  // Argument mistakes are reported before any network work.
  if (cmd === 'book') {
    need(v.callee, '--callee');
    need(v.at, '--at');
  }
  if (cmd === 'cancel') {
    need(arg, 'BOOKING');
    int(v.version, '--version');
  }
  if (cmd === 'snapshot') need(v.file, '--file');
  if (!['book', 'cancel', 'snapshot', 'control', 'watch', 'conformance'].includes(cmd)) {
    throw new UsageError(`unknown command ${cmd}`);
  }
  const c = client(v);
  await c.start();
  try {
    switch (cmd) {
      case 'book': {
        const r = await c.book(
          unit,
          {
            id: v.id ?? `bk-${randomUUID().slice(0, 8)}`,
            version: int(v.version, '--version', 1),
            callee: need(v.callee, '--callee'),
            agentId: v.agent ?? 'companion-default',
            schedule: { kind: 'once', at: need(v.at, '--at') },
          },
          timeout,
        );
        print(r);
        return r.status === 'accepted' || r.status === 'duplicate' ? 0 : 1;
      }
      case 'cancel': {
        const r = await c.cancel(unit, need(arg, 'BOOKING'), int(v.version, '--version'), timeout);
        print(r);
        return r.status === 'accepted' ? 0 : 1;
      }
      case 'snapshot': {
        const bookings = JSON.parse(readText(need(v.file, '--file'), '--file')) as unknown;
        if (!Array.isArray(bookings))
          throw new UsageError('--file must hold a JSON array of bookings');
        print(await c.snapshot(unit, bookings, { wait: true, timeoutMs: timeout }));
        return 0;
      }
      case 'control': {
        const body = controlBodySchema.safeParse({
          action: need(arg, 'control action'),
          ...(arg === 'test-call' ? { callee: v.callee } : {}),
          ...(arg === 'replay' ? { runId: v.run } : {}),
          // technician access (issue 15): the full revocation list, from a JSON file
          ...(arg === 'technician.revocations' ? readJsonObject(need(v.file, '--file')) : {}),
        });
        if (!body.success)
          throw new UsageError(
            body.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          );
        const r = await c.control(unit, body.data, timeout);
        print(r);
        return r.status === 'accepted' ? 0 : 1;
      }
      case 'conformance': {
        const { runConformance } = await import('./conformance.js');
        const results = await runConformance(c, unit, {
          timeoutMs: timeout,
          ...(v['include-snapshots'] ? { snapshots: true } : {}),
          ...(v['test-call'] ? { testCallee: v['test-call'] } : {}),
        });
        if (v.json) print(results);
        else
          for (const r of results)
            process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'}  ${r.rule}\n      ${r.detail}\n`);
        const failed = results.filter((r) => !r.ok).length;
        if (!v.json)
          process.stdout.write(`\n${results.length - failed} passed, ${failed} failed\n`);
        return failed === 0 ? 0 : 1;
      }
      case 'watch': {
        await c.watch(
          unit,
          (m: UnitMessage) =>
            print({
              unit: m.unitId,
              channel: m.channel,
              ...(m.error ? { error: m.error } : {}),
              ...m.envelope,
            }),
          v.share ? { shareGroup: v.share } : {},
        );
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        return 0;
      }
      default:
        throw new UsageError(`unknown command ${cmd}`);
    }
  } finally {
    await c.stop();
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof UsageError)
      process.stderr.write(`companion-cloud: ${err.message}\n\n${USAGE}\n`);
    else process.stderr.write(`companion-cloud: ${(err as Error).message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  },
);
