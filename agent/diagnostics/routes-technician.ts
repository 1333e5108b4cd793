/**
 * Routes of technician access (issue 15): who am I, the history chart, the audit trail, hardware
 * checks and a test call's audio report. Same rules as routes.ts: parse input, call one action.
 */
import { z } from 'zod';
import type { TechnicianAudit } from '../technician/audit.js';
import { runView, type RunView } from '../status.js';
import type { Agent } from '../app.js';
import type { Principal } from './auth.js';
import type { CallAudioWatch } from './call-audio-watch.js';
import type { CheckKind, HardwareChecks } from './checks.js';
import { DiagnosticsError } from './errors.js';
import type { HistoryRecorder } from './history.js';
import { actorFor, intParam, parse, type Route } from './routes.js';

export interface TechnicianRouteDeps {
  agent: Agent;
  /** Loaded on first use. */
  checks: () => Promise<HardwareChecks>;
  history: HistoryRecorder | null;
  audit: TechnicianAudit;
  callAudio: CallAudioWatch;
  /** Facts about this unit a signed-in technician's page shows. */
  unit: () => Record<string, unknown>;
}

const requestedBy = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_" or "-" (at most 40)')
  .optional();

const bodies: Record<
  CheckKind,
  z.ZodType<{ requestedBy?: string | undefined } & Record<string, unknown>>
> = {
  'speaker-test': z
    .object({
      frequencyHz: z.number().int().min(100).max(8000).default(1000),
      durationMs: z.number().int().min(200).max(10_000).default(2000),
      requestedBy,
    })
    .strict(),
  'mic-test': z
    .object({ durationMs: z.number().int().min(1000).max(10_000).default(3000), requestedBy })
    .strict(),
  'modem-details': z.object({ requestedBy }).strict(),
  'modem-reset': z
    .object({
      reason: z
        .string()
        .regex(/^[^\p{Cc}]{1,200}$/u, 'plain text, at most 200 characters')
        .optional(),
      requestedBy,
    })
    .strict(),
};

/** Which token scope each check needs. Reading modem details is reading. */
const CHECK_SCOPE = {
  'speaker-test': 'speaker-test',
  'mic-test': 'mic-test',
  'modem-details': 'read',
  'modem-reset': 'modem-reset',
} as const;

export function sessionView(p: Principal): Record<string, unknown> {
  if (p.kind === 'local') {
    return { kind: 'local-token', name: null, tokenId: null, scopes: p.scopes, expiresAt: null };
  }
  return {
    kind: 'technician-token',
    name: p.name,
    tokenId: p.tokenId,
    keyId: p.keyId,
    scopes: p.scopes,
    unknownScopes: p.unknownScopes,
    units: p.units,
    sites: p.sites,
    issuedAt: new Date(p.issuedAt).toISOString(),
    expiresAt: new Date(p.expiresAt).toISOString(),
  };
}

export function buildTechnicianRoutes(d: TechnicianRouteDeps): Route[] {
  const checkRoutes: Route[] = (Object.keys(bodies) as CheckKind[]).map((kind) => ({
    method: 'POST',
    path: `/v1/checks/${kind}`,
    scope: CHECK_SCOPE[kind],
    handle: async (input) => {
      const { requestedBy: by, ...rest } = parse(bodies[kind], await input.body());
      const checks = await d.checks();
      return { status: 202, json: { check: checks.start(kind, actorFor(input, by), rest) } };
    },
  }));
  return [
    {
      method: 'GET',
      path: '/v1/session',
      scope: 'session',
      handle: ({ principal }) => ({ json: { session: sessionView(principal!), unit: d.unit() } }),
    },
    {
      method: 'GET',
      path: '/v1/history',
      scope: 'read',
      handle: ({ query }) => {
        if (!d.history) {
          throw new DiagnosticsError(
            'conflict',
            'the history is switched off on this unit (diagnostics.history.enabled)',
          );
        }
        return { json: d.history.read(intParam(query, 'hours', 24, 1, 168)) };
      },
    },
    {
      method: 'GET',
      path: '/v1/audit',
      scope: 'read',
      handle: ({ query }) => ({
        json: { entries: d.audit.recent(intParam(query, 'limit', 50, 1, 500)) },
      }),
    },
    {
      method: 'GET',
      path: '/v1/checks',
      scope: 'read',
      handle: async () => {
        const checks = await d.checks();
        return { json: { capabilities: checks.capabilities(), recent: checks.list() } };
      },
    },
    {
      method: 'GET',
      path: '/v1/checks/:id',
      scope: 'read',
      handle: async ({ params }) => ({ json: { check: (await d.checks()).get(params.id!) } }),
    },
    ...checkRoutes,
    {
      method: 'GET',
      path: '/v1/test-call/:runId',
      scope: 'read',
      handle: ({ params }) => {
        const store = d.agent.store;
        const run = store.runs.get(params.runId!);
        if (!run || run.kind !== 'test') {
          throw new DiagnosticsError('not_found', `no test call with run id ${params.runId}`);
        }
        const view: RunView = runView(store, run, true);
        return { json: { run: view, audio: d.callAudio.of(run.id) } };
      },
    },
  ];
}
