// The audit service's section of config.json. Thresholds are per detector;
// windows in seconds. Responses can be switched off one by one.
import { Type, type Static } from '@sinclair/typebox'

const Seconds = (def: number) => Type.Integer({ minimum: 1, maximum: 30 * 86400, default: def })
const Count = (def: number) => Type.Integer({ minimum: 1, maximum: 1_000_000, default: def })

export const DetectorsSchema = Type.Object({
  bruteForce: Type.Object({ threshold: Count(10), windowSeconds: Seconds(900), lockSeconds: Seconds(900) }, { additionalProperties: false, default: {} }),
  passwordSpraying: Type.Object({ accounts: Count(10), windowSeconds: Seconds(600), blockSeconds: Seconds(900) }, { additionalProperties: false, default: {} }),
  mfaFailures: Type.Object({ threshold: Count(5), windowSeconds: Seconds(600), lockSeconds: Seconds(900) }, { additionalProperties: false, default: {} }),
  errorBurst: Type.Object({ threshold: Count(50), windowSeconds: Seconds(60), blockSeconds: Seconds(300) }, { additionalProperties: false, default: {} }),
  serviceDenied: Type.Object({ threshold: Count(1), windowSeconds: Seconds(300) }, { additionalProperties: false, default: {} }),
  secretReads: Type.Object({ threshold: Count(100), distinctPaths: Count(20), windowSeconds: Seconds(300) }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false, default: {} })

export const AuditConfigSchema = Type.Object({
  /** Set by the platform config; not used by the service itself. */
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  /** Most events one POST /v1/events may carry; more is a 413. */
  maxBatch: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
  bodyLimitBytes: Type.Integer({ minimum: 1024, maximum: 64 * 1024 * 1024, default: 8 * 1024 * 1024 }),
  /** A signed tree head is made at least this often (and on demand). */
  treeHeadIntervalSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 60 }),
  /**
   * PostgreSQL replicas: how often a follower tries the writer lock (and the
   * writer checks its connection). A takeover after the writer dies takes
   * about this long plus the new writer's catch-up with the log.
   */
  leaderRetryMs: Type.Integer({ minimum: 100, maximum: 5000, default: 1000 }),
  /** POSTed each alert as JSON (optional). */
  webhookUrl: Type.Optional(Type.String({ pattern: '^https?://', maxLength: 2048 })),
  responses: Type.Object({
    lockAccounts: Type.Boolean({ default: true }),
    blockIps: Type.Boolean({ default: true }),
    blockClients: Type.Boolean({ default: true }),
    blockSubjects: Type.Boolean({ default: true }),
  }, { additionalProperties: false, default: {} }),
  /** Never blocked automatically (alerts are still raised). Loopback by default: one machine's tests and demo share it. */
  blockExemptIps: Type.Array(Type.String({ maxLength: 64 }), { default: ['127.0.0.1', '::1', '::ffff:127.0.0.1'] }),
  detectors: DetectorsSchema,
  /**
   * Retention: entries received more than `maxAgeDays` ago, or beyond the
   * newest `maxEntries`, are archived to a signed segment file in
   * `<dataDir>/archive/` and then removed from the live log (which keeps a
   * signed checkpoint at the cut). Past the entry cap the log is cut down to
   * half of it, so segments are not one entry each. Checked every
   * `checkIntervalSeconds` and whenever a commit crosses the cap.
   */
  retention: Type.Object({
    enabled: Type.Boolean({ default: true }),
    maxAgeDays: Type.Integer({ minimum: 1, maximum: 36_500, default: 400 }),
    maxEntries: Type.Integer({ minimum: 2, maximum: 100_000_000, default: 1_000_000 }),
    checkIntervalSeconds: Type.Integer({ minimum: 1, maximum: 7 * 86400, default: 3600 }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false })

export type AuditConfig = Static<typeof AuditConfigSchema>
export type DetectorsConfig = Static<typeof DetectorsSchema>
export type RetentionConfig = AuditConfig['retention']
