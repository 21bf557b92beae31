// The `ca` section of config.json (plus the platform's trust domain and SVID
// lifetime, which main.ts folds in from the bootstrap).
import { Type, type Static } from '@sinclair/typebox'

export const CaConfigSchema = Type.Object({
  /** Set by the supervisor from the platform frame; unused here. */
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  trustDomain: Type.String({ pattern: '^[a-z0-9._-]{1,255}$', default: 'bulwark.local' }),
  /** Lifetime of issued SVIDs. Short values (seconds) are for rotation tests. */
  svidTtlSeconds: Type.Integer({ minimum: 2, maximum: 86400, default: 3600 }),
  /** Default and maximum lifetime of join tokens. */
  joinTokenTtlSeconds: Type.Integer({ minimum: 5, maximum: 3600, default: 600 }),
  maxJoinTokenTtlSeconds: Type.Integer({ minimum: 5, maximum: 86400, default: 3600 }),
  /** DNS names and IPs `svc/gateway` may carry (nobody else may carry any). */
  servingNames: Type.Array(Type.String({ minLength: 1, maxLength: 253 }), { default: ['localhost', '127.0.0.1', '::1'], maxItems: 64 }),
  /** Refused join attempts allowed per client address per minute before 429s. */
  joinFailuresPerMinute: Type.Integer({ minimum: 1, maximum: 100000, default: 60 }),
  /** Upper bound of a bundle long-poll, seconds. */
  bundleMaxWaitSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
}, { additionalProperties: false })

export type CaConfig = Static<typeof CaConfigSchema>
