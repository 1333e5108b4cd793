/**
 * The diagnostics endpoint as one component the wiring starts after the agent and stops before it:
 * resolves the token, starts the system-readings cache and the HTTP server, and feeds the metrics.
 */
import type { Agent } from '../app.js';
import type { Clock } from '../clock.js';
import type { Logger, LogRing } from '../log.js';
import type { DialGuard } from '../lifecycle/lifecycle.js';
import { VERSION } from '../version.js';
import { DiagnosticsActions, type DiagnosticsLink } from './actions.js';
import type { DiagnosticsConfig } from './config.js';
import type { DiagnosticsMetrics } from './metrics.js';
import { loadPage } from './page.js';
import { buildRoutes } from './routes.js';
import { DiagnosticsHttpServer } from './server.js';
import { SystemInfoCache } from './system-info.js';
import { resolveToken } from './token.js';

export interface DiagnosticsServiceDeps {
  config: DiagnosticsConfig;
  dataDir: string;
  agent: Agent;
  clock: Clock;
  logger: Logger;
  dialGuard: DialGuard;
  metrics: DiagnosticsMetrics;
  logRing?: LogRing | null;
  link?: DiagnosticsLink | null;
  version?: string;
}

export class DiagnosticsService {
  private http: DiagnosticsHttpServer | null = null;
  private system: SystemInfoCache | null = null;
  private baseUrl: string | null = null;
  private readonly log: Logger;

  constructor(private readonly d: DiagnosticsServiceDeps) {
    this.log = d.logger.child({ component: 'diagnostics' });
  }

  async start(): Promise<void> {
    const { config, logger } = this.d;
    if (!config.enabled || this.http) return;
    const token = resolveToken(config, this.d.dataDir);
    if (token.warning) this.log.warn(token.warning);
    const system = new SystemInfoCache({
      clock: this.d.clock,
      logger,
      refreshMs: config.system.refreshSec * 1000,
      callTimeoutMs: config.system.callTimeoutMs,
      paths: [this.d.dataDir, '/'],
    });
    const actions = new DiagnosticsActions({
      agent: this.d.agent,
      clock: this.d.clock,
      logger,
      dialGuard: this.d.dialGuard,
      system,
      logRing: this.d.logRing ?? null,
      link: this.d.link ?? null,
      version: this.d.version ?? VERSION,
    });
    const page = loadPage();
    const http = new DiagnosticsHttpServer({
      config,
      token: token.token,
      logger,
      routes: buildRoutes({ actions, metrics: this.d.metrics, page: () => page }),
    });
    const addr = await http.start();
    this.d.metrics.attach(() => actions.metricReadings());
    system.start();
    this.http = http;
    this.system = system;
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.baseUrl = `http://${host}:${addr.port}`;
    this.log.info(
      { url: this.baseUrl, tokenSource: token.source, tokenFile: token.path },
      token.source === 'generated'
        ? `diagnostics listening; a new token was written to ${token.path}`
        : 'diagnostics listening',
    );
  }

  async stop(): Promise<void> {
    this.system?.stop();
    this.d.metrics.detach();
    await this.http?.stop();
    this.http = null;
    this.system = null;
  }

  /** http://host:port once started (tests use it with port 0). */
  get url(): string {
    if (!this.baseUrl) throw new Error('diagnostics not started');
    return this.baseUrl;
  }
}
