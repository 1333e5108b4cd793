/**
 * The `diagnostics` section of the agent's config: the technician's local HTTP endpoint. Composed
 * into the one config schema (agent/config/config.ts). Defaults suit a unit on its service network:
 * loopback only until an operator opens it up, a token generated on first start.
 */
import { z } from 'zod';
import { loadPublicKey } from '../../sync/contract/signing.js';

const nameList = z.array(z.string().regex(/^[A-Za-z0-9._-]{1,253}$/)).max(32);

/** Technician tokens issued by the cloud and verified here, offline (docs/diagnostics.md). */
const technicianSchema = () =>
  z
    .object({
      /**
       * Public keys of the technician authority (base64 of the 32 raw Ed25519 bytes, or PEM: the
       * same format as mqtt.signature.publicKeys). None: only the local token opens the endpoint.
       */
      authorityKeys: z
        .array(
          z.string().refine(
            (k) => {
              try {
                loadPublicKey(k);
                return true;
              } catch {
                return false;
              }
            },
            { message: 'not an Ed25519 public key (base64 of 32 bytes, or PEM)' },
          ),
        )
        .max(8)
        .default([]),
      /** Sites/groups this unit belongs to: a token for one of them is good here too. */
      sites: z
        .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/))
        .max(16)
        .default([]),
      /** Tokens valid for longer than this (exp - iat) are refused. */
      maxTtlHours: z
        .number()
        .positive()
        .max(24 * 30)
        .default(24),
      /** Clock difference tolerated between the issuer and this unit. */
      clockSkewSec: z.number().int().min(0).max(3_600).default(120),
      /**
       * Where the unit's own token (<dataDir>/diagnostics.token) is accepted: from the unit itself
       * only (the CLI, development), from anywhere, or nowhere.
       */
      localToken: z.enum(['loopback', 'any', 'off']).default('loopback'),
      /** Failed sign-ins per client address: a burst, then one more per `failureRefillSec`. */
      failureBurst: z.number().int().min(1).max(1_000).default(10),
      failureRefillSec: z.number().positive().max(3_600).default(6),
    })
    .strict();

/** TLS for the endpoint: always when it binds beyond loopback (plain HTTP stays on 127.0.0.1). */
const tlsSchema = () =>
  z
    .object({
      /** `auto`: TLS exactly when `host` is not a loopback address; `always`: TLS on loopback too. */
      mode: z.enum(['auto', 'always']).default('auto'),
      /** A provisioned certificate + key (PEM). Unset: one is generated at first start. */
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    })
    .strict()
    .refine((t) => !t.certFile === !t.keyFile, {
      message: 'set both certFile and keyFile, or neither',
      path: ['keyFile'],
    });

/** The one-sample-a-minute history behind the page's chart. */
const historySchema = () =>
  z
    .object({
      enabled: z.boolean().default(true),
      /** Samples are kept in memory and written in one transaction this often (flash wear). */
      flushMinutes: z.number().int().min(1).max(240).default(60),
      keepHours: z.number().int().min(1).max(168).default(24),
    })
    .strict();

export const diagnosticsConfigSchema = () =>
  z
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
      /**
       * Extra names this unit answers to (Host header check, certificate names), besides its unit id,
       * <unitId>.local, its hostname, localhost and its own addresses.
       */
      names: nameList.default([]),
      technician: technicianSchema().prefault({}),
      tls: tlsSchema().prefault({}),
      history: historySchema().prefault({}),
    })
    .strict()
    .refine((d) => !(d.token && d.tokenFile), {
      message: 'set token or tokenFile, not both',
      path: ['tokenFile'],
    });

export type DiagnosticsConfig = z.infer<ReturnType<typeof diagnosticsConfigSchema>>;
export type DiagnosticsConfigInput = z.input<ReturnType<typeof diagnosticsConfigSchema>>;

/** The endpoint serves TLS unless it is bound to loopback only (plain HTTP stays on the unit). */
export function servesTls(config: Pick<DiagnosticsConfig, 'host' | 'tls'>): boolean {
  if (config.tls.mode === 'always') return true;
  const h = config.host.toLowerCase();
  return !(h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h));
}
