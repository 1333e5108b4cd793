/**
 * The `diagnostics` section of the agent's config: the technician's local HTTP endpoint. Composed
 * into the one config schema (agent/config/config.ts). Defaults suit a unit on its service network:
 * loopback only until an operator opens it up, a token generated on first start.
 */
import { z } from 'zod';

export const diagnosticsConfigSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Address to bind. 127.0.0.1 keeps it on the unit; the service network needs e.g. 0.0.0.0. */
    host: z.string().min(1).default('127.0.0.1'),
    /** TCP port; 0 picks a free one (tests). */
    port: z.number().int().min(0).max(65_535).default(8080),
    /** The bearer token itself (prefer tokenFile: config files get copied around). */
    token: z.string().min(16, 'must be at least 16 characters').optional(),
    /**
     * A file holding the token, readable only by the service. When neither token nor tokenFile is
     * set, <dataDir>/diagnostics.token is used; a missing file is created with a random token (0600).
     */
    tokenFile: z.string().min(1).optional(),
    /** Largest request body accepted (413 beyond). */
    bodyLimitBytes: z.number().int().min(256).max(1_048_576).default(16_384),
    /** A request (receiving it and answering it) must finish within this time. */
    requestTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
    /** Token bucket per client address (429 when empty). /livez is exempt. */
    rateLimit: z
      .object({
        perSecond: z.number().positive().max(10_000).default(10),
        burst: z.number().int().min(1).max(10_000).default(60),
      })
      .strict()
      .prefault({}),
    /** systeminformation readings, refreshed off the request path. */
    system: z
      .object({
        refreshSec: z.number().int().min(5).max(3_600).default(30),
        callTimeoutMs: z.number().int().min(100).max(60_000).default(3_000),
      })
      .strict()
      .prefault({}),
    /** Recent log lines kept in memory for GET /v1/logs. */
    logBufferLines: z.number().int().min(10).max(10_000).default(500),
  })
  .strict()
  .refine((d) => !(d.token && d.tokenFile), {
    message: 'set token or tokenFile, not both',
    path: ['tokenFile'],
  });

export type DiagnosticsConfig = z.infer<typeof diagnosticsConfigSchema>;
export type DiagnosticsConfigInput = z.input<typeof diagnosticsConfigSchema>;
