#!/usr/bin/env node
/**
 * Standalone simulated modem on a pty, for running the agent with the real AtSerialModem:
 *
 *   node dist/hal/at/sim/modem-sim.js --link /tmp/companion-modem --dialect quectel --script rules.json
 *
 * then point the agent at it with hal.modem = { driver: "at", at: { path: "/tmp/companion-modem" } }.
 * The script file is a JSON array of simulator rules ({ "number": "+49*", "outcome": "busy" }, ...).
 * --personality picks one of the named personalities (docs/hal.md) instead of a plain dialect.
 * SIGHUP reloads the script; SIGUSR1 drops the port for 3 s; SIGINT/SIGTERM stop and remove the pty.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { simRuleSchema } from '../../simulator/rules.js';
import { PERSONALITY_NAMES, type PersonalityName } from './personalities.js';
import { PtyModemSimulator } from './pty-modem-simulator.js';

const { values } = parseArgs({
  options: {
    link: { type: 'string', default: '/tmp/companion-modem' },
    dialect: { type: 'string', default: 'quectel' },
    /** A named personality (overrides --dialect): quectel, simcom, generic, at-error, ... */
    personality: { type: 'string' },
    script: { type: 'string' },
    'silent-for-ms': { type: 'string', default: '5000' },
  },
});

const personality = z
  .enum(PERSONALITY_NAMES as [PersonalityName, ...PersonalityName[]])
  .parse(values.personality ?? values.dialect);

function loadRules(): z.input<ReturnType<typeof simRuleSchema>>[] {
  if (!values.script) return [];
  return z.array(simRuleSchema()).parse(JSON.parse(readFileSync(values.script, 'utf8')));
}

const sim = new PtyModemSimulator({
  link: values.link!,
  personality,
  rules: loadRules(),
  silentForMs: Number(values['silent-for-ms']),
});

await sim.start();
process.stdout.write(`modem-sim ready: ${personality} on ${sim.path}\n`);

process.on('SIGHUP', () => {
  try {
    for (const rule of loadRules()) {
      const { number, ...behavior } = rule;
      sim.setRule(number, behavior as Parameters<typeof sim.setRule>[1]);
    }
    process.stdout.write('modem-sim: script reloaded\n');
  } catch (err) {
    process.stderr.write(`modem-sim: bad script: ${(err as Error).message}\n`);
  }
});
process.on('SIGUSR1', () => void sim.dropPort(3_000));
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    void sim.stop().then(() => process.exit(0));
  });
}
