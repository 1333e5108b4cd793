/**
 * The `mqtt` section of the agent's config. The lead composes this schema into the one config schema
 * (the unit id comes from the top level). Defaults are chosen for a unit on a cellular link.
 */
import { z } from 'zod';
import { loadPublicKey, publicKeyToBase64 } from './contract/signing.js';
import { TEST_PUBLIC_KEY_BASE64 } from './contract/test-key.js';
import { DEFAULT_MAX_PAYLOAD_BYTES } from './contract/limits.js';

const reconnectSchema = () =>
  z
    .object({
      /** First retry delay; doubled per failure up to maxMs, with full jitter. */
      minMs: z.number().int().min(10).max(600_000).default(1000),
      maxMs: z.number().int().min(10).max(3_600_000).default(60_000),
    })
    .strict()
    .refine((r) => r.maxMs >= r.minMs, {
      message: 'maxMs must be at least minMs',
      path: ['maxMs'],
    });

const tlsSchema = () =>
  z
    .object({
      /** PEM CA bundle that signed the broker's certificate. */
      caFile: z.string().min(1).optional(),
      /** This unit's client certificate and key (per-unit identity; CN = unit id). */
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** Only for development against a self-signed broker without a CA. */
      rejectUnauthorized: z.boolean().default(true),
    })
    .strict()
    .refine((t) => Boolean(t.certFile) === Boolean(t.keyFile), {
      message: 'certFile and keyFile go together',
      path: ['keyFile'],
    });

const signatureSchema = () =>
  z
    .object({
      /** Reject cloud commands without a valid Ed25519 signature. Switch off only for development. */
      required: z.boolean().default(true),
      /** Pinned cloud public keys (PEM or base64 of the 32 raw bytes); any one may sign. */
      publicKeys: z.array(z.string().min(1)).default([]),
      /** Tests only: accept the published test key of docs/protocol.md among the pinned keys. */
      allowTestKey: z.boolean().default(false),
    })
    .strict()
    .superRefine((s, ctx) => {
      s.publicKeys.forEach((k, i) => {
        try {
          const key = loadPublicKey(k);
          // The key of docs/protocol.md's test vectors is public: anyone could sign with it.
          if (!s.allowTestKey && publicKeyToBase64(key) === TEST_PUBLIC_KEY_BASE64)
            ctx.addIssue({
              code: 'custom',
              path: ['publicKeys', i],
              message:
                'this is the published test key of docs/protocol.md (anyone can sign with it); pin your cloud key',
            });
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            path: ['publicKeys', i],
            message: (err as Error).message,
          });
        }
      });
    });

/** The transports the agent carries (scripts/bundle.mjs leaves mqtt.js's WebSocket ones out). */
export const BROKER_PROTOCOLS = ['mqtt', 'mqtts'] as const;

/** Why a broker URL cannot be used, or null (the config schema's check and brokerTarget's). */
export function brokerUrlProblem(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'is not a URL';
  }
  const protocol = u.protocol.slice(0, -1);
  if (!(BROKER_PROTOCOLS as readonly string[]).includes(protocol)) {
    const ws = protocol === 'ws' || protocol === 'wss';
    return `must be mqtt:// or mqtts://, not ${protocol}://${ws ? ' (MQTT over WebSocket is not built into the agent)' : ''}`;
  }
  if (!u.hostname) return 'has no host';
  return null;
}

export const mqttConfigSchema = () =>
  z
    .object({
      enabled: z.boolean().default(false),
      /** mqtt:// or mqtts:// */
      url: z
        .string()
        .superRefine((url, ctx) => {
          const problem = brokerUrlProblem(url);
          if (problem) ctx.addIssue({ code: 'custom', message: problem });
        })
        .default('mqtt://localhost:1883'),
      username: z.string().min(1).optional(),
      password: z.string().min(1).optional(),
      tls: tlsSchema().optional(),
      keepaliveSec: z.number().int().min(5).max(3600).default(30),
      /** How long the broker keeps this unit's session (subscriptions, queued commands) while offline. */
      sessionExpirySec: z
        .number()
        .int()
        .min(60)
        .max(4_294_967_295)
        .default(7 * 24 * 3600),
      /** The "lost" will is published only if the unit stays away this long (no flapping). */
      willDelaySec: z.number().int().min(0).max(86_400).default(60),
      connectTimeoutMs: z.number().int().min(500).max(120_000).default(10_000),
      reconnect: reconnectSchema().default({ minMs: 1000, maxMs: 60_000 }),
      /** Larger inbound payloads are rejected (and kept for audit) before parsing. */
      maxPayloadBytes: z
        .number()
        .int()
        .min(1024)
        .max(256 * 1024 * 1024)
        .default(DEFAULT_MAX_PAYLOAD_BYTES),
      signature: signatureSchema().default({ required: true, publicKeys: [], allowTestKey: false }),
      /** Unsent outbox rows kept; above this the oldest telemetry is evicted (critical never). */
      outboxMaxRows: z.number().int().min(100).default(50_000),
      /** Outbox events published but not yet PUBACKed at any time. */
      drainWindow: z.number().int().min(1).max(1000).default(64),
      heartbeatSec: z.number().int().min(5).max(86_400).default(60),
      /**
       * Replay protection: a cloud message whose sentAt is older than maxAgeSec (longer than the
       * broker session, so a message queued while the unit was offline still counts) or more than
       * maxFutureSec ahead is refused `stale_message`; test calls and replays must be fresher still.
       */
      freshness: z
        .object({
          maxAgeSec: z
            .number()
            .int()
            .min(60)
            .default(8 * 24 * 3600),
          maxFutureSec: z.number().int().min(1).max(86_400).default(300),
          controlMaxAgeSec: z.number().int().min(10).max(86_400).default(600),
        })
        .strict()
        .prefault({}),
      /** A critical event the cloud has not receipted this long after it was sent is sent again. */
      resendAfterSec: z.number().int().min(5).max(86_400).default(120),
      /** Snapshot requests repeat with backoff between these bounds until a snapshot heals the need. */
      snapshotRequest: z
        .object({
          minSec: z.number().int().min(1).default(10),
          maxSec: z.number().int().min(1).default(600),
          /** A snapshot whose chunks stop arriving for this long is dropped and asked for again. */
          chunkTimeoutSec: z.number().int().min(1).default(60),
        })
        .strict()
        .prefault({}),
    })
    .strict()
    .superRefine((c, ctx) => {
      if (c.enabled && c.signature.required && c.signature.publicKeys.length === 0) {
        ctx.addIssue({
          code: 'custom',
          path: ['signature', 'publicKeys'],
          message:
            'signature.required is on but no public key is pinned; add the cloud key ' +
            '(companion-cloud keygen prints it) or set signature.required=false for development',
        });
      }
      if (c.freshness.maxAgeSec <= c.sessionExpirySec) {
        ctx.addIssue({
          code: 'custom',
          path: ['freshness', 'maxAgeSec'],
          message:
            'must be longer than sessionExpirySec: a command the broker queued for an offline unit must still be fresh when it arrives',
        });
      }
      if (c.willDelaySec > c.sessionExpirySec) {
        ctx.addIssue({
          code: 'custom',
          path: ['willDelaySec'],
          message: 'must not exceed sessionExpirySec (the broker sends the will at the earlier)',
        });
      }
    });

export type MqttConfig = z.infer<ReturnType<typeof mqttConfigSchema>>;
export type MqttConfigInput = z.input<ReturnType<typeof mqttConfigSchema>>;
