// The `ca` section of config.json (plus the platform's trust domain and SVID
// lifetime, which main.ts folds in from the bootstrap).
import { Type, type Static } from '@sinclair/typebox'

/**
 * Kubernetes workload attestation (SPIRE's `k8s_psat` model): a pod proves who
 * it is with its projected service-account token, verified against the
 * cluster's service-account issuer. Absent: only join tokens are accepted.
 */
export const KubernetesAttestationSchema = Type.Object({
  /** The cluster's service-account issuer (`--service-account-issuer`), exactly as tokens carry it in `iss`. */
  issuer: Type.String({ pattern: '^https://', maxLength: 2048 }),
  /** Audiences a token must carry one of; the pods project their token for `bulwark-ca`. */
  audiences: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { minItems: 1, maxItems: 8, default: ['bulwark-ca'] }),
  /** The only namespace whose pods may attest. */
  namespace: Type.String({ pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$', maxLength: 63 }),
  /** Service account name → component name: the SPIFFE ID it gets (`svc/<component>`). Anything unlisted is refused. */
  serviceAccounts: Type.Record(Type.String({ pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', maxLength: 253 }), Type.String({ pattern: '^[a-z][a-z0-9-]{0,62}$' })),
  /** JWKS location when discovery's `jwks_uri` is not reachable from the CA (e.g. `https://kubernetes.default.svc/openid/v1/jwks`). */
  jwksUri: Type.Optional(Type.String({ pattern: '^https://', maxLength: 2048 })),
  /** PEM bundle that verifies the issuer's TLS certificate (the cluster CA, `kube-root-ca.crt`). Default: the system store. */
  caFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /** A token file sent as a bearer token to discovery and JWKS (the API server asks callers to authenticate). */
  bearerTokenFile: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  /** Allowed clock skew against the issuer, seconds. */
  clockToleranceSeconds: Type.Integer({ minimum: 0, maximum: 300, default: 30 }),
}, { additionalProperties: false })

export type KubernetesAttestationConfig = Static<typeof KubernetesAttestationSchema>

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
  /** Ways a workload without a certificate may prove its identity besides a join token. */
  attestation: Type.Optional(Type.Object({
    kubernetes: Type.Optional(KubernetesAttestationSchema),
  }, { additionalProperties: false })),
}, { additionalProperties: false })

export type CaConfig = Static<typeof CaConfigSchema>
