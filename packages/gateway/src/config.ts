// The gateway's section of config.json (`components.gateway`): listener, TLS,
// limits, the pipeline's settings and the route table. Checked once at boot
// (and on every reload) with TypeBox; nothing else reads the environment.
import { Type, type Static } from '@sinclair/typebox'

const Cidr = Type.String({ minLength: 2, maxLength: 64 })
export const RateSchema = Type.Object({
  /** Sustained requests per second. */
  rate: Type.Number({ exclusiveMinimum: 0 }),
  /** Requests allowed at once (bucket size). */
  burst: Type.Integer({ minimum: 1 }),
}, { additionalProperties: false })
const rate = (r: number, burst: number) => Type.Object(RateSchema.properties, { additionalProperties: false, default: { rate: r, burst } })

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const

export const GatewayConfigSchema = Type.Object({
  /** Set by the platform frame (`components.gateway`); the listener itself comes from the bootstrap. */
  port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  enabled: Type.Optional(Type.Boolean()),
  /** The public URL (the OIDC issuer); normally from the bootstrap. */
  publicUrl: Type.Optional(Type.String({ pattern: '^https://' })),
  tls: Type.Object({
    /** A user-provided edge certificate instead of the gateway's SVID (PEM files). */
    certFile: Type.Optional(Type.String()),
    keyFile: Type.Optional(Type.String()),
    /** Ask clients for a certificate (for RFC 8705 certificate-bound tokens); never required. */
    requestClientCert: Type.Boolean({ default: true }),
  }, { additionalProperties: false, default: {} }),
  /** Optional plain-HTTP listener that only redirects to HTTPS. */
  httpRedirectPort: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
  limits: Type.Object({
    maxHeaderBytes: Type.Integer({ minimum: 1024, default: 16384 }),
    maxHeaderCount: Type.Integer({ minimum: 8, default: 64 }),
    maxUrlLength: Type.Integer({ minimum: 64, default: 4096 }),
    maxBodyBytes: Type.Integer({ minimum: 0, default: 1048576 }),
    maxTokenBytes: Type.Integer({ minimum: 256, default: 8192 }),
    /** Slow clients: time to receive all headers, and the whole request. */
    headersTimeoutMs: Type.Integer({ minimum: 100, default: 10000 }),
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 30000 }),
    keepAliveTimeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
    maxJsonDepth: Type.Integer({ minimum: 1, default: 32 }),
  }, { additionalProperties: false, default: {} }),
  ipFilter: Type.Object({
    allow: Type.Array(Cidr, { default: [] }),
    deny: Type.Array(Cidr, { default: [] }),
    /** Proxies whose X-Forwarded-For is believed. */
    trustedProxies: Type.Array(Cidr, { default: [] }),
  }, { additionalProperties: false, default: {} }),
  rateLimit: Type.Object({
    enabled: Type.Boolean({ default: true }),
    /** Per client IP, for requests without a recently verified token. */
    anonymous: rate(100, 200),
    /** Per OAuth client_id. */
    client: rate(1000, 2000),
    /** Per user (token subject). The default matches the per-client limit DESIGN.md sets, so it binds only when lowered. */
    user: rate(1000, 2000),
    /**
     * Shared state for several gateway replicas: `redis://host:port/db` (or `rediss://`). Absent: each gateway
     * keeps its own in-memory state. Put credentials in the environment (BULWARK_GATEWAY_*), not in a file.
     */
    redisUrl: Type.Optional(Type.String({ pattern: '^rediss?://', maxLength: 2048 })),
  }, { additionalProperties: false, default: {} }),
  authn: Type.Object({
    /** Accepted `aud` values; default the public URL and the gateway's own SPIFFE ID (what identity issues). */
    audiences: Type.Array(Type.String({ minLength: 1 }), { default: [] }),
    algorithms: Type.Array(Type.Union(ASYMMETRIC_ALGORITHMS.map((a) => Type.Literal(a))), { minItems: 1, default: ['RS256', 'ES256', 'EdDSA'] }),
    clockSkewSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 5 }),
    /** Minimum time between two JWKS fetches caused by an unknown `kid`. */
    jwksRefetchIntervalMs: Type.Integer({ minimum: 0, default: 10000 }),
    /** JWKS refreshed in the background this often. */
    jwksMaxAgeMs: Type.Integer({ minimum: 1000, default: 300000 }),
    verifiedCacheSize: Type.Integer({ minimum: 0, default: 10000 }),
  }, { additionalProperties: false, default: {} }),
  exchange: Type.Object({
    clientId: Type.String({ default: 'svc-gateway' }),
    cacheSize: Type.Integer({ minimum: 0, default: 10000 }),
    timeoutMs: Type.Integer({ minimum: 100, default: 5000 }),
  }, { additionalProperties: false, default: {} }),
  upstream: Type.Object({
    headersTimeoutMs: Type.Integer({ minimum: 100, default: 15000 }),
    bodyTimeoutMs: Type.Integer({ minimum: 100, default: 30000 }),
    retries: Type.Integer({ minimum: 0, maximum: 5, default: 1 }),
    breakerFailures: Type.Integer({ minimum: 1, default: 5 }),
    breakerCooldownMs: Type.Integer({ minimum: 100, default: 10000 }),
  }, { additionalProperties: false, default: {} }),
  feeds: Type.Object({
    /** Long-poll wait asked of identity's revocations and audit's blocks, seconds. */
    waitSeconds: Type.Integer({ minimum: 1, maximum: 60, default: 25 }),
    revocations: Type.Boolean({ default: true }),
    blocks: Type.Boolean({ default: true }),
  }, { additionalProperties: false, default: {} }),
  health: Type.Object({
    pollIntervalMs: Type.Integer({ minimum: 100, default: 2000 }),
  }, { additionalProperties: false, default: {} }),
  metrics: Type.Object({
    /** Serve `/metrics` at the edge, only to these client CIDRs. */
    expose: Type.Boolean({ default: true }),
    allow: Type.Array(Cidr, { default: ['127.0.0.1/32', '::1/128'] }),
  }, { additionalProperties: false, default: {} }),
  hsts: Type.String({ default: 'max-age=31536000; includeSubDomains' }),
  /** The route table; absent means the demo table (see README). */
  // Checked entry by entry when compiled (routes.ts): full entries (RouteSchema) and routes to
  // the user's services (`{prefix, service, auth}`, service-routes.ts), every problem named by its index.
  routes: Type.Optional(Type.Array(Type.Unknown())),
  /** A JSON file holding the route table (an array), watched and reloaded. */
  routesFile: Type.Optional(Type.String()),
}, { additionalProperties: false })

export type GatewayConfig = Static<typeof GatewayConfigSchema>
