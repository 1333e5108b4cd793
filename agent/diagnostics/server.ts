/**
 * The diagnostics HTTP server: node:http on loopback, node:https (the unit's certificate) when it
 * binds beyond it. In order: the Host header (DNS rebinding), the route, the request rate limit,
 * the token (and the failed-sign-in limit), the token's scope, then the handler with its body limit
 * and deadline. Errors of any kind become JSON answers in one place (errors.ts). start() binds and
 * resolves with the address; stop() closes every connection.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log.js';
import { requireScope, type Authenticator, type Principal } from './auth.js';
import type { DiagnosticsConfig } from './config.js';
import { DiagnosticsError, toHttpFailure } from './errors.js';
import type { HostGuard } from './host-check.js';
import { bearerToken, readJsonBody, send, sendJson } from './http.js';
import { RateLimiter } from './rate-limit.js';
import { matchRoute, type Reply, type Route } from './routes.js';

export interface HttpServerDeps {
  config: DiagnosticsConfig;
  auth: Authenticator;
  hosts: HostGuard;
  /** Certificate and key (PEM) to serve HTTPS with; null: plain HTTP (loopback only). */
  tls: { cert: string; key: string } | null;
  routes: Route[];
  logger: Logger;
  /** Called after every successful sign-in (the service audits each token's first use). */
  onPrincipal?: (p: Principal, client: string) => void;
}

export class DiagnosticsHttpServer {
  private server: Server | null = null;
  private readonly limiter: RateLimiter;
  private readonly log: Logger;

  constructor(private readonly d: HttpServerDeps) {
    this.limiter = new RateLimiter(d.config.rateLimit, () => performance.now());
    this.log = d.logger.child({ component: 'diagnostics-http' });
  }

  async start(): Promise<AddressInfo> {
    const { config } = this.d;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    let server: Server;
    if (this.d.tls) {
      // Loaded only when the endpoint serves TLS (beyond loopback).
      const https = await import('node:https');
      server = https.createServer(
        { cert: this.d.tls.cert, key: this.d.tls.key, minVersion: 'TLSv1.2' },
        handler,
      );
    } else {
      server = createServer(handler);
    }
    // Node answers 408 itself when a request is not fully received in time (slowloris).
    server.requestTimeout = config.requestTimeoutMs;
    server.headersTimeout = Math.min(config.requestTimeoutMs, 10_000);
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 50;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = performance.now();
    // The query string is never logged: the page may carry its token there once.
    const url = requestUrl(req.url);
    const method = req.method ?? 'GET';
    try {
      if (!this.d.hosts.allows(req.headers.host)) {
        throw new DiagnosticsError(
          'misdirected',
          `this unit does not answer to the name ${JSON.stringify(req.headers.host ?? '')}; ` +
            'use its unit id, hostname or address',
        );
      }
      const match = matchRoute(this.d.routes, method, url.pathname);
      if (!match) throw new DiagnosticsError('not_found', `no route ${url.pathname}`);
      if ('allowed' in match) {
        res.setHeader('allow', match.allowed.join(', '));
        throw new DiagnosticsError('method_not_allowed', `use ${match.allowed.join(' or ')}`);
      }
      const { route, params } = match;
      const client = req.socket.remoteAddress ?? 'unknown';
      if (route.path !== '/livez') {
        const rl = this.limiter.take(client);
        if (!rl.ok) {
          res.setHeader('retry-after', String(rl.retryAfterSec));
          throw new DiagnosticsError('rate_limited', 'too many requests; slow down', {
            retryAfterSec: rl.retryAfterSec,
          });
        }
      }
      let principal: Principal | null = null;
      if (route.scope !== null) {
        let a;
        try {
          a = await this.d.auth.authenticate(bearerToken(req), client);
        } catch (err) {
          if (err instanceof DiagnosticsError && err.code === 'rate_limited') {
            res.setHeader('retry-after', String(err.details?.retryAfterSec ?? 1));
          }
          throw err;
        }
        if (!a.ok) {
          res.setHeader(
            'www-authenticate',
            `Bearer realm="companion-diagnostics", error="invalid_token"`,
          );
          throw new DiagnosticsError('unauthorized', a.message, { reason: a.reason });
        }
        principal = a.principal;
        if (route.scope !== 'session') requireScope(principal, route.scope);
        this.d.onPrincipal?.(principal, client);
      }
      const reply = await this.withDeadline(
        Promise.resolve(
          route.handle({
            params,
            query: url.searchParams,
            body: () => readJsonBody(req, this.d.config.bodyLimitBytes),
            principal,
            client,
          }),
        ),
      );
      this.reply(res, reply);
      if (method === 'POST') {
        this.log.info(
          { method, path: url.pathname, status: res.statusCode, by: who(principal) },
          'diagnostics action served',
        );
      }
    } catch (err) {
      const f = toHttpFailure(err);
      if (f.unexpected) {
        this.log.error(
          { err: f.unexpected, method, path: url.pathname },
          'diagnostics handler failed',
        );
      } else if (method === 'POST' || f.status === 401 || f.status === 403 || f.status === 421) {
        this.log.warn(
          {
            method,
            path: url.pathname,
            status: f.status,
            error: f.body.error,
            reason: f.body.details?.reason,
            client: req.socket.remoteAddress,
          },
          f.body.message,
        );
      }
      // After a refused oversized body, do not read the rest of it: close the connection.
      const extra: Record<string, string> = f.status === 413 ? { connection: 'close' } : {};
      sendJson(res, f.status, f.body, extra);
    } finally {
      this.log.debug(
        {
          method,
          path: url.pathname,
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'http',
      );
    }
  }

  private reply(res: ServerResponse, r: Reply): void {
    if ('json' in r) sendJson(res, r.status ?? 200, r.json);
    else send(res, r.status ?? 200, r.text, r.contentType, r.headers);
  }

  /** An action that does not answer in time gets a 503; its work is not cancelled. */
  private withDeadline<T>(p: Promise<T>): Promise<T> {
    const ms = this.d.config.requestTimeoutMs;
    let t: NodeJS.Timeout;
    const late = new Promise<never>((_, reject) => {
      t = setTimeout(
        () => reject(new DiagnosticsError('timeout', `no answer within ${ms} ms`)),
        ms,
      );
    });
    return Promise.race([p, late]).finally(() => clearTimeout(t));
  }
}

function who(p: Principal | null): string | undefined {
  if (!p) return undefined;
  return p.kind === 'local' ? 'local-token' : p.name;
}

/**
 * The request target as a URL, never throwing: `GET //` is not a valid relative URL, and a throw here
 * (outside the handler's try) left the request unanswered. An unparsable target matches no route.
 */
function requestUrl(raw: string | undefined): URL {
  try {
    return new URL(raw ?? '/', 'http://unit.local');
  } catch {
    return new URL('http://unit.local/invalid-request-target');
  }
}
