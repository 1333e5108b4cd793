/**
 * The route table: each handler parses its input (path, query, JSON body) and calls one action.
 * No logic lives here beyond turning input into arguments and a result into a reply.
 */
import { z } from 'zod';
import type { TechnicianScope } from '../../sync/contract/technician-scopes.js';
import type { DiagnosticsActions } from './actions.js';
import { actorOf, type Principal } from './auth.js';
import type { Actor } from './checks.js';
import type { DiagnosticsMetrics } from './metrics.js';
import { DiagnosticsError } from './errors.js';

export interface RouteInput {
  params: Record<string, string>;
  query: URLSearchParams;
  /** The JSON body (read lazily, size-limited). */
  body(): Promise<Record<string, unknown>>;
  /** Who asks (null only on routes without a scope). */
  principal: Principal | null;
  /** The client's address. */
  client: string;
}

export type Reply =
  | { status?: number; json: unknown }
  | { status?: number; text: string; contentType: string; headers?: Record<string, string> };

export interface Route {
  method: 'GET' | 'POST';
  /** Literal segments and `:name` parameters. */
  path: string;
  /**
   * What the caller's token must allow: a scope, `session` (any valid token), or null — only
   * liveness and the page shell (which holds no data).
   */
  scope: TechnicianScope | 'session' | null;
  handle(input: RouteInput): Reply | Promise<Reply>;
}

export interface RouteDeps {
  actions: DiagnosticsActions;
  metrics: DiagnosticsMetrics;
  page: () => { html: string; csp: string };
}

/**
 * Who asked, for the audit trail: with the unit's local token, a name the caller types (or just
 * "technician"); with a technician token it comes from the token and may be left out.
 */
const requestedBy = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_" or "-" (at most 40)')
  .optional();

const testCallBody = z.object({ callee: z.string().min(1).max(32), requestedBy }).strict();
const actorBody = z.object({ requestedBy }).strict();

/** The audit identity of a request on a scoped route. */
export function actorFor(input: RouteInput, requested?: string): Actor {
  const a = actorOf(input.principal!, requested);
  return { ...a, client: input.client };
}

export function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  throw new DiagnosticsError('bad_request', 'invalid request body', {
    issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

export function intParam(q: URLSearchParams, name: string, def: number, min: number, max: number) {
  const raw = q.get(name);
  if (raw === null) return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new DiagnosticsError('bad_request', `${name} must be an integer from ${min} to ${max}`);
  }
  return n;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export function buildRoutes({ actions, metrics, page }: RouteDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/',
      scope: null,
      handle: () => {
        const p = page();
        return {
          text: p.html,
          contentType: 'text/html; charset=utf-8',
          headers: { 'content-security-policy': p.csp },
        };
      },
    },
    { method: 'GET', path: '/livez', scope: null, handle: () => ({ json: actions.liveness() }) },
    {
      method: 'GET',
      path: '/readyz',
      scope: 'read',
      handle: () => {
        const r = actions.readiness();
        return { status: r.ready ? 200 : 503, json: r };
      },
    },
    {
      method: 'GET',
      path: '/v1/status',
      scope: 'read',
      handle: () => ({ json: actions.status() }),
    },
    {
      method: 'GET',
      path: '/v1/system',
      scope: 'read',
      handle: () => ({ json: actions.system() }),
    },
    { method: 'GET', path: '/v1/modem', scope: 'read', handle: () => ({ json: actions.modem() }) },
    { method: 'GET', path: '/v1/audio', scope: 'read', handle: () => ({ json: actions.audio() }) },
    {
      method: 'GET',
      path: '/v1/calls',
      scope: 'read',
      handle: ({ query }) => ({
        json: actions.calls(
          intParam(query, 'hours', 24, 1, 168),
          intParam(query, 'limit', 20, 1, 500),
        ),
      }),
    },
    {
      method: 'GET',
      path: '/v1/dead-letter',
      scope: 'read',
      handle: ({ query }) => ({
        json: { runs: actions.deadLetters(intParam(query, 'limit', 100, 1, 1000)) },
      }),
    },
    {
      method: 'POST',
      path: '/v1/test-call',
      scope: 'test-call',
      handle: async (input) => {
        const b = parse(testCallBody, await input.body());
        const actor = actorFor(input, b.requestedBy);
        return { status: 202, json: { run: actions.testCall({ callee: b.callee }, actor) } };
      },
    },
    {
      method: 'POST',
      path: '/v1/dead-letter/:id/replay',
      scope: 'replay',
      handle: async (input) => {
        const b = parse(actorBody, await input.body());
        const actor = actorFor(input, b.requestedBy);
        return { status: 202, json: { run: actions.replay(input.params.id!, actor) } };
      },
    },
    {
      method: 'POST',
      path: '/v1/resync',
      scope: 'resync',
      handle: async (input) => {
        const b = parse(actorBody, await input.body());
        return { status: 202, json: await actions.resync(actorFor(input, b.requestedBy)) };
      },
    },
    {
      method: 'GET',
      path: '/v1/logs',
      scope: 'read',
      handle: ({ query }) => {
        const level = query.get('level') ?? 'trace';
        if (!LEVELS.includes(level)) {
          throw new DiagnosticsError('bad_request', `level must be one of ${LEVELS.join(', ')}`);
        }
        return { json: actions.logs(intParam(query, 'limit', 200, 1, 10_000), level) };
      },
    },
    {
      method: 'GET',
      path: '/metrics',
      scope: 'read',
      handle: async () => {
        const m = metrics.text();
        return { text: m.body, contentType: m.contentType };
      },
    },
  ];
}

/** Match a path against the table: the route and its parameters, or which methods exist. */
export function matchRoute(
  routes: Route[],
  method: string,
  pathname: string,
): { route: Route; params: Record<string, string> } | { allowed: string[] } | null {
  const segs = pathname.split('/').filter(Boolean);
  const allowed: string[] = [];
  for (const route of routes) {
    const pat = route.path.split('/').filter(Boolean);
    if (pat.length !== segs.length) continue;
    const params: Record<string, string> = {};
    const ok = pat.every((p, i) => {
      if (p.startsWith(':')) {
        try {
          params[p.slice(1)] = decodeURIComponent(segs[i]!);
        } catch {
          return false;
        }
        return true;
      }
      return p === segs[i];
    });
    if (!ok) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
      return { route, params };
    }
    allowed.push(route.method);
  }
  return allowed.length > 0 ? { allowed } : null;
}
