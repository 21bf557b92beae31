// Identity's own config section: token lifetimes, lockout thresholds, argon2
// cost, and which workloads may exchange tokens for which audiences.
import { Type, type Static } from '@sinclair/typebox'

export const IdentityConfigSchema = Type.Object({
  /** Access-token lifetime (RFC 9068 JWTs), seconds. */
  accessTokenTtlSeconds: Type.Integer({ minimum: 30, maximum: 3600, default: 300 }),
  idTokenTtlSeconds: Type.Integer({ minimum: 60, maximum: 3600, default: 600 }),
  refreshTokenTtlSeconds: Type.Integer({ minimum: 300, maximum: 30 * 86400, default: 8 * 3600 }),
  sessionTtlSeconds: Type.Integer({ minimum: 300, maximum: 30 * 86400, default: 8 * 3600 }),
  /** Longest a token exchange result may live, seconds (never past the subject token). */
  exchangeTtlSeconds: Type.Integer({ minimum: 10, maximum: 300, default: 300 }),
  /** JWS algorithm for access and ID tokens: ES256 chosen by measurement (see bench/identity). */
  signingAlg: Type.Union([Type.Literal('ES256'), Type.Literal('RS256')], { default: 'ES256' }),
  /** API scopes clients may be registered with (besides openid, offline_access, profile, email). */
  apiScopes: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9:_.-]{0,63}$' }), {
    maxItems: 256,
    default: ['catalog:read', 'catalog:write', 'orders:read', 'orders:write', 'orders:read:all', 'payments:read', 'payments:write', 'users:read', 'users:write', 'admin'],
  }),
  /** Caller service -> services whose SPIFFE ID it may request as a token-exchange audience. */
  exchange: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), Type.Array(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' })), {
    default: { gateway: ['users', 'catalog', 'orders', 'payments', 'identity'], orders: ['payments'], users: ['identity'] },
  }),
  /**
   * The user's services that a gateway route targets (`bulwark up` sets it from `components.gateway.routes`):
   * the gateway may exchange tokens for them too, on top of `exchange.gateway`.
   */
  routedServices: Type.Array(Type.String({ pattern: '^[a-z][a-z0-9-]{0,31}$' }), { maxItems: 256, default: [] }),
  lockout: Type.Object({
    /** Failures inside the window that trigger the temporary lockout. */
    maxFailures: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
    windowSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 900 }),
    lockSeconds: Type.Integer({ minimum: 10, maximum: 86400, default: 900 }),
    /** Failures allowed before the progressive delay starts. */
    freeFailures: Type.Integer({ minimum: 0, maximum: 100, default: 3 }),
    maxDelaySeconds: Type.Integer({ minimum: 0, maximum: 3600, default: 30 }),
  }, { default: {}, additionalProperties: false }),
  argon2: Type.Object({
    memoryKiB: Type.Integer({ minimum: 1024, maximum: 1 << 22, default: 19456 }),
    iterations: Type.Integer({ minimum: 1, maximum: 20, default: 2 }),
    parallelism: Type.Integer({ minimum: 1, maximum: 16, default: 1 }),
  }, { default: {}, additionalProperties: false }),
  /** Signing keys: how long a retired key stays published after it stops signing, seconds. */
  retiredKeyGraceSeconds: Type.Integer({ minimum: 60, maximum: 86400, default: 900 }),
  /** Signing keys rotate on their own this often (the staged `next` key takes over); 0: only `bulwark incident rotate-keys`. */
  signingKeyRotationDays: Type.Integer({ minimum: 0, maximum: 3650, default: 30 }),
}, { additionalProperties: false })

export type IdentityConfig = Static<typeof IdentityConfigSchema>
